package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
)

func TestDeliverSigned(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, nil)
	w := mustWebhook(t, db, rc.URL+"/hooks", models.WebhookInput{})
	secretSecrets, err := db.RevealWebhookSecret(context.Background(), models.System, w.ID)
	require.NoError(t, err)
	secret := secretSecrets.Current
	startRunner(t, db, jobs.Config{})

	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	evs := ingest(t, db, event("training.updated", "training", "345345", at, `{"title":"New Student Orientation"}`))
	waitFor(t, "the delivery", 10*time.Second, func() bool { return len(rc.requests()) == 1 })

	got := rc.requests()[0]
	require.Equal(t, "POST", got.Method)
	require.Equal(t, "/hooks", got.Path)
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.Equal(t, "hookrelay/test", got.Header.Get("User-Agent"))
	require.True(t, strings.HasPrefix(got.Header.Get("webhook-id"), "msg_"))

	// A library no one here wrote must accept the signature.
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(got.Body, got.Header))

	var body models.BatchPayload
	require.NoError(t, json.Unmarshal(got.Body, &body))
	require.Equal(t, got.Header.Get("webhook-id"), body.ID)
	require.Equal(t, "changes", body.Type)
	require.Len(t, body.Changes, 1)
	c := body.Changes[0]
	require.Equal(t, evs[0].ID, c.EventID)
	require.Equal(t, "training.updated", c.Type)
	require.Equal(t, "345345", *c.ObjectID)
	require.Equal(t, at, c.OccurredAt)
	require.JSONEq(t, `{"title":"New Student Orientation"}`, string(c.Data))

	waitFor(t, "the message to succeed", 5*time.Second, func() bool {
		m, err := db.FindMessageByID(context.Background(), body.ID)
		return err == nil && m.State == models.MessageSucceeded
	})
	attempts, err := db.FindAttempts(context.Background(), body.ID)
	require.NoError(t, err)
	require.Len(t, attempts, 1)
	require.Equal(t, 200, *attempts[0].ResponseStatus)
	require.JSONEq(t, `{"ok":true}`, string(attempts[0].ResponseBody))
	require.Contains(t, string(attempts[0].RequestHeaders), "v1,")
}

func TestDeliverDuringRotation(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, nil)
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{})
	before, err := db.RevealWebhookSecret(context.Background(), models.System, w.ID)
	require.NoError(t, err)
	old := before.Current
	rotated, err := db.RotateWebhookSecret(context.Background(), models.System, w.ID)
	require.NoError(t, err)
	fresh := rotated.Current
	require.NotEqual(t, old, fresh)
	w, err = db.FindWebhookByID(context.Background(), w.ID)
	require.NoError(t, err)
	after, err := db.RevealWebhookSecret(context.Background(), models.System, w.ID)
	require.NoError(t, err)
	require.Equal(t, fresh, after.Current)
	require.Equal(t, old, after.Previous)

	startRunner(t, db, jobs.Config{})
	ingest(t, db, event("course.completed", "", "", time.Now(), `{}`))
	waitFor(t, "the delivery", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
	got := rc.requests()[0]
	require.Len(t, strings.Fields(got.Header.Get("webhook-signature")), 2, "two signatures during the overlap")
	for _, s := range []string{old, fresh} {
		wh, err := standardwebhooks.NewWebhook(s)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(got.Body, got.Header), "a receiver holding either secret accepts it")
	}
	other, err := standardwebhooks.NewWebhook(models.GenerateSecret())
	require.NoError(t, err)
	require.Error(t, other.Verify(got.Body, got.Header), "a wrong secret is refused")
}

func TestRetrySchedule(t *testing.T) { checkRetrySchedule(t, testDB(t)) }

