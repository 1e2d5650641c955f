package jobs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
)

// verifyReceiver answers verification calls with the status ok(n) gives for the n-th call.
type verifyReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	calls []received
}

func newVerifyReceiver(t *testing.T, ok func(n int) bool) *verifyReceiver {
	vr := &verifyReceiver{}
	vr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body jobs.VerificationPayload
		b := make([]byte, 1<<16)
		n, _ := r.Body.Read(b)
		_ = json.Unmarshal(b[:n], &body)
		vr.mu.Lock()
		if body.Type == "webhook.verification" {
			vr.calls = append(vr.calls, received{At: time.Now(), Header: r.Header.Clone(), Body: b[:n], Path: r.URL.Path})
		}
		calls := len(vr.calls)
		vr.mu.Unlock()
		if body.Type == "webhook.verification" && !ok(calls) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(vr.Close)
	return vr
}

func (vr *verifyReceiver) count() int {
	vr.mu.Lock()
	defer vr.mu.Unlock()
	return len(vr.calls)
}

func TestVerificationDisablesDeadEndpoint(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	vr := newVerifyReceiver(t, func(int) bool { return false })
	url := vr.URL + "/shared"
	a := mustWebhook(t, db, url, models.WebhookInput{})
	b := mustWebhook(t, db, url, models.WebhookInput{PartnerID: &a.PartnerID}) // one partner's two webhooks share a call
	startRunner(t, db, jobs.Config{VerifyInterval: 300 * time.Millisecond, VerifyThreshold: 3})

	waitFor(t, "both webhooks disabled", 15*time.Second, func() bool {
		for _, id := range []string{a.ID, b.ID} {
			h, err := db.FindWebhookByID(ctx, id)
			require.NoError(t, err)
			if h.State != models.WebhookDisabled {
				return false
			}
		}
		return true
	})
	require.Equal(t, 3, vr.count(), "one call per interval for the shared URL, three in all")
	h, err := db.FindWebhookByID(ctx, a.ID)
	require.NoError(t, err)
	require.Contains(t, h.StateReason, "3 failed verification calls")
	require.Contains(t, h.StateReason, "503")

	// Every call was signed for both webhooks: each secret verifies it.
	call := vr.calls[0]
	require.Len(t, strings.Fields(call.Header.Get("webhook-signature")), 2)
	for _, w := range []*models.Webhook{a, b} {
		secretSecrets, err := db.RevealWebhookSecret(ctx, models.System, w.ID)
		require.NoError(t, err)
		secret := secretSecrets.Current
		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(call.Body, call.Header))
	}
	// Logged as verification messages of each webhook.
	rows, _, err := db.FindMessages(ctx, models.MessageFilter{WebhookID: b.ID, Kinds: []string{models.KindVerification}})
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.Equal(t, models.MessageFailed, rows[0].State)

	// Disabled webhooks get no more calls; re-enabling starts a fresh streak: two more failed
	// calls leave it on, the third disables it again. Each call is read once it is recorded
	// (its message finished), and calls to one URL are made one after the other.
	require.NoError(t, db.SetWebhookState(ctx, models.System, a.ID, models.StateChange{State: models.WebhookActive, Backlog: models.BacklogDeliver}))
	waitFor(t, "two fresh calls recorded after re-enabling", 10*time.Second, func() bool {
		h, err := db.FindWebhookByID(ctx, a.ID)
		require.NoError(t, err)
		n := finishedVerifications(t, db, a.ID) // read after the state: it counts every call that could have disabled it
		if h.State != models.WebhookActive {
			require.GreaterOrEqual(t, n, 6, "%d calls in all: fewer than three failures after re-enabling do not disable again", n)
		}
		return n >= 5
	})
	require.Equal(t, 3, finishedVerifications(t, db, b.ID), "the webhook left disabled is not called")
	waitFor(t, "the third failure in a row to disable it again", 10*time.Second, func() bool {
		h, err := db.FindWebhookByID(ctx, a.ID)
		require.NoError(t, err)
		return h.State == models.WebhookDisabled
	})
	require.Equal(t, 6, finishedVerifications(t, db, a.ID))
}

