package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// Partners' contact emails: the API and the form go through the same action, which takes bare
// addresses only and names the entry it refuses.
func TestPartnerContacts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	api := newAPI(t, b, models.ScopeAdmin)

	t.Run("APIRoundTrip", func(t *testing.T) {
		status, p := api.call("POST", "/api/v1/partners", map[string]any{"name": uniq("Mailed"), "contact_emails": []string{" ops@example.com ", "dev@example.org"}})
		require.Equal(t, http.StatusCreated, status, p)
		require.Equal(t, []any{"ops@example.com", "dev@example.org"}, p["contact_emails"], "trimmed, in order")
		id := p["id"].(string)
		status, got := api.call("GET", "/api/v1/partners/"+id, nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, p["contact_emails"], got["contact_emails"])

		status, got = api.call("PATCH", "/api/v1/partners/"+id, `{"description": "no change to contacts"}`)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, []any{"ops@example.com", "dev@example.org"}, got["contact_emails"], "a PATCH without the field keeps the list")
		status, got = api.call("PATCH", "/api/v1/partners/"+id, `{"contact_emails": ["noc@example.net"]}`)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, []any{"noc@example.net"}, got["contact_emails"], "the list is replaced whole")
		status, got = api.call("PATCH", "/api/v1/partners/"+id, `{"contact_emails": null}`)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, []any{}, got["contact_emails"])

		es, err := b.db.FindAuditEntries(ctx, models.AuditFilter{ObjectType: "partner", ObjectID: id})
		require.NoError(t, err)
		require.Len(t, es, 4, "created, then two contact changes; the description change is one more")
		var details map[string]any
		require.NoError(t, json.Unmarshal(es[1].Details, &details))
		require.Equal(t, map[string]any{"contact_emails": map[string]any{"from": []any{"ops@example.com", "dev@example.org"}, "to": []any{"noc@example.net"}}}, details)

		status, got = api.call("POST", "/api/v1/partners", map[string]any{"name": uniq("NoContacts")})
		require.Equal(t, http.StatusCreated, status)
		require.Equal(t, []any{}, got["contact_emails"], "always a list")
	})

	t.Run("APIRefusesBadAddresses", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			emails any
			field  string
			detail string
		}{
			{"NotAnAddress", []string{"ops@example.com", "not-an-address"}, "contact_emails[1]", "not an email address"},
			{"DisplayName", []string{"Ops Team <ops@example.com>"}, "contact_emails[0]", "bare address (ops@example.com)"},
			{"Brackets", []string{"<ops@example.com>"}, "contact_emails[0]", "bare address"},
			{"Duplicate", []string{"ops@example.com", "a@example.com", "OPS@example.com"}, "contact_emails[2]", "already in the list"},
			{"HeaderInjection", []string{"ops@example.com\r\nBcc: all@example.com"}, "contact_emails[0]", "control characters"},
			{"Empty", []string{""}, "contact_emails[0]", "Enter an email address"},
			{"NoDomain", []string{"ops@localhost"}, "contact_emails[0]", "no mail domain"},
			{"NotAString", []any{"ops@example.com", 7}, "contact_emails[1]", "must be a string"},
			{"NotAList", "ops@example.com", "contact_emails", "list of strings"},
			{"TooMany", manyAddresses(models.MaxContactEmails + 1), "contact_emails", "at most 20"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, got := api.call("POST", "/api/v1/partners", map[string]any{"name": uniq("Bad"), "contact_emails": tc.emails})
				require.Equal(t, http.StatusUnprocessableEntity, status, got)
				require.Contains(t, fieldsOf(got)[tc.field], tc.detail, got)
			})
		}
		status, got := api.call("POST", "/api/v1/partners", map[string]any{"name": uniq("Max"), "contact_emails": manyAddresses(models.MaxContactEmails)})
		require.Equal(t, http.StatusCreated, status, got)
	})

	t.Run("Form", func(t *testing.T) {
		admin, _ := signedIn(t, b, models.RoleAdmin)
		name := uniq("Formed")
		typed := "ops@example.com\r\n\r\nOps <bad@example.com>\r\ndev@example.org"
		resp, body := admin.post("/admin/partners", url.Values{"name": {name}, "contact_emails": {typed}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "Give the bare address (bad@example.com)", "the message names the address")
		require.Contains(t, body, "Ops &lt;bad@example.com&gt;\r\ndev@example.org</textarea>", "input kept")
		require.Contains(t, body, `aria-invalid="true"`)

		resp, body = admin.post("/admin/partners", url.Values{"name": {name}, "contact_emails": {"ops@example.com\r\n\r\n dev@example.org, noc@example.net\r\n"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		loc := resp.Header.Get("Location")
		p, err := b.db.FindPartnerByID(ctx, strings.TrimPrefix(loc, "/admin/partners/"))
		require.NoError(t, err)
		require.Equal(t, models.StringArray{"ops@example.com", "dev@example.org", "noc@example.net"}, p.ContactEmails, "one per line or comma, blanks dropped")

		_, body = admin.get(loc)
		for _, e := range p.ContactEmails {
			require.Contains(t, body, `<li class="mono">`+e+`</li>`)
		}
		require.Contains(t, body, `data-testid="mail-off"`, "this server has no SMTP: the page says contacts are not notified")
		_, body = admin.get(loc + "/edit")
		require.Contains(t, body, "ops@example.com\ndev@example.org\nnoc@example.net</textarea>", "the edit form shows one per line")

		resp, _ = admin.post(loc, url.Values{"name": {name}, "contact_emails": {""}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		p, err = b.db.FindPartnerByID(ctx, p.ID)
		require.NoError(t, err)
		require.Empty(t, p.ContactEmails, "an empty box clears the list")
	})
}

func manyAddresses(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "c" + strings.Repeat("x", i) + "@example.com"
	}
	return out
}