// A paused webhook's backlog is due but not to be sent: it must not blind the worker to when
// the next real attempt is due (it would wait for its poll instead, late every time).
func TestRetryScheduleBesidePausedBacklog(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	p := mustWebhook(t, db, "http://127.0.0.1:9/paused", models.WebhookInput{})
	require.NoError(t, db.SetWebhookState(ctx, models.System, p.ID, models.StateChange{State: models.WebhookPaused}))
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO messages (id, webhook_id, kind, state, payload, next_attempt_at)
		SELECT 'msg_paused_' || i, $1, 'changes', 'pending', '{}', now() - interval '1 hour' FROM generate_series(1, 3) i`, p.ID)
	require.NoError(t, err)
	checkRetrySchedule(t, db)
}

func checkRetrySchedule(t *testing.T, db *models.DB) {
	rc := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{})
	policy := jobs.RetryPolicy{Base: 40 * time.Millisecond, Max: 320 * time.Millisecond, Count: 10}
	// A poll far longer than any gap: a worker that waited for its poll instead of the next due
	// time would make each retry seconds late, which no busy machine explains.
	poll := 4 * time.Second
	startRunner(t, db, jobs.Config{Retry: policy, PollInterval: poll})
	ingest(t, db, event("course.completed", "", "", time.Now(), `{}`))

	waitFor(t, "11 attempts", 30*time.Second, func() bool { return len(rc.requests()) >= 11 })
	var msgID string
	waitFor(t, "the message to fail", 5*time.Second, func() bool {
		ms, _, err := db.FindMessages(context.Background(), models.MessageFilter{WebhookID: w.ID})
		require.NoError(t, err)
		if len(ms) == 1 {
			msgID = ms[0].ID
		}
		return len(ms) == 1 && ms[0].State == models.MessageFailed
	})
	got := rc.requests()
	require.Len(t, got, 11, "one attempt and 10 retries, then no more")
	want := []time.Duration{40, 80, 160, 320, 320, 320, 320, 320, 320, 320}
	for i := 1; i < len(got); i++ {
		gap := got[i].At.Sub(got[i-1].At)
		exp := want[i-1] * time.Millisecond
		require.Equal(t, got[0].Header.Get("webhook-id"), got[i].Header.Get("webhook-id"), "same webhook-id on every retry")
		require.Equal(t, string(got[0].Body), string(got[i].Body), "same body on every retry")
		// Never early (jitter shortens by at most 10 %)...
		require.GreaterOrEqual(t, gap, exp*9/10, "retry %d came %s after the previous, want about %s", i, gap, exp)
		// ...and on time rather than at the next poll.
		require.Less(t, gap, exp+poll/2, "retry %d came %s after the previous, want about %s", i, gap, exp)
	}
	m, err := db.FindMessageByID(context.Background(), msgID)
	require.NoError(t, err)
	require.Equal(t, 11, m.AttemptCount)
	require.Nil(t, m.NextAttemptAt)
	require.Equal(t, 500, *m.LastStatus)
}

func TestRetryPolicyRealSchedule(t *testing.T) {
	p := jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 10}
	want := []time.Duration{20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600}
	var total time.Duration
	start := time.Now()
	prev := start
	for n := 1; n <= 10; n++ {
		next, ok := p.Next(n, prev)
		require.True(t, ok)
		gap := next.Sub(prev)
		exp := want[n-1] * time.Second
		require.LessOrEqual(t, gap, exp)
		require.GreaterOrEqual(t, gap, exp*9/10)
		total += gap
		prev = next
	}
	_, ok := p.Next(11, prev)
	require.False(t, ok)
	require.InDelta(t, (3*time.Hour + 25*time.Minute).Seconds(), total.Seconds(), 0.1*total.Seconds(), "about 3 h 25 min in all")
}

func TestStatusOutcomes(t *testing.T) {
	sender := jobs.NewSender(testSealer, "test", 300*time.Millisecond, true)
	send := func(url string) models.AttemptResult {
		return sender.Send(context.Background(), jobs.Request{MessageID: "msg_x", URL: url, Method: "POST", Body: []byte(`{}`), Secrets: []string{models.GenerateSecret()}})
	}
	for _, tc := range []struct {
		status  int
		success bool
	}{{200, true}, {204, true}, {302, true}, {308, true}, {309, false}, {400, false}, {500, false}} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status >= 300 && tc.status < 400 {
					w.Header().Set("Location", "http://10.0.0.1/internal")
				}
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			res := send(srv.URL)
			require.Equal(t, tc.success, res.Success)
			require.Equal(t, tc.status, res.Status)
			if tc.status >= 300 && tc.status <= 308 {
				require.Contains(t, res.Error, "redirect, not followed")
			}
		})
	}
	t.Run("Timeout", func(t *testing.T) {
		block := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
		defer srv.Close()
		defer close(block)
		res := send(srv.URL)
		require.False(t, res.Success)
		require.Zero(t, res.Status)
		require.Contains(t, res.Error, "timed out")
	})
	t.Run("Refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		res := send("http://" + addr)
		require.False(t, res.Success)
		require.Contains(t, res.Error, "refused")
	})
	t.Run("HugeBody", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("x", 1<<20))
			for range 100 { // 100 MB, which must not be read in full
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		res := send(srv.URL)
		require.True(t, res.Success)
		require.True(t, res.Truncated)
		require.Len(t, res.ResponseBody, jobs.MaxResponseBody)
	})
	t.Run("HugeHeaders", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := range 100 { // 100 headers of 10 KB
				w.Header().Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat("y", 10<<10))
			}
		}))
		defer srv.Close()
		res := send(srv.URL)
		require.False(t, res.Success, "an answer whose headers alone pass 64 KiB is not kept, nor counted")
		require.Contains(t, res.Error, "headers")
	})
	t.Run("PrivateTargetRefusedAtConnect", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the request must not arrive") }))
		defer srv.Close()
		guarded := jobs.NewSender(testSealer, "test", time.Second, false)
		res := guarded.Send(context.Background(), jobs.Request{MessageID: "msg_x", URL: srv.URL, Body: []byte(`{}`), Secrets: []string{models.GenerateSecret()}})
		require.False(t, res.Success)
		require.Contains(t, res.Error, "not public")
	})
}

func TestDeduplication(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, nil)
	mustWebhook(t, db, rc.URL, models.WebhookInput{BatchWindow: ptr(1)})
	startRunner(t, db, jobs.Config{})

	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var evs []models.NewEvent
	for i := range 50 {
		obj := fmt.Sprintf("obj-%d", i%10)
		// Out of order on purpose: the latest is decided by occurred_at.
		at := base.Add(time.Duration((i*7)%50) * time.Second)
		evs = append(evs, event("training.updated", "training", obj, at, fmt.Sprintf(`{"n":%d}`, i)))
	}
	stored := ingest(t, db, evs[:25]...)
	stored = append(stored, ingest(t, db, evs[25:]...)...)

	waitFor(t, "the batch", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
	var body models.BatchPayload
	require.NoError(t, json.Unmarshal(rc.requests()[0].Body, &body))
	require.Len(t, body.Changes, 10)

	latest := map[string]int{}
	for i, e := range evs {
		j, ok := latest[*e.ObjectID]
		if !ok || e.OccurredAt.After(evs[j].OccurredAt) {
			latest[*e.ObjectID] = i
		}
	}
	for k, c := range body.Changes {
		i := latest[*c.ObjectID]
		require.Equal(t, stored[i].ID, c.EventID, "object %s carries its latest change", *c.ObjectID)
		if k > 0 {
			require.False(t, c.OccurredAt.Before(body.Changes[k-1].OccurredAt), "ordered by occurred_at")
		}
	}
	superseded := 0
	for i, e := range stored {
		ds, err := db.FindEventDeliveries(context.Background(), e.ID)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		if ds[0].State == "superseded" {
			superseded++
			require.Equal(t, stored[latest[*evs[i].ObjectID]].ID, *ds[0].SupersededBy)
		} else {
			require.Equal(t, "sent", ds[0].State)
			require.Equal(t, body.ID, *ds[0].MessageID)
		}
	}
	require.Equal(t, 40, superseded)
}

func TestEventFormat(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, nil)
	mustWebhook(t, db, rc.URL+"/base", models.WebhookInput{Format: ptr("event"), AppendEventType: ptr(true), Method: ptr("PUT"),
		BasicAuthUser: ptr("lms"), BasicAuthPassword: ptr("s3cret pass"), EventTypes: []string{"badge.awarded", "course.completed"}})
	startRunner(t, db, jobs.Config{})
	ingest(t, db,
		event("badge.awarded", "badge", "b1", time.Now(), `{"badge":"gold"}`),
		event("course.completed", "course", "c1", time.Now(), `{}`),
		event("training.updated", "training", "t1", time.Now(), `{}`), // not subscribed
	)
	waitFor(t, "two deliveries", 10*time.Second, func() bool { return len(rc.requests()) == 2 })
	paths := map[string]bool{}
	for _, r := range rc.requests() {
		require.Equal(t, "PUT", r.Method)
		paths[r.Path] = true
		user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth()
		require.True(t, ok)
		require.Equal(t, "lms", user)
		require.Equal(t, "s3cret pass", pass)
		var body models.EventPayload
		require.NoError(t, json.Unmarshal(r.Body, &body))
		require.True(t, strings.HasPrefix(body.ID, "evt_"), "the event body's id is the event id")
		require.NotEqual(t, body.ID, r.Header.Get("webhook-id"))
	}
	require.Equal(t, map[string]bool{"/base/badge.awarded": true, "/base/course.completed": true}, paths)
}

func TestMaxChangesSplit(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, nil)
	mustWebhook(t, db, rc.URL, models.WebhookInput{MaxChanges: ptr(4), BatchWindow: ptr(1)})
	startRunner(t, db, jobs.Config{})
	var evs []models.NewEvent
	for i := range 10 {
		evs = append(evs, event("course.completed", "", "", time.Now(), fmt.Sprintf(`{"n":%d}`, i)))
	}
	ingest(t, db, evs...)
	waitFor(t, "three messages", 10*time.Second, func() bool { return len(rc.requests()) == 3 })
	total := 0
	for _, r := range rc.requests() {
		var body models.BatchPayload
		require.NoError(t, json.Unmarshal(r.Body, &body))
		require.LessOrEqual(t, len(body.Changes), 4)
		total += len(body.Changes)
	}
	require.Equal(t, 10, total, "changes without an object are never collapsed")
}

func TestPausedWebhookKeepsChanges(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{})
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookPaused, Reason: "maintenance"}))
	startRunner(t, db, jobs.Config{})

	for i := range 3 {
		ingest(t, db, event("training.updated", "training", "same", time.Now().Add(time.Duration(i)*time.Second), fmt.Sprintf(`{"v":%d}`, i)))
	}
	ingest(t, db, event("training.updated", "training", "other", time.Now(), `{}`))
	require.Empty(t, rc.requests())

	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookActive, Backlog: models.BacklogDeliver}))
	waitFor(t, "the backlog", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
	var body models.BatchPayload
	require.NoError(t, json.Unmarshal(rc.requests()[0].Body, &body))
	require.Len(t, body.Changes, 2, "collapsed per object")
	for _, c := range body.Changes {
		if *c.ObjectID == "same" {
			require.JSONEq(t, `{"v":2}`, string(c.Data), "the latest change of the object")
		}
	}

	t.Run("Drop", func(t *testing.T) {
		require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookPaused}))
		evs := ingest(t, db, event("training.updated", "training", "x", time.Now(), `{}`))
		require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookActive, Backlog: models.BacklogDrop}))
		ds, err := db.FindEventDeliveries(ctx, evs[0].ID)
		require.NoError(t, err)
		require.Equal(t, "dropped", ds[0].State)
	})
}

// hangingServer never answers: each request waits until the client gives up, or until the
// test defers release (before the runner's clean-up, which waits for requests in flight).
func hangingServer(t *testing.T) (srv *httptest.Server, release func()) {
	done := make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() { close(done) }
}

func TestSlowReceiverDoesNotHoldUpOthers(t *testing.T) {
	db := testDB(t)
	slow, release := hangingServer(t)
	defer release()
	fast := newReceiver(t, nil)
	mustWebhook(t, db, slow.URL, models.WebhookInput{Format: ptr("event"), EventTypes: []string{"test.completed"}})
	mustWebhook(t, db, fast.URL, models.WebhookInput{EventTypes: []string{"badge.awarded"}})
	// The timeout is far longer than the wait below: without the cap the slow webhook would
	// hold all 6 workers until it, and the fast delivery could not come in time.
	startRunner(t, db, jobs.Config{Workers: 6, PerWebhook: 3, Timeout: time.Minute})

	var evs []models.NewEvent
	for range 30 {
		evs = append(evs, event("test.completed", "", "", time.Now(), `{}`))
	}
	ingest(t, db, evs...) // 30 messages to a receiver that never answers in time
	ingest(t, db, event("badge.awarded", "", "", time.Now(), `{}`))
	waitFor(t, "the fast receiver's delivery while the slow one hangs", 15*time.Second, func() bool { return len(fast.requests()) == 1 })
}

// Several receivers that hang, each with a backlog, would take every worker if each kept its
// full share in flight. Once a webhook's delivery fails it gets one request at a time, until
// one succeeds, so the others' deliveries go on.
func TestHungReceiversDoNotStarveOthers(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	// Each webhook's first three requests fail at once (which marks it failing), the later ones
	// hang until the test ends: only the one-at-a-time rule for failing webhooks keeps their
	// backlogs from taking every worker for the whole timeout.
	done := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]int{}
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		n := seen[r.URL.Path]
		mu.Unlock()
		if n <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	defer close(done)
	var hooks []*models.Webhook
	for i := range 3 {
		hooks = append(hooks, mustWebhook(t, db, fmt.Sprintf("%s/%d", hung.URL, i), models.WebhookInput{Format: ptr("event"), EventTypes: []string{"test.completed"}}))
	}
	fast := newReceiver(t, nil)
	mustWebhook(t, db, fast.URL, models.WebhookInput{EventTypes: []string{"badge.awarded"}})
	// 3 webhooks × 3 in flight would fill the 6 workers for the whole (long) timeout.
	startRunner(t, db, jobs.Config{Workers: 6, PerWebhook: 3, Timeout: time.Minute})

	var evs []models.NewEvent
	for range 40 {
		evs = append(evs, event("test.completed", "", "", time.Now(), `{}`))
	}
	ingest(t, db, evs...)
	waitFor(t, "the hung webhooks to be marked failing", 10*time.Second, func() bool {
		for _, h := range hooks {
			got, err := db.FindWebhookByID(ctx, h.ID)
			require.NoError(t, err)
			if got.FailingSince == nil {
				return false
			}
		}
		return true
	})
	ingest(t, db, event("badge.awarded", "", "", time.Now(), `{}`))
	// With the hung webhooks at one request each, three workers are free: the delivery goes
	// at once rather than after a minute's timeout.
	waitFor(t, "the healthy receiver's delivery", 15*time.Second, func() bool { return len(fast.requests()) == 1 })

	// A success clears the mark: the receiver fails once, then the retry succeeds.
	flaky := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	fh := mustWebhook(t, db, flaky.URL, models.WebhookInput{EventTypes: []string{"course.completed"}})
	ingest(t, db, event("course.completed", "", "", time.Now(), `{}`))
	waitFor(t, "the retry", 10*time.Second, func() bool { return len(flaky.requests()) == 2 })
	waitFor(t, "the mark to clear", 10*time.Second, func() bool {
		got, err := db.FindWebhookByID(ctx, fh.ID)
		require.NoError(t, err)
		return got.FailingSince == nil
	})
}

// A webhook deleted while one of its messages is in flight: the attempt has nowhere to go, and
// must not take the other attempts recorded with it down too (they would be sent again).
func TestRecordAfterWebhookDeleted(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	gone := mustWebhook(t, db, "http://127.0.0.1:9/gone", models.WebhookInput{})
	kept := mustWebhook(t, db, "http://127.0.0.1:9/kept", models.WebhookInput{})
	now := time.Now()
	var outcomes []models.AttemptOutcome
	for _, w := range []*models.Webhook{gone, kept} {
		m, err := db.CreateTestMessage(ctx, models.NewID("msg_"), w.ID, "course.completed", []byte(`{}`), "", now)
		require.NoError(t, err)
		outcomes = append(outcomes, models.AttemptOutcome{AttemptResult: models.AttemptResult{MessageID: m.ID, WebhookID: w.ID,
			Trigger: models.TriggerTest, StartedAt: now, URL: w.URL, Method: "POST", Status: 200, Success: true}})
	}
	require.NoError(t, db.DeleteWebhook(ctx, models.System, gone.ID))
	require.NoError(t, db.RecordAttempts(ctx, outcomes))
	as, err := db.FindAttempts(ctx, outcomes[1].MessageID)
	require.NoError(t, err)
	require.Len(t, as, 1, "the other webhook's attempt is recorded")
}

// The event's data goes out as it came: keys in their order, numbers as written.
func TestDataDeliveredAsItCame(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, nil)
	mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr("event"), EventTypes: []string{"badge.awarded"}})
	startRunner(t, db, jobs.Config{})
	ingest(t, db, event("badge.awarded", "badge", "b-as-posted", time.Now(), `{"z": 1, "a": {"y": 2, "b": [3, 1.50]}, "n": 1e2, "big": 12345678901234567890}`))
	waitFor(t, "the delivery", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
	require.Contains(t, string(rc.requests()[0].Body), `"data":{"z":1,"a":{"y":2,"b":[3,1.50]},"n":1e2,"big":12345678901234567890}`)
}
