package jobs_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// mailOn turns on queueing mail for the test (the package's tests share one *models.DB).
func mailOn(t *testing.T, db *models.DB) {
	db.MailContacts = true
	t.Cleanup(func() { db.MailContacts = false })
}

// mailPartner makes a partner whose contacts are n addresses unique to the test.
func mailPartner(t *testing.T, db *models.DB, n int) (*models.Partner, []string) {
	t.Helper()
	tag := strings.ToLower(models.NewID("")[20:])
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("contact%d-%s@partner.example", i, tag)
	}
	p, err := db.CreatePartner(context.Background(), models.System, models.PartnerInput{Name: models.Ptr("Acme " + tag), ContactEmails: &emails})
	require.NoError(t, err)
	return p, emails
}

// mailRows reads the outbox rows of a webhook: state and attempts, oldest first.
func mailRows(t *testing.T, db *models.DB, webhookID string) (states []string, attempts []int) {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT state, attempts FROM mails WHERE webhook_id = $1 ORDER BY id`, webhookID)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var s string
		var a int
		require.NoError(t, rows.Scan(&s, &a))
		states, attempts = append(states, s), append(attempts, a)
	}
	require.NoError(t, rows.Err())
	return states, attempts
}

// TestMailOnStateChanges: a webhook disabled by failed verification calls, one disabled by a
// 410 and one disabled by a person, then re-enabled, each mail each contact exactly once with
// which webhook, why, since when and a link to its page; nobody else gets mail, no secret is in
// it, and a webhook name with a line break adds no header.
func TestMailOnStateChanges(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	mailOn(t, db)
	smtpd := startSMTP(t, "127.0.0.1:0", nil)
	p, contacts := mailPartner(t, db, 2)
	other, _ := mailPartner(t, db, 1) // its webhook stays active: its contact gets nothing

	// One receiver: verification calls to /dead fail, deliveries to /gone are answered 410,
	// everything else succeeds.
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/dead/x-token-in-path":
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.URL.Path == "/gone" && !strings.Contains(string(body), "webhook.verification"):
			w.WriteHeader(http.StatusGone)
		}
	}))
	t.Cleanup(rc.Close)
	secretIn := models.WebhookInput{PartnerID: &p.ID, Secret: ptr("whsec_" + strings.Repeat("A", 32)),
		BasicAuthUser: ptr("u"), BasicAuthPassword: ptr("basic-auth-password")}
	dead := mustWebhook(t, db, rc.URL+"/dead/x-token-in-path?key=query-secret", secretIn)
	gone := mustWebhook(t, db, rc.URL+"/gone", models.WebhookInput{PartnerID: &p.ID, EventTypes: []string{"training.updated"}})
	evil := "Gone\r\nBcc: evil@attacker.example"
	_, err := db.UpdateWebhook(ctx, models.System, gone.ID, models.WebhookInput{Name: &evil}, nil)
	require.NoError(t, err)
	byPerson := mustWebhook(t, db, rc.URL+"/ok", models.WebhookInput{PartnerID: &p.ID, EventTypes: []string{"course.completed"}})
	mustWebhook(t, db, rc.URL+"/ok", models.WebhookInput{PartnerID: &other.ID, EventTypes: []string{"course.completed"}})

	cfg := mailConfig(t, smtpd.url())
	startRunner(t, db, jobs.Config{VerifyInterval: 300 * time.Millisecond, VerifyThreshold: 2, Mail: cfg})

	staff := models.Actor{ID: "usr_x", Email: "staff@hookrelay.test"}
	require.NoError(t, db.SetWebhookState(ctx, staff, byPerson.ID, models.StateChange{State: models.WebhookDisabled}))
	ingest(t, db, event("training.updated", "training", "t1", time.Now(), `{}`))

	waitFor(t, "three disabled-mails to each contact", 20*time.Second, func() bool {
		return len(smtpd.mailsTo(contacts[0])) >= 3 && len(smtpd.mailsTo(contacts[1])) >= 3
	})
	require.NoError(t, db.SetWebhookState(ctx, staff, byPerson.ID, models.StateChange{State: models.WebhookActive, Backlog: models.BacklogDrop}))
	waitFor(t, "the enabled-mail to each contact", 10*time.Second, func() bool {
		return len(smtpd.mailsTo(contacts[0])) >= 4 && len(smtpd.mailsTo(contacts[1])) >= 4
	})
	// Anything else still on its way would arrive with the mail queued last.
	waitFor(t, "the outbox of the webhooks to be empty", 10*time.Second, func() bool {
		var open int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM mails WHERE partner_id = $1 AND state <> 'sent'`, p.ID).Scan(&open))
		return open == 0
	})

	want := map[string]*models.Webhook{}
	for _, w := range []*models.Webhook{dead, gone, byPerson} {
		h, err := db.FindWebhookByID(ctx, w.ID)
		require.NoError(t, err)
		want[w.ID] = h
	}
	require.Equal(t, models.WebhookDisabled, want[dead.ID].State)
	require.Equal(t, models.WebhookDisabled, want[gone.ID].State)
	disabledAt := map[string]time.Time{}
	for _, id := range []string{dead.ID, gone.ID, byPerson.ID} {
		var at time.Time
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT since FROM mails WHERE webhook_id = $1 AND kind = 'webhook.disabled' LIMIT 1`, id).Scan(&at))
		disabledAt[id] = at
	}
	require.Equal(t, want[dead.ID].StateChangedAt.UTC(), disabledAt[dead.ID].UTC(), "since: when it was disabled")

	var all []gotMail
	for _, c := range contacts {
		got := smtpd.mailsTo(c)
		require.Len(t, got, 4, "one mail per contact per change: 3 disabled, 1 enabled")
		all = append(all, got...)
		subjects := []string{}
		for _, m := range got {
			require.Equal(t, []string{c}, m.To, "one recipient per mail")
			require.Equal(t, "noreply@hookrelay.test", m.From)
			require.Equal(t, `"hookrelay" <noreply@hookrelay.test>`, m.Header.Get("From"))
			require.Equal(t, "<"+c+">", m.Header.Get("To"))
			require.Equal(t, "auto-generated", m.Header.Get("Auto-Submitted"))
			subjects = append(subjects, m.Subject)
		}
		wantSubjects := []string{
			`Webhook "Gone Bcc: evil@attacker.example" is disabled`,
			fmt.Sprintf("Webhook %q is disabled", byPerson.Name),
			fmt.Sprintf("Webhook %q is disabled", dead.Name),
			fmt.Sprintf("Webhook %q is enabled again", byPerson.Name),
		}
		slices.Sort(subjects)
		slices.Sort(wantSubjects)
		require.Equal(t, wantSubjects, subjects)
	}
	mailAbout := func(c, id, kind string) gotMail {
		t.Helper()
		for _, m := range smtpd.mailsTo(c) {
			if strings.Contains(m.Body, "("+id+")") && strings.Contains(m.Subject, kind) {
				return m
			}
		}
		t.Fatalf("no %s mail about %s to %s", kind, id, c)
		return gotMail{}
	}
	stamp := func(at time.Time) string { return at.UTC().Format("2006-01-02 15:04:05 UTC") }
	for _, c := range contacts {
		m := mailAbout(c, dead.ID, "disabled")
		require.Contains(t, m.Body, fmt.Sprintf("The webhook %q of %s is disabled", dead.Name, p.Name))
		require.Contains(t, m.Body, "Why:     Disabled after 2 failed verification calls in a row")
		require.Contains(t, m.Body, "last: 503")
		require.Contains(t, m.Body, "Since:   "+stamp(want[dead.ID].StateChangedAt))
		require.Contains(t, m.Body, "Page:    https://hookrelay.test/webhooks/"+dead.ID+"\n")

		m = mailAbout(c, gone.ID, "disabled")
		require.Contains(t, m.Body, "Why:     "+models.GoneReason+"\n")
		require.Contains(t, m.Body, "Webhook: Gone Bcc: evil@attacker.example ("+gone.ID+")\n", "the line break is gone from the body too")
		require.Contains(t, m.Body, "Since:   "+stamp(want[gone.ID].StateChangedAt))
		require.Contains(t, m.Body, "Page:    https://hookrelay.test/webhooks/"+gone.ID+"\n")
		require.Empty(t, m.Header.Get("Bcc"), "a webhook name cannot add a header")

		m = mailAbout(c, byPerson.ID, "disabled")
		require.Contains(t, m.Body, "Why:     Disabled by staff@hookrelay.test\n")
		require.Contains(t, m.Body, "Since:   "+stamp(disabledAt[byPerson.ID]))

		m = mailAbout(c, byPerson.ID, "enabled again")
		require.Contains(t, m.Body, fmt.Sprintf("The webhook %q of %s is enabled again", byPerson.Name, p.Name))
		require.Contains(t, m.Body, "Why:     Enabled again by staff@hookrelay.test; the changes that waited while it was disabled were dropped")
		require.Contains(t, m.Body, "Since:   "+stamp(want[byPerson.ID].StateChangedAt))
		require.Contains(t, m.Body, "Page:    https://hookrelay.test/webhooks/"+byPerson.ID+"\n")
	}
	for _, m := range smtpd.mails() {
		for _, to := range m.To {
			require.NotContains(t, to, "attacker", "nobody outside the contacts gets mail")
		}
	}
	require.Len(t, smtpd.mails(), len(all), "nobody but the two contacts got mail (the other partner's webhook stayed active)")
	for _, m := range all {
		for _, secret := range []string{"whsec_", "basic-auth-password", "x-token-in-path", "query-secret", smtpd.pass, "127.0.0.1"} {
			require.NotContains(t, string(m.Raw), secret, "no secret and no URL in a mail")
		}
	}
	require.GreaterOrEqual(t, smtpd.authed, 1, "the credentials of the SMTP URL were used")
}

// TestMailRefusedThenAccepted: a server that refuses the recipient (451) twice and then the
// data (554) once gets the mail delivered once, on the fourth try.
func TestMailRefusedThenAccepted(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	mailOn(t, db)
	refuse := refuseFirst("RCPT", 2, 451)
	smtpd := startSMTP(t, "127.0.0.1:0", func(cmd string, n int) error {
		if err := refuse(cmd, n); err != nil {
			return err
		}
		return refuseFirst("DATA", 1, 554)(cmd, n)
	})
	p, contacts := mailPartner(t, db, 1)
	w := mustWebhook(t, db, "http://127.0.0.1:1/unused", models.WebhookInput{PartnerID: &p.ID})
	startRunner(t, db, jobs.Config{Mail: mailConfig(t, smtpd.url())})
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookDisabled}))

	waitFor(t, "the mail to be sent", 15*time.Second, func() bool {
		states, _ := mailRows(t, db, w.ID)
		return len(states) == 1 && states[0] == models.MailSent
	})
	require.Len(t, smtpd.mailsTo(contacts[0]), 1, "delivered once")
	_, attempts := mailRows(t, db, w.ID)
	require.Equal(t, []int{4}, attempts, "two refused recipients, one refused data, then accepted")
	require.Equal(t, 4, smtpd.count("RCPT"))
	require.Equal(t, 2, smtpd.count("DATA"))
	var lastErr string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT last_error FROM mails WHERE webhook_id = $1`, w.ID).Scan(&lastErr))
	require.Empty(t, lastErr, "sent: no error left")
}

