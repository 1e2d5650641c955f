package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// TestUserEditAndReadableAudit: an admin changes a user's name and role through the form
// (errors under their fields, input kept), staff may not, and the audit log shows the change
// as before → after with the ids it mentions linked.
func TestUserEditAndReadableAudit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin, _ := signedIn(t, b, models.RoleAdmin)
	staffUser, _ := signedIn(t, b, models.RoleStaff)
	p := mustCreatePartner(t, b.db)
	u, _ := mustCreateUser(t, b.db, models.RoleStaff, "")

	_, body := admin.get("/admin/users")
	require.Contains(t, body, `href="/admin/users/`+u.ID+`/edit" data-testid="edit-user"`)
	resp, body := admin.get("/admin/users/" + u.ID + "/edit")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `<option value="staff" selected>`)

	// A partner user without a partner: named under the field, the typed name kept.
	resp, body = admin.post("/admin/users/"+u.ID, url.Values{"name": {"Grace Hopper"}, "role": {"partner"}, "partner_id": {""}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, body, `data-testid="error-partner_id">Choose the partner this user belongs to.<`)
	require.Contains(t, body, `value="Grace Hopper"`)
	require.Contains(t, body, `<option value="partner" selected>`)

	resp, _ = admin.post("/admin/users/"+u.ID, url.Values{"name": {"Grace Hopper"}, "role": {"partner"}, "partner_id": {p.ID}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	got, err := b.db.FindUserByID(t.Context(), u.ID)
	require.NoError(t, err)
	require.Equal(t, "Grace Hopper", got.Name)
	require.Equal(t, models.RolePartner, got.Role)
	require.Equal(t, p.ID, *got.PartnerID)

	// Only admins.
	resp, _ = staffUser.post("/admin/users/"+u.ID, url.Values{"name": {"x"}, "role": {"admin"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = admin.get("/admin/users/usr_nope/edit")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// The audit log: readable before → after, the user and the partner linked.
	_, body = admin.get("/admin/audit?object_id=" + u.ID)
	require.Contains(t, body, `<a href="/admin/users/`+u.ID+`/edit" title="`+u.ID+`" data-testid="audit-object">`+u.ID[:8]+`…`+u.ID[len(u.ID)-6:]+`</a>`)
	row := body[strings.Index(body, `data-testid="audit-changes"`):]
	row = row[:strings.Index(row, "</ul>")]
	text := html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(strings.ReplaceAll(row, "</li>", "; "), ""))
	text = regexp.MustCompile(`\s+`).ReplaceAllString(text, " ")
	require.Empty(t, u.Name)
	require.Contains(t, text, "name: — → Grace Hopper;", "an empty value reads as a dash")
	require.Contains(t, text, "partner id: — → "+p.ID[:8]+"…"+p.ID[len(p.ID)-6:])
	require.Contains(t, text, "role: staff → partner")
	require.Contains(t, row, `<a class="mono" href="/admin/partners/`+p.ID+`" title="`+p.ID+`">`)
	require.NotContains(t, body, `{&#34;from&#34;`, "no raw JSON")
}
