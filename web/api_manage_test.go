package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

func TestManagementAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	api := newAPI(t, b, models.ScopeAdmin)

	status, p := api.call("POST", "/api/v1/partners", map[string]any{"name": uniq("Acme"), "description": "LMS vendor"})
	require.Equal(t, http.StatusCreated, status, p)
	pid := p["id"].(string)

	t.Run("Partners", func(t *testing.T) {
		status, got := api.call("GET", "/api/v1/partners/"+pid, nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "LMS vendor", got["description"])
		status, got = api.call("PATCH", "/api/v1/partners/"+pid, `{"description": "changed"}`)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "changed", got["description"])
		require.Equal(t, p["name"], got["name"], "a PATCH leaves out what it does not name")
		status, got = api.call("POST", "/api/v1/partners", `{"name": 42}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(got), "name")
		for _, path := range []string{"/api/v1/partners/ptn_nope"} {
			status, _ := api.call("GET", path, nil)
			require.Equal(t, http.StatusNotFound, status)
			status, _ = api.call("PATCH", path, `{}`)
			require.Equal(t, http.StatusNotFound, status)
			status, _ = api.call("DELETE", path, nil)
			require.Equal(t, http.StatusNotFound, status)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		for i := range 3 {
			status, _ := api.call("POST", "/api/v1/partners", map[string]any{"name": uniq(fmt.Sprintf("Page%d", i))})
			require.Equal(t, http.StatusCreated, status)
		}
		seen := map[string]bool{}
		path := "/api/v1/partners?limit=2"
		for pages := 0; path != ""; pages++ {
			require.Less(t, pages, 100)
			status, got := api.call("GET", path, nil)
			require.Equal(t, http.StatusOK, status)
			data := got["data"].([]any)
			require.LessOrEqual(t, len(data), 2)
			for _, d := range data {
				id := d.(map[string]any)["id"].(string)
				require.False(t, seen[id], "no partner twice")
				seen[id] = true
			}
			path = ""
			if c, ok := got["next_cursor"].(string); ok {
				path = "/api/v1/partners?limit=2&cursor=" + c
			}
		}
		require.GreaterOrEqual(t, len(seen), 4)
		status, got := api.call("GET", "/api/v1/partners?limit=500", nil)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(got), "limit")
		status, got = api.call("GET", "/api/v1/partners?cursor=garbage!", nil)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(got), "cursor")
	})

	var hid string
	t.Run("WebhookCreate", func(t *testing.T) {
		status, h := api.call("POST", "/api/v1/webhooks", map[string]any{
			"partner_id": pid, "name": "LMS", "url": "http://localhost:9/hooks", "event_types": []string{"course.completed"},
			"courses": []string{"*"}, "format": "event", "append_event_type": true, "method": "PUT", "batch_window_seconds": 0,
			"basic_auth_user": "lms", "basic_auth_password": "secret pw",
		})
		require.Equal(t, http.StatusCreated, status, h)
		hid = h["id"].(string)
		require.Equal(t, []any{"course.completed"}, h["event_types"])
		require.Equal(t, []any{"*"}, h["courses"])
		require.NotContains(t, fmt.Sprint(h), "whsec_", "secrets are never in these answers")
		require.NotContains(t, fmt.Sprint(h), "secret pw")

		status, got := api.call("POST", "/api/v1/webhooks", map[string]any{
			"partner_id": "ptn_nope", "name": "", "url": "javascript:alert(1)", "event_types": "all", "batch_window_seconds": "ten", "method": "DELETE",
		})
		require.Equal(t, http.StatusUnprocessableEntity, status)
		f := fieldsOf(got)
		for _, k := range []string{"event_types", "batch_window_seconds"} {
			require.Contains(t, f, k, "type errors are named")
		}
		status, got = api.call("POST", "/api/v1/webhooks", map[string]any{
			"partner_id": "ptn_nope", "name": "", "url": "javascript:alert(1)", "event_types": []string{}, "method": "DELETE",
		})
		require.Equal(t, http.StatusUnprocessableEntity, status)
		f = fieldsOf(got)
		for _, k := range []string{"partner_id", "name", "url", "event_types", "method"} {
			require.Contains(t, f, k)
		}
	})

	t.Run("WebhookReadUpdate", func(t *testing.T) {
		status, list := api.call("GET", "/api/v1/webhooks?partner_id="+pid+"&state=active", nil)
		require.Equal(t, http.StatusOK, status)
		require.Len(t, list["data"], 1)
		status, got := api.call("PATCH", "/api/v1/webhooks/"+hid, `{"name": "LMS 2", "event_types": ["*"], "state": "paused"}`)
		require.Equal(t, http.StatusOK, status, got)
		require.Equal(t, "LMS 2", got["name"])
		require.Equal(t, []any{"*"}, got["event_types"])
		require.Equal(t, "paused", got["state"])
		require.Equal(t, "PUT", got["method"], "unchanged")
		require.Contains(t, got, "failing_since")
		require.Nil(t, got["failing_since"], "no delivery has failed")
		status, got = api.call("PATCH", "/api/v1/webhooks/"+hid, `{"state": "active", "backlog": "drop"}`)
		require.Equal(t, http.StatusOK, status, got)
		require.Equal(t, "active", got["state"])
		status, got = api.call("PATCH", "/api/v1/webhooks/"+hid, `{"state": "gone", "backlog": "later", "secret": "x", "partner_id": "y"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		for _, k := range []string{"state", "backlog", "secret", "partner_id"} {
			require.Contains(t, fieldsOf(got), k)
		}
		status, got = api.call("PATCH", "/api/v1/webhooks/"+hid, `{"name": "a\u0000b", "event_types": ["badge.awarded\u0000"]}`)
		require.Equal(t, http.StatusUnprocessableEntity, status, got)
		require.Contains(t, fieldsOf(got)["name"], "NUL")
		require.Contains(t, fieldsOf(got)["event_types"], "NUL")
		status, _ = api.call("GET", "/api/v1/webhooks?state=weird", nil)
		require.Equal(t, http.StatusUnprocessableEntity, status)
	})

	t.Run("Secrets", func(t *testing.T) {
		status, got := api.call("POST", "/api/v1/webhooks/"+hid+"/secret/reveal", nil)
		require.Equal(t, http.StatusOK, status)
		old := got["secret"].(string)
		require.True(t, strings.HasPrefix(old, "whsec_"))
		require.NotContains(t, got, "previous_secret")
		status, got = api.call("POST", "/api/v1/webhooks/"+hid+"/secret/rotate", nil)
		require.Equal(t, http.StatusOK, status)
		fresh := got["secret"].(string)
		status, got = api.call("POST", "/api/v1/webhooks/"+hid+"/secret/reveal", nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, fresh, got["secret"])
		require.Equal(t, old, got["previous_secret"])
	})

	t.Run("ErrUnknownWebhook", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/webhooks/wh_nope"}, {"PATCH", "/api/v1/webhooks/wh_nope"}, {"DELETE", "/api/v1/webhooks/wh_nope"},
			{"POST", "/api/v1/webhooks/wh_nope/secret/reveal"}, {"POST", "/api/v1/webhooks/wh_nope/secret/rotate"},
		} {
			var body any
			if c.method == "PATCH" {
				body = `{}`
			}
			status, _ := api.call(c.method, c.path, body)
			require.Equal(t, http.StatusNotFound, status, c.path)
		}
	})

	t.Run("PartnerDeleteConflictThenOK", func(t *testing.T) {
		status, got := api.call("DELETE", "/api/v1/partners/"+pid, nil)
		require.Equal(t, http.StatusConflict, status)
		require.Contains(t, got["detail"], "still has 1 webhooks")
		status, _ = api.call("DELETE", "/api/v1/webhooks/"+hid, nil)
		require.Equal(t, http.StatusNoContent, status)
		status, _ = api.call("DELETE", "/api/v1/partners/"+pid, nil)
		require.Equal(t, http.StatusNoContent, status)
	})

	t.Run("ErrIngestKeyCannotManage", func(t *testing.T) {
		ingest := newAPI(t, b, models.ScopeIngest)
		status, _ := ingest.call("GET", "/api/v1/webhooks", nil)
		require.Equal(t, http.StatusForbidden, status)
		status, _ = ingest.call("POST", "/api/v1/partners", `{"name": "x"}`)
		require.Equal(t, http.StatusForbidden, status)
	})

	entries, err := b.db.FindAuditEntries(context.Background(), models.AuditFilter{ObjectType: "webhook", ObjectID: hid})
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	require.True(t, strings.HasPrefix(entries[0].ActorEmail, "API key"))
}