// TestMailServerDownThenUp: mail queued while the server is down goes out once it is up.
func TestMailServerDownThenUp(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	mailOn(t, db)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // down: connections are refused
	p, contacts := mailPartner(t, db, 2)
	w := mustWebhook(t, db, "http://127.0.0.1:1/unused", models.WebhookInput{PartnerID: &p.ID})
	startRunner(t, db, jobs.Config{Mail: mailConfig(t, "smtp://mailer:s3cret-smtp-password@"+addr)})
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookDisabled}))

	waitFor(t, "tries to fail while the server is down", 10*time.Second, func() bool {
		states, attempts := mailRows(t, db, w.ID)
		return len(states) == 2 && attempts[0] >= 2 && attempts[1] >= 2
	})
	var lastErr string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT last_error FROM mails WHERE webhook_id = $1 LIMIT 1`, w.ID).Scan(&lastErr))
	require.Contains(t, lastErr, "connection refused")
	require.NotContains(t, lastErr, "s3cret-smtp-password")

	smtpd := startSMTP(t, addr, nil) // up
	waitFor(t, "both mails sent", 15*time.Second, func() bool {
		states, _ := mailRows(t, db, w.ID)
		return slices.Equal(states, []string{models.MailSent, models.MailSent})
	})
	for _, c := range contacts {
		require.Len(t, smtpd.mailsTo(c), 1)
	}
}

// TestMailTwoInstances: two instances on one database send each queued mail exactly once.
// Each disabling commits with a notification that wakes both at the same moment, so their
// claims meet again and again.
func TestMailTwoInstances(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	mailOn(t, db)
	smtpd := startSMTP(t, "127.0.0.1:0", nil)
	const nHooks, nContacts = 30, 3
	p, contacts := mailPartner(t, db, nContacts)
	var hooks []*models.Webhook
	for range nHooks {
		hooks = append(hooks, mustWebhook(t, db, "http://127.0.0.1:1/unused", models.WebhookInput{PartnerID: &p.ID}))
	}
	cfg := mailConfig(t, smtpd.url())
	startRunner(t, db, jobs.Config{Mail: cfg})
	startRunner(t, db, jobs.Config{Mail: cfg})
	for _, w := range hooks {
		require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookDisabled}))
	}
	waitFor(t, "every mail sent", 30*time.Second, func() bool {
		var sent int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM mails WHERE partner_id = $1 AND state = 'sent'`, p.ID).Scan(&sent))
		return sent == nHooks*nContacts
	})
	var msgIDs []string
	for _, m := range smtpd.mails() {
		msgIDs = append(msgIDs, m.Header.Get("Message-Id"))
	}
	require.Equal(t, nHooks*nContacts, len(msgIDs), "no mail sent twice")
	for _, c := range contacts {
		seen := map[string]int{}
		for _, m := range smtpd.mailsTo(c) {
			for _, w := range hooks {
				if strings.Contains(m.Body, "("+w.ID+")") {
					seen[w.ID]++
				}
			}
		}
		require.Len(t, seen, nHooks, "%s: a mail about each webhook", c)
	}
}