// TestVerificationPerPartner: two partners' webhooks on one URL get a call each, signed with
// that partner's secret alone and logged with that partner's message id alone, so no partner's
// log shows another's message id or signature.
func TestVerificationPerPartner(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	vr := newVerifyReceiver(t, func(int) bool { return true })
	url := vr.URL + "/two-partners"
	a := mustWebhook(t, db, url, models.WebhookInput{})
	b := mustWebhook(t, db, url, models.WebhookInput{})
	require.NotEqual(t, a.PartnerID, b.PartnerID)
	startRunner(t, db, jobs.Config{VerifyInterval: 300 * time.Millisecond, VerifyThreshold: 3})
	waitFor(t, "a call recorded for each partner", 15*time.Second, func() bool {
		return finishedVerifications(t, db, a.ID) >= 1 && finishedVerifications(t, db, b.ID) >= 1
	})

	ids := map[string]string{} // message id -> webhook id, from each webhook's own log
	for _, w := range []*models.Webhook{a, b} {
		rows, _, err := db.FindMessages(ctx, models.MessageFilter{WebhookID: w.ID, Kinds: []string{models.KindVerification}})
		require.NoError(t, err)
		for _, m := range rows {
			ids[m.ID] = w.ID
		}
	}
	verifiers := map[string]*standardwebhooks.Webhook{}
	for _, w := range []*models.Webhook{a, b} {
		s, err := db.RevealWebhookSecret(ctx, models.System, w.ID)
		require.NoError(t, err)
		verifiers[w.ID], err = standardwebhooks.NewWebhook(s.Current)
		require.NoError(t, err)
	}
	vr.mu.Lock()
	calls := append([]received(nil), vr.calls...)
	vr.mu.Unlock()
	require.GreaterOrEqual(t, len(calls), 2)
	for _, c := range calls {
		require.Len(t, strings.Fields(c.Header.Get("webhook-signature")), 1, "one partner's secret only")
		owner, ok := ids[c.Header.Get("webhook-id")]
		if !ok {
			continue // a call whose message is not recorded yet
		}
		for id, v := range verifiers {
			if id == owner {
				require.NoError(t, v.Verify(c.Body, c.Header), "signed by its own partner's webhook")
			} else {
				require.Error(t, v.Verify(c.Body, c.Header), "not by the other partner's")
			}
		}
	}
}

// finishedVerifications counts the recorded verification calls of a webhook.
func finishedVerifications(t *testing.T, db *models.DB, webhookID string) int {
	t.Helper()
	rows, _, err := db.FindMessages(context.Background(), models.MessageFilter{WebhookID: webhookID, Kinds: []string{models.KindVerification}})
	require.NoError(t, err)
	n := 0
	for _, m := range rows {
		if m.State != models.MessageDelivering {
			n++
		}
	}
	return n
}

func TestVerificationRecoveryResetsStreak(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	// Fails twice, then recovers, then fails twice again: never three in a row.
	vr := newVerifyReceiver(t, func(n int) bool { return n == 3 })
	w := mustWebhook(t, db, vr.URL+"/recovering", models.WebhookInput{})
	startRunner(t, db, jobs.Config{VerifyInterval: 200 * time.Millisecond, VerifyThreshold: 3})
	waitFor(t, "five calls", 15*time.Second, func() bool { return vr.count() >= 5 })
	h, err := db.FindWebhookByID(ctx, w.ID)
	require.NoError(t, err)
	require.Equal(t, models.WebhookActive, h.State)
}

func TestVerificationSparedByDeliveries(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	var deliveries atomic.Int64
	// Verification calls fail, but real deliveries get through: the endpoint is alive.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["type"] == "webhook.verification" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		deliveries.Add(1)
	}))
	defer srv.Close()
	w := mustWebhook(t, db, srv.URL, models.WebhookInput{EventTypes: []string{"test.completed"}})
	startRunner(t, db, jobs.Config{VerifyInterval: 250 * time.Millisecond, VerifyThreshold: 3})
	// A steady chain of real deliveries, each posted once the previous one arrived, until more
	// verification calls than the threshold have failed and been recorded.
	deadline := time.Now().Add(20 * time.Second)
	for finishedVerifications(t, db, w.ID) < 5 {
		require.True(t, time.Now().Before(deadline), "timed out waiting for 5 verification calls")
		h, err := db.FindWebhookByID(ctx, w.ID)
		require.NoError(t, err)
		require.Equal(t, models.WebhookActive, h.State, "successful deliveries since the first failed call keep it on")
		n := deliveries.Load()
		ingest(t, db, event("test.completed", "", "", time.Now(), `{}`))
		waitFor(t, "the delivery", 10*time.Second, func() bool { return deliveries.Load() > n })
	}
	rows, _, err := db.FindMessages(ctx, models.MessageFilter{WebhookID: w.ID, Kinds: []string{models.KindVerification}})
	require.NoError(t, err)
	for _, m := range rows {
		if m.State != models.MessageDelivering {
			require.Equal(t, models.MessageFailed, m.State, "every verification call failed")
		}
	}
	h, err := db.FindWebhookByID(ctx, w.ID)
	require.NoError(t, err)
	require.Equal(t, models.WebhookActive, h.State, "successful deliveries since the first failed call keep it on")
}

