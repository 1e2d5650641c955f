package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// TestSurfacesWordErrorsAlike takes each action the browser and the API share through both
// surfaces with the same bad input: the form shows, next to the field, the very message the
// 422 names the field with (both come from the action in models); conflicts read alike too.
func TestSurfacesWordErrorsAlike(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	admin, _ := signedIn(t, b, models.RoleAdmin)
	api := newAPI(t, b, models.ScopeAdmin)
	partner := mustCreatePartner(t, b.db)

	// formError returns the message the form shows next to field.
	formError := func(t *testing.T, body, field string) string {
		t.Helper()
		m := regexp.MustCompile(`data-testid="error-` + regexp.QuoteMeta(field) + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
		require.NotNil(t, m, "the form shows an error for %s", field)
		return html.UnescapeString(m[1])
	}
	// flash returns the notice shown on the page a post redirected to.
	flash := func(t *testing.T, resp *http.Response) string {
		t.Helper()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body := admin.get(resp.Header.Get("Location"))
		m := regexp.MustCompile(`data-testid="flash"[^>]*>\s*<span>([^<]*)</span>`).FindStringSubmatch(body)
		require.NotNil(t, m, "a notice is shown")
		return html.UnescapeString(m[1])
	}

	t.Run("WebhookCreate", func(t *testing.T) {
		f := webhookForm(partner.ID, "")
		f.Set("url", "ftp://files.example.com")
		f.Set("batch_window_seconds", "3601")
		f.Del("event_types")
		resp, body := admin.post("/webhooks", f)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		status, got := api.call("POST", "/api/v1/webhooks", map[string]any{"partner_id": partner.ID, "name": "", "url": "ftp://files.example.com",
			"batch_window_seconds": 3601, "event_types": []string{}})
		require.Equal(t, http.StatusUnprocessableEntity, status)
		for _, field := range []string{"name", "url", "batch_window_seconds", "event_types"} {
			require.Equal(t, fieldsOf(got)[field], formError(t, body, field), field)
		}
	})

	// A type no other test posts: the webhook stays out of the dashboard's failing list.
	h := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{EventTypes: []string{"institute.destroyed"}})
	t.Run("WebhookUpdate", func(t *testing.T) {
		f := webhookForm(partner.ID, h.Name)
		f.Set("max_changes", "0")
		f.Set("max_in_flight", "101")
		f.Set("format", "batch")
		f.Set("append_event_type", "on")
		resp, body := admin.post("/webhooks/"+h.ID, f)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		status, got := api.call("PATCH", "/api/v1/webhooks/"+h.ID, `{"max_changes": 0, "max_in_flight": 101, "format": "batch", "append_event_type": true}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		for _, field := range []string{"max_changes", "max_in_flight", "append_event_type"} {
			require.Equal(t, fieldsOf(got)[field], formError(t, body, field), field)
		}
	})

	t.Run("WebhookResumeBacklog", func(t *testing.T) {
		require.NoError(t, b.db.SetWebhookState(ctx, models.System, h.ID, models.StateChange{State: models.WebhookPaused}))
		resp, body := admin.post("/webhooks/"+h.ID+"/resume", url.Values{"backlog": {"later"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		status, got := api.call("PATCH", "/api/v1/webhooks/"+h.ID, `{"state": "active", "backlog": "later"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Equal(t, "Choose deliver or drop.", fieldsOf(got)["backlog"])
		require.Contains(t, body, fieldsOf(got)["backlog"])
	})

	t.Run("AuditAlike", func(t *testing.T) {
		viaForm := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{EventTypes: []string{"institute.destroyed"}})
		viaAPI := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{EventTypes: []string{"institute.destroyed"}})
		resp, _ := admin.post("/webhooks/"+viaForm.ID+"/pause", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		status, _ := api.call("PATCH", "/api/v1/webhooks/"+viaAPI.ID, `{"state": "paused"}`)
		require.Equal(t, http.StatusOK, status)
		for _, h := range []*models.Webhook{viaForm, viaAPI} {
			es, err := b.db.FindAuditEntries(ctx, models.AuditFilter{ObjectID: h.ID})
			require.NoError(t, err)
			require.Equal(t, "webhook.paused", es[0].Action, "pausing is audited alike from either surface")
			require.Equal(t, "Paused webhook "+h.Name, es[0].Summary)
		}
	})

	t.Run("WebhookNotFound", func(t *testing.T) {
		for _, p := range []string{"/pause", "/resume", "/delete", "/secret/reveal", "/secret/rotate", "/test"} {
			resp, _ := admin.post("/webhooks/wh_nope"+p, url.Values{})
			require.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		}
		for _, p := range []string{"/secret/reveal", "/secret/rotate", "/test", "/resend-failed"} {
			status, _ := api.call("POST", "/api/v1/webhooks/wh_nope"+p, `{}`)
			require.Equal(t, http.StatusNotFound, status, p)
		}
		resp, _ := admin.post("/webhooks/wh_nope", webhookForm(partner.ID, "x"))
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		status, _ := api.call("PATCH", "/api/v1/webhooks/wh_nope", `{"name": "x"}`)
		require.Equal(t, http.StatusNotFound, status)
		status, _ = api.call("DELETE", "/api/v1/webhooks/wh_nope", nil)
		require.Equal(t, http.StatusNotFound, status)
	})

	t.Run("TestNotification", func(t *testing.T) {
		resp, body := admin.post("/webhooks/"+h.ID+"/test", url.Values{"event_type": {"no.such"}, "data": {"[]"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		status, got := api.call("POST", "/api/v1/webhooks/"+h.ID+"/test", `{"event_type": "no.such", "data": []}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Equal(t, `"no.such" is not a catalogued event type.`, fieldsOf(got)["event_type"])
		require.Contains(t, html.UnescapeString(body), fieldsOf(got)["event_type"])
		require.Equal(t, `Enter a JSON object, such as {"title": "New Student Orientation"}.`, fieldsOf(got)["data"])
		require.Contains(t, html.UnescapeString(body), fieldsOf(got)["data"])
	})

	t.Run("ResendFailedRange", func(t *testing.T) {
		resp, body := admin.post("/webhooks/"+h.ID+"/resend-failed", url.Values{"from": {"2026-11-22T10:00"}, "to": {"2026-11-21T10:00"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		status, got := api.call("POST", "/api/v1/webhooks/"+h.ID+"/resend-failed", `{"from": "2026-11-22T10:00:00Z", "to": "2026-11-21T10:00:00Z"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Equal(t, "The start must come before the end.", fieldsOf(got)["from"])
		require.Contains(t, body, fieldsOf(got)["from"])
	})

	t.Run("ResendWhileDelivering", func(t *testing.T) {
		m, err := b.db.CreateTestMessage(ctx, models.NewID("msg_"), h.ID, "course.completed", []byte(`{}`), "", time.Now())
		require.NoError(t, err) // a test message is "delivering" until its attempt is recorded
		resp, _ := admin.post("/messages/"+m.ID+"/resend", url.Values{})
		status, got := api.call("POST", "/api/v1/messages/"+m.ID+"/resend", nil)
		require.Equal(t, http.StatusConflict, status)
		require.Equal(t, "This message is being delivered right now; try again in a moment.", got["detail"])
		require.Equal(t, got["detail"], flash(t, resp))
	})

	t.Run("PartnerForm", func(t *testing.T) {
		resp, body := admin.post("/admin/partners", url.Values{"name": {" "}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		status, got := api.call("POST", "/api/v1/partners", `{"name": " "}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Equal(t, "Enter the partner's name.", fieldsOf(got)["name"])
		require.Equal(t, fieldsOf(got)["name"], formError(t, body, "name"))

		resp, body = admin.post("/admin/partners/"+partner.ID, url.Values{"name": {partner.Name}, "description": {strings.Repeat("x", 2001)}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, body)
		status, got = api.call("PATCH", "/api/v1/partners/"+partner.ID, map[string]any{"description": strings.Repeat("x", 2001)})
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Equal(t, fieldsOf(got)["description"], formError(t, body, "description"))
	})

	t.Run("PartnerDeleteConflict", func(t *testing.T) {
		resp, _ := admin.post("/admin/partners/"+partner.ID+"/delete", url.Values{})
		status, got := api.call("DELETE", "/api/v1/partners/"+partner.ID, nil)
		require.Equal(t, http.StatusConflict, status)
		require.Equal(t, "Cannot delete '"+partner.Name+"': "+got["detail"].(string)+".", flash(t, resp))
	})

	t.Run("CourseTitle", func(t *testing.T) {
		id := uniq("course")
		_, _, err := b.db.UpsertCourse(ctx, models.System, id, "Fire safety")
		require.NoError(t, err)
		resp, body := admin.post("/admin/courses/"+id, url.Values{"title": {" "}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		ingest := newAPI(t, b, models.ScopeIngest)
		status, got := ingest.call("PUT", "/api/v1/courses/"+id, `{"title": " "}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Equal(t, "Enter the course's title.", fieldsOf(got)["title"])
		require.Equal(t, fieldsOf(got)["title"], formError(t, body, "title"))

		resp, _ = admin.post("/admin/courses/nope-"+id+"/archive", url.Values{})
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		status, _ = ingest.call("DELETE", "/api/v1/courses/nope-"+id, nil)
		require.Equal(t, http.StatusNotFound, status)
		resp, _ = admin.post("/admin/courses/"+id+"/archive", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		status, got = ingest.call("DELETE", "/api/v1/courses/"+id, nil)
		require.Equal(t, http.StatusOK, status, "archiving an archived course changes nothing")
		require.Equal(t, true, got["archived"])
		es, err := b.db.FindAuditEntries(ctx, models.AuditFilter{ObjectType: "course", ObjectID: id})
		require.NoError(t, err)
		require.Equal(t, "course.archived", es[0].Action)
		require.Len(t, es, 2, "created, archived once")
	})
}
