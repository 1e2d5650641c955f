package jobs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// answers is a receiver that answers its n-th request (1-based) with answer(n): a status and
// the headers to set.
func answers(t *testing.T, answer func(n int, h http.Header) int) (*httptest.Server, func() []time.Time) {
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		n := len(at)
		mu.Unlock()
		w.WriteHeader(answer(n, w.Header()))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []time.Time { mu.Lock(); defer mu.Unlock(); return append([]time.Time(nil), at...) }
}

// firstRetry delivers one event to a receiver that answers the first request with status and
// retryAfter, and returns when the message's next attempt was scheduled and when the first
// attempt ended.
func firstRetry(t *testing.T, db *models.DB, status int, retryAfter func(now time.Time) string) (next, ended time.Time) {
	t.Helper()
	ctx := context.Background()
	rc, _ := answers(t, func(n int, h http.Header) int {
		if v := retryAfter(time.Now()); v != "" {
			h.Set("Retry-After", v)
		}
		return status
	})
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{})
	ingest(t, db, event("training.updated", "training", "asks", time.Now(), `{}`))
	waitFor(t, "the first attempt", 10*time.Second, func() bool {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE webhook_id = $1 AND attempt_count = 1`, w.ID).Scan(&n))
		return n == 1
	})
	var ms int
	var started time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `
		SELECT m.next_attempt_at, a.started_at, a.duration_ms FROM messages m JOIN attempts a ON a.message_id = m.id
		WHERE m.webhook_id = $1`, w.ID).Scan(&next, &started, &ms))
	require.NoError(t, db.DeleteWebhook(ctx, models.System, w.ID))
	return next, started.Add(time.Duration(ms) * time.Millisecond)
}

// Receivers that answer 429 or 503 with Retry-After get the next attempt no earlier than they
// ask, at most two hours later than the schedule; without the header, or with one that cannot
// be read, the schedule stands. The schedule here is a retry after 1 s.
func TestRetryAfter(t *testing.T) {
	db := testDB(t)
	startRunner(t, db, jobs.Config{Retry: jobs.RetryPolicy{Base: time.Second, Max: time.Minute, Count: 3}})
	const tolerance = 50 * time.Millisecond
	none := func(time.Time) string { return "" }

	next, ended := firstRetry(t, db, http.StatusServiceUnavailable, func(time.Time) string { return "120" })
	require.WithinDuration(t, ended.Add(120*time.Second), next, tolerance, "503, Retry-After: 120")

	next, ended = firstRetry(t, db, http.StatusTooManyRequests, func(now time.Time) string {
		return now.Add(10 * time.Minute).UTC().Format(http.TimeFormat)
	})
	require.WithinDuration(t, ended.Add(10*time.Minute), next, 1500*time.Millisecond, "429, Retry-After as an HTTP date (whole seconds)")

	next, ended = firstRetry(t, db, http.StatusServiceUnavailable, func(time.Time) string { return "86400" })
	require.WithinDuration(t, ended.Add(time.Second+models.MaxRetryAfter), next, 100*time.Millisecond+tolerance,
		"a day asked: the schedule (1 s, less up to 10 %) plus two hours at most")

	next, ended = firstRetry(t, db, http.StatusServiceUnavailable, none)
	require.WithinDuration(t, ended.Add(950*time.Millisecond), next, 50*time.Millisecond+tolerance, "503 without Retry-After: the schedule")

	next, ended = firstRetry(t, db, http.StatusServiceUnavailable, func(time.Time) string { return "soon, please" })
	require.WithinDuration(t, ended.Add(950*time.Millisecond), next, 50*time.Millisecond+tolerance, "an unreadable Retry-After is ignored")

	next, ended = firstRetry(t, db, http.StatusInternalServerError, func(time.Time) string { return "120" })
	require.WithinDuration(t, ended.Add(950*time.Millisecond), next, 50*time.Millisecond+tolerance, "Retry-After only counts with 429 and 503")
}

// A delivery answered 410 Gone, here on its first retry, fails at once and disables the
// webhook with the reason; changes keep collecting while it is disabled. A test notification
// answered 410 disables nothing.
func TestGoneDisablesWebhook(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	rc, requests := answers(t, func(n int, _ http.Header) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusGone
	})
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{})

	test, err := db.CreateTestMessage(ctx, models.NewID("msg_"), w.ID, "training.updated", []byte(`{}`), "", time.Now())
	require.NoError(t, err)
	require.NoError(t, db.RecordAttempt(ctx, models.AttemptResult{MessageID: test.ID, WebhookID: w.ID, Trigger: models.TriggerTest,
		StartedAt: time.Now(), URL: rc.URL, Method: http.MethodPost, Status: http.StatusGone}, nil))
	got, err := db.FindWebhookByID(ctx, w.ID)
	require.NoError(t, err)
	require.Equal(t, models.WebhookActive, got.State, "a test notification answered 410 disables nothing")

	startRunner(t, db, jobs.Config{})
	ingest(t, db, event("training.updated", "training", "gone", time.Now(), `{}`))
	waitFor(t, "the webhook to be disabled", 10*time.Second, func() bool {
		got, err = db.FindWebhookByID(ctx, w.ID)
		require.NoError(t, err)
		return got.State == models.WebhookDisabled
	})
	require.Equal(t, models.GoneReason, got.StateReason)
	var state string
	var attempts int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT state, attempt_count FROM messages WHERE webhook_id = $1 AND kind = 'changes'`, w.ID).Scan(&state, &attempts))
	require.Equal(t, models.MessageFailed, state, "no retries after 410")
	require.Equal(t, 2, attempts)
	var audited int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'webhook.disabled' AND object_id = $1 AND summary = $2`,
		w.ID, models.GoneReason).Scan(&audited))
	require.Equal(t, 1, audited)

	ingest(t, db, event("training.updated", "training", "later", time.Now(), `{}`))
	var pending int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM changes WHERE webhook_id = $1 AND state = 'pending'`, w.ID).Scan(&pending))
	require.Equal(t, 1, pending, "changes keep collecting")
	require.Len(t, requests(), 2)
}
