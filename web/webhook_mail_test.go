package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/web"
	"github.com/stretchr/testify/require"
)

// mailServer serves b's database as an installation with a mail server set up would.
func mailServer(t *testing.T, b *bundle) *bundle {
	t.Helper()
	s := web.New(web.Config{Development: true, BaseURL: "http://example.test", SecretKey: testKey, Version: "test", MailOn: true,
		Targets: jobs.TargetPolicy{AllowPrivate: true}, Sender: jobs.NewSender(testSealer, "test", 2*time.Second, true)},
		b.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(validatingAPI(t, s.Handler()))
	t.Cleanup(srv.Close)
	return &bundle{db: b.db, srv: srv}
}

// disabledWithMail disables h as hookrelay does after a 410 and records the mails to the
// partner's contacts as sent, as the mail loop would have (jobs' tests send them for real).
func disabledWithMail(t *testing.T, db *models.DB, h *models.Webhook, sent bool) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, db.SetWebhookState(ctx, models.System, h.ID, models.StateChange{State: models.WebhookDisabled, Reason: models.GoneReason}))
	state, lastErr := "queued", "dial tcp 10.1.2.3:587: connection refused"
	if sent {
		state, lastErr = "sent", ""
	}
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO mails (kind, partner_id, webhook_id, webhook_name, reason, since, recipient, state, attempts, last_error, sent_at)
		SELECT 'webhook.disabled', w.partner_id, w.id, w.name, w.state_reason, w.state_changed_at, c.email, $2, 1, $3,
		       CASE WHEN $2 = 'sent' THEN now() END
		FROM webhooks w JOIN partners p ON p.id = w.partner_id CROSS JOIN LATERAL unnest(p.contact_emails) AS c(email)
		WHERE w.id = $1`, h.ID, state, lastErr)
	require.NoError(t, err)
}

func mailPartner(t *testing.T, db *models.DB, emails ...string) *models.Partner {
	t.Helper()
	p, err := db.CreatePartner(context.Background(), models.System, models.PartnerInput{Name: ptr(uniq("Acme Learning")), ContactEmails: &emails})
	require.NoError(t, err)
	return p
}

// TestWebhookPageMail: the webhook page says who is mailed about it, whether they were told of
// its disabling, and, on an installation without a mail server, that contacts are not notified;
// to staff and to the partner's own users alike.
func TestWebhookPageMail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := mailPartner(t, b.db, "ops@acme.example", "dev@acme.example")
	h := mustCreateWebhook(t, b.db, p.ID, models.WebhookInput{})
	staffOff, _ := signedIn(t, b, models.RoleStaff)
	partnerUser, pw := mustCreateUser(t, b.db, models.RolePartner, p.ID)
	partnerOff := newBrowser(t, b)
	partnerOff.signIn(partnerUser.Email, pw)

	t.Run("MailOff", func(t *testing.T) {
		for _, br := range []*browser{staffOff, partnerOff} {
			_, body := br.get("/webhooks/" + h.ID)
			require.Contains(t, body, "Contacts are not notified by email: this installation has no mail server set up.")
		}
	})

	on := mailServer(t, b)
	staff, _ := signedIn(t, on, models.RoleStaff)
	partner := newBrowser(t, on)
	partner.signIn(partnerUser.Email, pw)

	t.Run("MailOnActive", func(t *testing.T) {
		_, body := partner.get("/webhooks/" + h.ID)
		require.NotContains(t, body, "not notified")
		require.Contains(t, body, `one email each to <span class="mono">ops@acme.example, dev@acme.example</span>`)
		require.NotContains(t, body, `data-testid="mail-status"`, "nothing to say about mail while it is active")
	})

	t.Run("DisabledMailWaiting", func(t *testing.T) {
		disabledWithMail(t, b.db, h, false)
		_, body := staff.get("/webhooks/" + h.ID)
		require.Contains(t, body, "Emailing the contacts (ops@acme.example, dev@acme.example): 0 sent, 2 waiting for the mail server.")
		require.Contains(t, body, "retrying: dial tcp 10.1.2.3:587", "staff see why")
		_, body = partner.get("/webhooks/" + h.ID)
		require.Contains(t, body, "0 sent, 2 waiting for the mail server.")
		require.NotContains(t, body, "10.1.2.3", "a partner is not shown the mail server's error")
	})

	t.Run("DisabledMailSent", func(t *testing.T) {
		require.NoError(t, b.db.SetWebhookState(context.Background(), models.System, h.ID, models.StateChange{State: models.WebhookActive}))
		disabledWithMail(t, b.db, h, true)
		_, body := partner.get("/webhooks/" + h.ID)
		require.Contains(t, body, "Contacts emailed: ops@acme.example, dev@acme.example.", "only the mails of the latest disabling count")
	})

	t.Run("NoContacts", func(t *testing.T) {
		bare := mustCreateWebhook(t, b.db, mustCreatePartner(t, b.db).ID, models.WebhookInput{})
		_, body := staff.get("/webhooks/" + bare.ID)
		require.Contains(t, body, "Nobody is mailed when this webhook is disabled: its partner has no contact emails.")
	})
}

// TestBrowserPartnerMail: a partner's developer opens their disabled webhook and reads why and
// that their contacts were emailed; an admin keeps the contacts in the partner form.
func TestBrowserPartnerMail(t *testing.T) {
	t.Parallel()
	b := mailServer(t, setup(t))
	p := mailPartner(t, b.db, "ops@acme.example", "integrations@acme.example")
	h := mustCreateWebhook(t, b.db, p.ID, models.WebhookInput{Name: ptr("LMS sync")})
	disabledWithMail(t, b.db, h, true)
	partnerUser, pw := mustCreateUser(t, b.db, models.RolePartner, p.ID)

	br := chrome(t)
	signInAs(t, br, b.srv.URL, partnerUser.Email, pw, `[data-testid="main"]`)
	step(t, br, chromedp.Navigate(b.srv.URL+"/webhooks/"+h.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="mail-status"]`)))
	require.Contains(t, text(t, br, `[data-testid="state-card"]`), models.GoneReason)
	require.Regexp(t, `^Contacts emailed: ops@acme\.example, integrations@acme\.example\. Sent (just now|.+ ago)$`, text(t, br, `[data-testid="mail-status"]`))
	screenshot(t, br, "webhook-disabled-partner-mail")

	admin, apw := mustCreateUser(t, b.db, models.RoleAdmin, "")
	ab := chrome(t)
	signInAs(t, ab, b.srv.URL, admin.Email, apw, `[data-testid="main"]`)
	step(t, ab, chromedp.Navigate(b.srv.URL+"/admin/partners/"+p.ID+"/edit"), chromedp.WaitVisible(chromedp.CSS(`#f-contact_emails`)))
	require.Equal(t, "ops@acme.example\nintegrations@acme.example", value(t, ab, `#f-contact_emails`))
	screenshot(t, ab, "partner-form-contacts")
	step(t, ab, chromedp.SetValue(chromedp.CSS(`#f-contact_emails`), "ops@acme.example\nintegrations@acme.example\nSupport <support@acme.example>"),
		chromedp.Click(chromedp.CSS(`[data-testid="partner-submit"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-errors"]`)))
	require.Contains(t, text(t, ab, `[data-testid="field-contact_emails"]`), "Give the bare address (support@acme.example)")
	require.Contains(t, value(t, ab, `#f-contact_emails`), "Support <support@acme.example>", "input kept")
	screenshot(t, ab, "partner-form-contacts-error")
	step(t, ab, chromedp.Navigate(b.srv.URL+"/admin/partners/"+p.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="partner-contacts"]`)))
	require.Equal(t, "ops@acme.example\nintegrations@acme.example", strings.TrimSpace(text(t, ab, `[data-testid="partner-contacts"] ul`)))
	screenshot(t, ab, "partner-page-contacts")
}

func value(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, browserDeadline)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Value(chromedp.CSS(sel)))
	require.NoError(t, err)
	return s
}