func TestRetention(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{EventTypes: []string{"badge.revoked"}})
	old := time.Now().Add(-40 * 24 * time.Hour)
	stored := ingest(t, db, event("badge.revoked", "badge", "b-old", old, `{}`), event("badge.revoked", "badge", "b-old-2", old, `{}`))
	finished, err := db.CreateTestMessage(ctx, models.NewID("msg_"), w.ID, "badge.revoked", []byte(`{}`), "", old)
	require.NoError(t, err)
	require.NoError(t, db.RecordAttempt(ctx, models.AttemptResult{MessageID: finished.ID, WebhookID: w.ID, Trigger: models.TriggerTest, StartedAt: old, URL: rc.URL, Method: "POST", Success: true, Status: 200}, nil))
	retrying, err := db.CreateTestMessage(ctx, models.NewID("msg_"), w.ID, "badge.revoked", []byte(`{}`), "", old)
	require.NoError(t, err)
	next := time.Now().Add(time.Hour)
	require.NoError(t, db.RecordAttempt(ctx, models.AttemptResult{MessageID: retrying.ID, WebhookID: w.ID, Trigger: models.TriggerSchedule, StartedAt: old, URL: rc.URL, Method: "POST", Status: 500}, &next))
	_, err = db.Pool.Exec(ctx, `UPDATE events SET received_at = $2 WHERE id = ANY($1)`, []string{stored[0].ID, stored[1].ID}, old)
	require.NoError(t, err)
	// No runner runs here: the first event's change was sent long ago; the second still waits
	// in a (paused) batch and must stay.
	_, err = db.Pool.Exec(ctx, `UPDATE changes SET state = 'sent' WHERE event_id = $1`, stored[0].ID)
	require.NoError(t, err)

	cutoff := time.Now().Add(-30 * 24 * time.Hour)
	for {
		n, err := db.RetentionBatch(ctx, cutoff, 1)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	_, err = db.FindMessageByID(ctx, finished.ID)
	require.ErrorIs(t, err, models.ErrNotFound, "finished messages past retention go")
	_, err = db.FindMessageByID(ctx, retrying.ID)
	require.NoError(t, err, "messages still retrying stay")
	_, err = db.FindEventByID(ctx, stored[0].ID)
	require.ErrorIs(t, err, models.ErrNotFound)
	_, err = db.FindEventByID(ctx, stored[1].ID)
	require.NoError(t, err, "events a pending change needs stay")

	// The daily schedule runs on one instance at a time.
	name := "retention-test-" + models.NewID("")
	first, err := db.ClaimSchedule(ctx, name, 24*time.Hour, time.Now())
	require.NoError(t, err)
	second, err := db.ClaimSchedule(ctx, name, 24*time.Hour, time.Now())
	require.NoError(t, err)
	require.True(t, first)
	require.False(t, second)
}

func TestVerificationOddAnswers(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
	}))
	defer redirect.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("y", 1<<20))
		for range 50 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	tlsBad := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})) // self-signed
	defer tlsBad.Close()
	hr := mustWebhook(t, db, redirect.URL, models.WebhookInput{EventTypes: []string{"account.created"}})
	hh := mustWebhook(t, db, huge.URL, models.WebhookInput{EventTypes: []string{"account.created"}})
	ht := mustWebhook(t, db, tlsBad.URL, models.WebhookInput{EventTypes: []string{"account.created"}})
	startRunner(t, db, jobs.Config{VerifyInterval: 200 * time.Millisecond, VerifyThreshold: 2})

	waitFor(t, "the TLS endpoint to be disabled", 10*time.Second, func() bool {
		h, err := db.FindWebhookByID(ctx, ht.ID)
		require.NoError(t, err)
		return h.State == models.WebhookDisabled
	})
	h, err := db.FindWebhookByID(ctx, ht.ID)
	require.NoError(t, err)
	require.Contains(t, h.StateReason, "certificate", "a self-signed certificate is a failure, and says so")
	for _, w := range []*models.Webhook{hr, hh} {
		rows, _, err := db.FindMessages(ctx, models.MessageFilter{WebhookID: w.ID, Kinds: []string{models.KindVerification}})
		require.NoError(t, err)
		finished := 0
		for _, m := range rows {
			if m.State == models.MessageDelivering {
				continue // the next call, under way
			}
			finished++
			require.Equal(t, models.MessageSucceeded, m.State, "a 3xx or a huge 200 counts as an answer")
		}
		require.Positive(t, finished)
		got, err := db.FindWebhookByID(ctx, w.ID)
		require.NoError(t, err)
		require.Equal(t, models.WebhookActive, got.State)
	}
	as, err := db.FindAttempts(ctx, mustFirstMessage(t, db, hh.ID))
	require.NoError(t, err)
	require.True(t, as[0].ResponseTruncated)
	as, err = db.FindAttempts(ctx, mustFirstMessage(t, db, hr.ID))
	require.NoError(t, err)
	require.Contains(t, as[0].Error, "redirect, not followed")
}

