package web_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// confirmOf is the confirmation of the form posting to action, as a person reads it.
func confirmOf(t *testing.T, body, action string) string {
	t.Helper()
	m := regexp.MustCompile(`action="` + regexp.QuoteMeta(action) + `"[^>]*data-confirm="([^"]*)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "a confirmation on the form posting to %s", action)
	return html.UnescapeString(m[1])
}

// TestPagesSayWhatHappens reads the pages' own words: confirmations that name what they act
// on and what follows, the course filter's consequence, a partner's "New user", the Partner
// column only where it tells something, and message ids with a copy button.
func TestPagesSayWhatHappens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	admin, _ := signedIn(t, b, models.RoleAdmin)
	partner := mustCreatePartner(t, b.db)
	h := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{Name: ptr("Acme HR sync")})
	var msgs []string
	for range 2 {
		m, err := b.db.CreateTestMessage(ctx, models.NewID("msg_"), h.ID, "course.completed", []byte(`{}`), "", time.Now())
		require.NoError(t, err)
		msgs = append(msgs, m.ID)
	}

	t.Run("Confirmations", func(t *testing.T) {
		_, body := admin.get("/webhooks/" + h.ID)
		require.Equal(t, "Delete webhook 'Acme HR sync' and its 2 logged messages? The changes waiting for it are dropped. This cannot be undone.",
			confirmOf(t, body, "/webhooks/"+h.ID+"/delete"))
		require.Equal(t, "Rotate the signing secret of 'Acme HR sync'? A new secret is made; the old one keeps signing alongside it for 24 hours, so the receiver has a day to switch.",
			confirmOf(t, body, "/webhooks/"+h.ID+"/secret/rotate"))
		_, body = admin.get("/messages/" + msgs[0])
		require.Equal(t, "Resend "+msgs[0]+" to 'Acme HR sync' now? The same body goes out with the same webhook-id, as one more attempt.",
			confirmOf(t, body, "/messages/"+msgs[0]+"/resend"))

		// A partner with webhooks cannot be deleted: the button says what must go first.
		_, body = admin.get("/admin/partners/" + partner.ID)
		require.NotContains(t, body, `action="/admin/partners/`+partner.ID+`/delete"`)
		require.Contains(t, body, `disabled title="Delete its 1 webhook and 0 users first."`)
		empty := mustCreatePartner(t, b.db)
		_, body = admin.get("/admin/partners/" + empty.ID)
		require.Equal(t, "Delete partner '"+empty.Name+"'? It has no webhooks or users left; its name and contacts are removed. This cannot be undone.",
			confirmOf(t, body, "/admin/partners/"+empty.ID+"/delete"))
	})

	t.Run("CoursesDropEventsWithoutOne", func(t *testing.T) {
		_, body := admin.get("/webhooks/new")
		require.Contains(t, body, `data-testid="courses-hint">With chosen courses, only events whose <code>course_id</code> is one of them are sent; events without a <code>course_id</code> (about a group or a badge, say) are not sent to this webhook.`)
	})

	t.Run("NewUserFromPartnerPage", func(t *testing.T) {
		_, body := admin.get("/admin/partners/" + partner.ID)
		require.Contains(t, body, `href="/admin/users/new?partner_id=`+partner.ID+`" data-testid="new-partner-user"`)
		resp, body := admin.get("/admin/users/new?partner_id=" + partner.ID)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `<option value="partner" selected>`)
		require.Contains(t, body, `<option value="`+partner.ID+`" selected>`)
		_, body = admin.get("/admin/users/new?partner_id=pt_nope")
		require.Contains(t, body, `<option value="staff" selected>`, "an unknown partner preselects nothing")
	})

	t.Run("PartnerColumnOnlyForStaff", func(t *testing.T) {
		_, body := admin.get("/webhooks")
		require.Contains(t, body, "<th>Partner</th>")
		pu, pw := mustCreateUser(t, b.db, models.RolePartner, partner.ID)
		own := newBrowser(t, b)
		own.signIn(pu.Email, pw)
		resp, body := own.get("/webhooks")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "Acme HR sync")
		require.NotContains(t, body, "<th>Partner</th>")
		require.NotContains(t, body, `data-label="Partner"`)
	})

	t.Run("MessageIDsCopy", func(t *testing.T) {
		_, body := admin.get("/deliveries?webhook_id=" + h.ID)
		for _, id := range msgs {
			require.Regexp(t, `<td data-label="Message" class="nowrap"><a class="mono" href="/messages/`+id+`"[^>]*>[^<]+</a> ?<button type="button" class="btn-copy" data-copy-text="`+id+`"`, body)
		}
		_, body = admin.get("/messages/" + msgs[0])
		require.Contains(t, body, `data-copy-text="`+msgs[0]+`"`)
	})
}
