package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// A webhook's max_in_flight is the most requests its receiver ever has at once, with two
// instances delivering a backlog; the instance setting is the default of the others.
func TestMaxInFlight(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	var mu sync.Mutex
	inFlight, most := map[string]int{}, map[string]int{}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		inFlight[r.URL.Path]++
		most[r.URL.Path] = max(most[r.URL.Path], inFlight[r.URL.Path])
		mu.Unlock()
		time.Sleep(50 * time.Millisecond) // the receiver's own pace, so that requests overlap
		mu.Lock()
		inFlight[r.URL.Path]--
		mu.Unlock()
	}))
	defer rc.Close()
	small := mustWebhook(t, db, rc.URL+"/small", models.WebhookInput{Format: ptr(models.FormatEvent), MaxInFlight: ptr(3), EventTypes: []string{"training.updated"}})
	mustWebhook(t, db, rc.URL+"/default", models.WebhookInput{Format: ptr(models.FormatEvent), EventTypes: []string{"badge.awarded"}})
	got, err := db.FindWebhookByID(ctx, small.ID)
	require.NoError(t, err)
	require.Equal(t, 3, *got.MaxInFlight)
	cfg := jobs.Config{Workers: 50, PerWebhook: 5}
	startRunner(t, db, cfg)
	startRunner(t, db, cfg)

	var evs []models.NewEvent
	for range 60 {
		evs = append(evs, event("training.updated", "", "", time.Now(), `{}`), event("badge.awarded", "", "", time.Now(), `{}`))
	}
	ingest(t, db, evs...)
	waitFor(t, "every delivery", 60*time.Second, func() bool {
		var done int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages m JOIN webhooks w ON w.id = m.webhook_id
			WHERE m.state = 'succeeded' AND w.url LIKE $1`, rc.URL+"%").Scan(&done))
		return done == 120
	})
	mu.Lock()
	defer mu.Unlock()
	t.Logf("most in flight: %v", most)
	require.Equal(t, 3, most["/small"], "max_in_flight 3: reached, never passed")
	require.Equal(t, 5, most["/default"], "no max_in_flight: the instance setting")
}

// ordering is a receiver that records the object id of each request, failing the first
// request about failFirst.
type ordering struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // object ids, with "!" for a failed request
}

func newOrdering(t *testing.T, failFirst string) *ordering {
	o := &ordering{}
	failed := false
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ObjectID string `json:"object_id"`
			Data     struct {
				N int `json:"n"`
			} `json:"data"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		o.mu.Lock()
		defer o.mu.Unlock()
		tag := body.ObjectID + "#" + string(rune('0'+body.Data.N))
		if body.ObjectID == failFirst && !failed {
			failed = true
			o.seen = append(o.seen, tag+"!")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		o.seen = append(o.seen, tag)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *ordering) got() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.seen...)
}

// With ordered on, a message waits while an earlier one about the same object is pending or
// retrying, across a failure and two instances; other objects are not held up. A resend keeps
// its place by creation: a later message about the same object waits for it.
func TestOrderedPerObject(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	rc := newOrdering(t, "A")
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent), Ordered: ptr(true)})
	cfg := jobs.Config{Retry: jobs.RetryPolicy{Base: 500 * time.Millisecond, Max: time.Second, Count: 5}}
	startRunner(t, db, cfg)
	startRunner(t, db, cfg)

	ingest(t, db, event("training.updated", "training", "A", time.Now(), `{"n": 1}`))
	waitFor(t, "A#1 to fail", 10*time.Second, func() bool { return len(rc.got()) == 1 })
	ingest(t, db, event("training.updated", "training", "A", time.Now(), `{"n": 2}`))
	ingest(t, db, event("training.updated", "training", "B", time.Now(), `{"n": 1}`))
	waitFor(t, "B#1, not held up by A", 10*time.Second, func() bool { return len(rc.got()) == 2 })
	require.Equal(t, []string{"A#1!", "B#1"}, rc.got())

	var second string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT id FROM messages WHERE webhook_id = $1 AND convert_from(payload, 'UTF8') LIKE '%"n":2%'`, w.ID).Scan(&second))
	hold, held, err := db.FindHold(ctx, second)
	require.NoError(t, err)
	require.True(t, held, "A#2 waits")
	require.Equal(t, "training", hold.Object)
	require.Equal(t, "A", hold.ObjectID)

	waitFor(t, "A#1's retry, then A#2", 10*time.Second, func() bool { return len(rc.got()) == 4 })
	require.Equal(t, []string{"A#1!", "B#1", "A#1", "A#2"}, rc.got())
	_, held, err = db.FindHold(ctx, second)
	require.NoError(t, err)
	require.False(t, held)

	// Resend A#1 and post A#3 at once: A#3 was made later, so it waits for the resend.
	var first string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT id FROM messages WHERE webhook_id = $1 AND convert_from(payload, 'UTF8') LIKE '%"n":1%' AND object_keys = '{"[\"training\",\"A\"]"}'`, w.ID).Scan(&first))
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookPaused}))
	_, err = db.ResendMessage(ctx, models.System, first)
	require.NoError(t, err)
	ingest(t, db, event("training.updated", "training", "A", time.Now(), `{"n": 3}`))
	waitFor(t, "A#3's message", 10*time.Second, func() bool {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM changes WHERE webhook_id = $1 AND state = 'pending'`, w.ID).Scan(&n))
		return n == 1
	})
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookActive}))
	waitFor(t, "the resend and A#3", 10*time.Second, func() bool { return len(rc.got()) == 6 })
	require.Equal(t, []string{"A#1!", "B#1", "A#1", "A#2", "A#1", "A#3"}, rc.got())
}

// The cap counts requests on the wire: once a request has its answer, the webhook's next one
// goes out while the attempt is still being recorded, never two at a time.
func TestCapCountsRequestsOnTheWire(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	var mu sync.Mutex
	inFlight, most, requests := 0, 0, 0
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		requests++
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer rc.Close()
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent), MaxInFlight: ptr(1), EventTypes: []string{"training.updated"}})

	// Recording waits: the hourly rollup rows it adds to are held by this transaction.
	_, err := db.Pool.Exec(ctx, `INSERT INTO delivery_hours (hour, succeeded, failed)
		SELECT date_trunc('hour', now()) + make_interval(hours => h), 0, 0 FROM generate_series(0, 1) h ON CONFLICT DO NOTHING`)
	require.NoError(t, err)
	hold, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = hold.Rollback(ctx) }()
	_, err = hold.Exec(ctx, `SELECT 1 FROM delivery_hours WHERE hour >= date_trunc('hour', now()) FOR UPDATE`)
	require.NoError(t, err)

	startRunner(t, db, jobs.Config{})
	ingest(t, db, event("training.updated", "", "", time.Now(), `{}`), event("training.updated", "", "", time.Now(), `{}`),
		event("training.updated", "", "", time.Now(), `{}`))
	waitFor(t, "three messages sent while none is recorded", 20*time.Second, func() bool {
		var sent, recorded int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'delivering'), count(*) FILTER (WHERE state = 'succeeded')
			FROM messages WHERE webhook_id = $1`, w.ID).Scan(&sent, &recorded))
		require.Zero(t, recorded)
		mu.Lock()
		defer mu.Unlock()
		return sent == 3 && requests == 3
	})
	require.NoError(t, hold.Rollback(ctx))
	waitFor(t, "every attempt recorded", 20*time.Second, func() bool {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE webhook_id = $1 AND state = 'succeeded'`, w.ID).Scan(&n))
		return n == 3
	})
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, most, "max_in_flight 1: one request at a time")
}