func mustFirstMessage(t *testing.T, db *models.DB, webhookID string) string {
	rows, _, err := db.FindMessages(context.Background(), models.MessageFilter{WebhookID: webhookID})
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	return rows[len(rows)-1].ID
}

// TestVerificationTwoInstances runs two runners on one database: each interval still gets one
// call per endpoint, not two.
func TestVerificationTwoInstances(t *testing.T) {
	db := testDB(t)
	vr := newVerifyReceiver(t, func(int) bool { return true })
	mustWebhook(t, db, vr.URL+"/two", models.WebhookInput{EventTypes: []string{"account.created"}})
	interval := 300 * time.Millisecond
	start := time.Now()
	startRunner(t, db, jobs.Config{VerifyInterval: interval})
	startRunner(t, db, jobs.Config{VerifyInterval: interval})
	waitFor(t, "a few intervals", 5*time.Second, func() bool { return vr.count() >= 4 })
	elapsed := time.Since(start)
	require.LessOrEqual(t, vr.count(), int(elapsed/interval)+1, "one call per interval across both instances")
	vr.mu.Lock()
	defer vr.mu.Unlock()
	for i := 1; i < len(vr.calls); i++ {
		require.Greater(t, vr.calls[i].At.Sub(vr.calls[i-1].At), interval/2, "never two calls at once")
	}
}

// TestClockJump: after the clock jumps a day forward, each overdue endpoint gets one call and
// the retention runs once, not once per missed interval.
func TestClockJump(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	w := mustWebhook(t, db, "http://127.0.0.1:9/jump-"+models.NewID(""), models.WebhookInput{EventTypes: []string{"account.created"}})
	interval := time.Hour
	require.NoError(t, db.SyncEndpoints(ctx, time.Now(), interval))
	later := time.Now().Add(24 * time.Hour)
	claimed := 0
	for range 5 {
		eps, err := db.ClaimDueEndpoints(ctx, later, interval, 100)
		require.NoError(t, err)
		for _, ep := range eps {
			if ep.URL == w.URL {
				claimed++
			}
		}
	}
	require.Equal(t, 1, claimed, "one call for the 24 missed intervals")
	name := "jump-" + models.NewID("")
	ran := 0
	for _, at := range []time.Time{time.Now(), later, later, later.Add(time.Minute)} {
		ok, err := db.ClaimSchedule(ctx, name, 24*time.Hour, at)
		require.NoError(t, err)
		if ok {
			ran++
		}
	}
	require.Equal(t, 2, ran, "now, then once after the jump")
	// And back: a clock that jumps back runs nothing early.
	ok, err := db.ClaimSchedule(ctx, name, 24*time.Hour, time.Now().Add(-48*time.Hour))
	require.NoError(t, err)
	require.False(t, ok)
}

// An endpoint whose webhooks are all paused (or disabled, or deleted) is not called, and its
// schedule moves on: a due endpoint no worker may call would have the verification worker look
// again every few milliseconds, for ever.
func TestIdleEndpointNotDue(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	w := mustWebhook(t, db, "http://127.0.0.1:9/idle-"+models.NewID(""), models.WebhookInput{EventTypes: []string{"account.created"}})
	interval := time.Hour
	require.NoError(t, db.SyncEndpoints(ctx, time.Now(), interval))
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookPaused}))
	_, err := db.Pool.Exec(ctx, `UPDATE endpoints SET next_verify_at = now() - interval '1 minute' WHERE url = $1`, w.URL)
	require.NoError(t, err)

	now := time.Now()
	require.NoError(t, db.SyncEndpoints(ctx, now, interval))
	eps, err := db.ClaimDueEndpoints(ctx, now, interval, 100)
	require.NoError(t, err)
	for _, ep := range eps {
		require.NotEqual(t, w.URL, ep.URL, "no call for a paused webhook")
	}
	next, has, err := db.NextEndpointDue(ctx)
	require.NoError(t, err)
	if has {
		require.True(t, next.After(now), "nothing is due that no one may call (next %s)", next)
	}
}