// TestMailHangDoesNotHoldUpDeliveries: while the mail server accepts connections and never
// answers, deliveries go on.
func TestMailHangDoesNotHoldUpDeliveries(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	mailOn(t, db)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	p, _ := mailPartner(t, db, 1)
	rc := newReceiver(t, nil)
	hung := mustWebhook(t, db, rc.URL+"/other", models.WebhookInput{PartnerID: &p.ID, EventTypes: []string{"course.completed"}})
	live := mustWebhook(t, db, rc.URL+"/live", models.WebhookInput{PartnerID: &p.ID, EventTypes: []string{"training.updated"}, Format: ptr("event")})
	cfg := mailConfig(t, "smtp://mailer:pw@"+ln.Addr().String())
	cfg.Timeout = time.Minute // longer than the test: the mail loop stays stuck throughout
	startRunner(t, db, jobs.Config{Mail: cfg})
	t.Cleanup(func() { // before the runner stops: let the stuck conversation end
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	require.NoError(t, db.SetWebhookState(ctx, models.System, hung.ID, models.StateChange{State: models.WebhookDisabled}))
	waitFor(t, "the mail loop to be stuck talking to the server", 10*time.Second, func() bool {
		states, _ := mailRows(t, db, hung.ID)
		mu.Lock()
		defer mu.Unlock()
		return len(states) == 1 && states[0] == models.MailSending && len(conns) == 1
	})
	for i := range 5 {
		ingest(t, db, event("training.updated", "training", fmt.Sprint(i), time.Now(), `{}`))
	}
	waitFor(t, "five deliveries", 10*time.Second, func() bool {
		n := 0
		for _, r := range rc.requests() {
			if r.Path == "/live" {
				n++
			}
		}
		return n == 5
	})
	states, _ := mailRows(t, db, live.ID)
	require.Empty(t, states)
	states, _ = mailRows(t, db, hung.ID)
	require.Equal(t, []string{models.MailSending}, states, "delivered while the mail was still stuck")
}

// TestNoMailQueuedWhenOff: without an SMTP server nothing is queued, so turning mail on later
// sends no stale news.
func TestNoMailQueuedWhenOff(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	p, _ := mailPartner(t, db, 2)
	w := mustWebhook(t, db, "http://127.0.0.1:1/unused", models.WebhookInput{PartnerID: &p.ID})
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookDisabled}))
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookActive}))
	states, _ := mailRows(t, db, w.ID)
	require.Empty(t, states)

	mailOn(t, db)
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookPaused}))
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookActive}))
	states, _ = mailRows(t, db, w.ID)
	require.Empty(t, states, "pausing and resuming mail nobody: only disabling and enabling a disabled webhook do")
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookDisabled}))
	states, _ = mailRows(t, db, w.ID)
	require.Equal(t, []string{models.MailQueued, models.MailQueued}, states, "one per contact, queued with the change")
}

// TestMailOfDeadInstanceTakenOver: a mail claimed by an instance that died (its lease far from
// over) is sent by another, once.
func TestMailOfDeadInstanceTakenOver(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	mailOn(t, db)
	smtpd := startSMTP(t, "127.0.0.1:0", nil)
	p, contacts := mailPartner(t, db, 1)
	w := mustWebhook(t, db, "http://127.0.0.1:1/unused", models.WebhookInput{PartnerID: &p.ID})
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookDisabled}))
	_, err := db.Pool.Exec(ctx, `UPDATE mails SET state = 'sending', claimed_by = 'ins_dead', lease_until = now() + interval '1 hour', attempts = 1
		WHERE webhook_id = $1`, w.ID)
	require.NoError(t, err)
	startRunner(t, db, jobs.Config{Mail: mailConfig(t, smtpd.url())})
	waitFor(t, "the mail to be sent", 10*time.Second, func() bool {
		states, _ := mailRows(t, db, w.ID)
		return slices.Equal(states, []string{models.MailSent})
	})
	_, attempts := mailRows(t, db, w.ID)
	require.Equal(t, []int{2}, attempts)
	require.Len(t, smtpd.mailsTo(contacts[0]), 1)
}
