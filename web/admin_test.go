package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

func TestAdminPartners(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	admin, _ := signedIn(t, b, models.RoleAdmin)

	name := uniq("Acme <i>Learning</i>")
	resp, body := admin.post("/admin/partners", url.Values{"name": {name}, "description": {"LMS vendor"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	loc := resp.Header.Get("Location")
	id := strings.TrimPrefix(loc, "/admin/partners/")
	_, body = admin.get("/admin/partners")
	require.Contains(t, body, "Acme &lt;i&gt;Learning&lt;/i&gt;", "escaped")

	t.Run("ErrDuplicateAndEmpty", func(t *testing.T) {
		resp, body := admin.post("/admin/partners", url.Values{"name": {strings.ToUpper(name)}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "already exists")
		resp, body = admin.post("/admin/partners", url.Values{"name": {"  "}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "Enter the partner")
		resp, body = admin.post("/admin/partners", url.Values{"name": {strings.Repeat("x", 201)}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "at most 200")
	})

	t.Run("DeleteRefusedWithWebhooks", func(t *testing.T) {
		h := mustCreateWebhook(t, b.db, id, models.WebhookInput{})
		_, body := admin.get(loc)
		require.Contains(t, body, h.Name, "the partner's page lists its webhooks")
		resp, _ := admin.post(loc+"/delete", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = admin.get(loc)
		require.Contains(t, body, "still has 1 webhooks")
		require.NoError(t, b.db.DeleteWebhook(ctx, models.System, h.ID))
		resp, _ = admin.post(loc+"/delete", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = admin.get(loc)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func TestAdminCatalogue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin, _ := signedIn(t, b, models.RoleAdmin)
	name := "thing." + strings.ReplaceAll(uniq("made"), "-", "_")

	t.Run("EventTypes", func(t *testing.T) {
		resp, body := admin.post("/admin/event-types", url.Values{"name": {name}, "description": {"A thing was made."}, "sample": {`{"n": 1}`}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		resp, body = admin.post("/admin/event-types/"+name, url.Values{"description": {"Changed."}, "sample": {`[1, 2]`}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "Must be a JSON object")
		require.Contains(t, body, "[1, 2]", "input kept")
		resp, _ = admin.post("/admin/event-types/"+name+"/deprecate", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		et, err := b.db.FindEventTypeByName(context.Background(), name)
		require.NoError(t, err)
		require.True(t, et.Deprecated())
		resp, body = admin.post("/admin/event-types", url.Values{"name": {"bad name!"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "Use letters")
		resp, _ = admin.get("/admin/event-types/nope.nope")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})

	t.Run("Courses", func(t *testing.T) {
		id := uniq("c")
		resp, body := admin.post("/admin/courses", url.Values{"id": {id}, "title": {"Forklift basics"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		resp, body = admin.post("/admin/courses", url.Values{"id": {id}, "title": {"Again"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "already exists")
		_, body = admin.get("/admin/courses?q=forklift")
		require.Contains(t, body, id)
		_, body = admin.get("/admin/courses?q=" + url.QueryEscape("' OR '1'='1"))
		require.NotContains(t, body, id, "SQL in the search is just text")
		resp, _ = admin.post("/admin/courses/"+id, url.Values{"title": {"Forklift basics II"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = admin.post("/admin/courses/"+id+"/archive", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = admin.get("/admin/courses?q=forklift")
		require.NotContains(t, body, id, "archived courses are hidden by default")
		_, body = admin.get("/admin/courses?q=forklift&archived=1")
		require.Contains(t, body, "Forklift basics II")
	})

	t.Run("AuditPage", func(t *testing.T) {
		_, body := admin.get("/admin/audit?object_type=event_type&object_id=" + name)
		require.Contains(t, body, "Added event type "+name)
		require.Contains(t, body, "event_type.deprecated")
	})

	t.Run("StaffForbidden", func(t *testing.T) {
		staff, _ := signedIn(t, b, models.RoleStaff)
		for _, p := range []string{"/admin/partners", "/admin/event-types", "/admin/courses", "/admin/audit", "/admin/partners/new"} {
			resp, _ := staff.get(p)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, p)
		}
		resp, _ := staff.post("/admin/event-types/course.completed/deprecate", url.Values{})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
}
