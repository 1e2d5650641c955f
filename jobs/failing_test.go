package jobs_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// A receiver that always fails, slowly, with a queue of messages: while the webhook fails it
// gets one request at a time, yet every message keeps its own retry schedule and is failed
// after about as long as one message alone, not after the whole queue has had its turns.
func TestFailingEndpointKeepsEachSchedule(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	const answerIn = 150 * time.Millisecond
	var mu sync.Mutex
	inFlight, maxInFlight, requests := 0, 0, 0
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		inFlight++
		requests++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		time.Sleep(answerIn) // the receiver's own slowness
		mu.Lock()
		inFlight--
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer rc.Close()
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent)})
	policy := jobs.RetryPolicy{Base: 200 * time.Millisecond, Max: 800 * time.Millisecond, Count: 4}
	startRunner(t, db, jobs.Config{Retry: policy, Timeout: 2 * time.Second})

	ingest(t, db, event("training.updated", "training", "first", time.Now(), `{}`))
	waitFor(t, "the webhook to be failing", 10*time.Second, func() bool {
		var failing bool
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT failing_since IS NOT NULL FROM webhooks WHERE id = $1`, w.ID).Scan(&failing))
		return failing
	})
	mu.Lock()
	maxInFlight = inFlight
	mu.Unlock()

	var evs []models.NewEvent
	for i := range 30 {
		evs = append(evs, event("training.updated", "training", fmt.Sprint("queued-", i), time.Now(), `{}`))
	}
	ingest(t, db, evs...)
	waitFor(t, "every message to fail", 60*time.Second, func() bool {
		var open int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE webhook_id = $1 AND state <> 'failed'`, w.ID).Scan(&open))
		return open == 0
	})
	mu.Lock()
	require.Equal(t, 1, maxInFlight, "one request at a time while failing")
	t.Logf("%d requests for 31 messages × 5 attempts", requests)
	mu.Unlock()

	rows, err := db.Pool.Query(ctx, `
		SELECT a.message_id, a.started_at, a.duration_ms, a.error FROM attempts a JOIN messages m ON m.id = a.message_id
		WHERE m.webhook_id = $1 AND convert_from(m.payload, 'UTF8') LIKE '%queued-%' ORDER BY a.message_id, a.started_at, a.id`, w.ID)
	require.NoError(t, err)
	type attempt struct {
		at       time.Time
		duration time.Duration
		err      string
	}
	byMessage := map[string][]attempt{}
	for rows.Next() {
		var id string
		var a attempt
		var ms int
		require.NoError(t, rows.Scan(&id, &a.at, &ms, &a.err))
		a.duration = time.Duration(ms) * time.Millisecond
		byMessage[id] = append(byMessage[id], a)
	}
	require.NoError(t, rows.Err())
	require.Len(t, byMessage, 30)
	notSent := 0
	for id, as := range byMessage {
		require.Len(t, as, 1+policy.Count, "message %s: every scheduled attempt, then failed", id)
		for i := 1; i < len(as); i++ {
			nominal := min(policy.Base<<(i-1), policy.Max)
			gap := as[i].at.Sub(as[i-1].at.Add(as[i-1].duration))
			require.GreaterOrEqual(t, gap, nominal*9/10-time.Millisecond, "message %s attempt %d came early", id, i+1)
			// Late by at most the probe in flight when it fell due, and a busy machine's slack;
			// waiting for the queue's turns would make it late by several seconds.
			require.LessOrEqual(t, gap, nominal+answerIn+time.Second, "message %s attempt %d came late", id, i+1)
		}
		for _, a := range as {
			if strings.HasPrefix(a.err, models.NotSentPrefix) {
				notSent++
			}
		}
	}
	require.Positive(t, notSent, "messages behind the failing probe were moved on without a request")
}
