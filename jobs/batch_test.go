package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

// The window opens with the first pending change and takes in everything that arrives until it
// closes; a change after the flush opens a new window.
func TestBatchWindow(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, nil)
	mustWebhook(t, db, rc.URL, models.WebhookInput{BatchWindow: ptr(1)})
	startRunner(t, db, jobs.Config{})

	first := time.Now()
	ingest(t, db, event("training.updated", "training", "a", first, `{}`))
	ingest(t, db, event("training.updated", "training", "b", time.Now(), `{}`))
	waitFor(t, "the first batch", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
	got := rc.requests()[0]
	var body models.BatchPayload
	require.NoError(t, json.Unmarshal(got.Body, &body))
	require.Len(t, body.Changes, 2, "both changes of the window in one message")
	require.False(t, got.At.Before(first.Add(time.Second)), "sent %s after the first change, before the window closed", got.At.Sub(first))

	second := time.Now()
	ingest(t, db, event("training.updated", "training", "a", second, `{}`))
	waitFor(t, "the second batch", 10*time.Second, func() bool { return len(rc.requests()) == 2 })
	require.False(t, rc.requests()[1].At.Before(second.Add(time.Second)), "a new window opened with the next change")
}

// Many posts for one webhook at once: none waits for another, and none is stranded by a flush
// that ran while it was being committed.
func TestConcurrentIngestOneWebhook(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, nil)
	mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr("event")})
	startRunner(t, db, jobs.Config{Workers: 50})

	const posters, each = 8, 50
	ids := make(chan string, posters*each)
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				out, err := db.IngestEvents(context.Background(),
					[]models.NewEvent{event("course.completed", "course", fmt.Sprintf("c-%d-%d", p, i), time.Now(), `{}`)},
					time.Now(), func(int, string) string { return "" })
				if err != nil {
					t.Error(err)
					return
				}
				ids <- out[0].ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	want := map[string]bool{}
	for id := range ids {
		want[id] = true
	}
	waitFor(t, "every event", 30*time.Second, func() bool { return len(rc.requests()) >= len(want) })
	got := map[string]int{}
	for _, r := range rc.requests() {
		var body models.EventPayload
		require.NoError(t, json.Unmarshal(r.Body, &body))
		got[body.ID]++
	}
	for id := range want {
		require.Equal(t, 1, got[id], "event %s delivered once", id)
	}
	require.Len(t, got, posters*each)
}

// Changes committed by another instance reach this one's worker without any signal from it:
// through the poll, as they would if that instance died right after answering 202.
func TestChangesFromAnotherInstance(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, nil)
	mustWebhook(t, db, rc.URL, models.WebhookInput{})
	startRunner(t, db, jobs.Config{})

	other, err := models.Open(context.Background(), dbtest.URL(), 2)
	require.NoError(t, err)
	defer other.Close()
	ingest(t, other, event("training.updated", "training", "elsewhere", time.Now(), `{}`))
	waitFor(t, "the change posted elsewhere", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
}

// While another transaction holds a webhook (another instance flushing it, a person saving its
// settings), ingestion for it goes on without waiting, the flush reports busy, and the changes
// go out once the webhook is free.
func TestBusyWebhook(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{})
	startRunner(t, db, jobs.Config{})

	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT 1 FROM webhooks WHERE id = $1 FOR NO KEY UPDATE`, w.ID)
	require.NoError(t, err)

	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = db.IngestEvents(quick, []models.NewEvent{event("training.updated", "training", "held", time.Now(), `{}`)},
		time.Now(), func(int, string) string { return "" })
	require.NoError(t, err, "ingestion does not wait for the webhook's row")
	_, _, err = db.FlushBatch(ctx, w.ID, time.Now(), nil)
	require.ErrorIs(t, err, models.ErrBusy)

	require.NoError(t, tx.Rollback(ctx))
	waitFor(t, "the change once the webhook is free", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
}

// An event matches a webhook by type (or all types) and by course (or all courses); paused
// webhooks collect their changes too.
func TestMatching(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	for _, c := range []string{"match-c1", "match-c2"} {
		_, _, err := db.UpsertCourse(ctx, models.System, c, "Course "+c)
		require.NoError(t, err)
	}
	url := "http://127.0.0.1:9/"
	a := mustWebhook(t, db, url, models.WebhookInput{EventTypes: []string{"course.completed"}, Courses: []string{"match-c1"}})
	b := mustWebhook(t, db, url, models.WebhookInput{})
	c := mustWebhook(t, db, url, models.WebhookInput{Courses: []string{"match-c2"}})
	d := mustWebhook(t, db, url, models.WebhookInput{EventTypes: []string{"course.completed", "badge.awarded"}})
	e := mustWebhook(t, db, url, models.WebhookInput{})
	require.NoError(t, db.SetWebhookState(ctx, models.System, e.ID, models.StateChange{State: models.WebhookPaused}))
	names := map[string]string{a.ID: "A", b.ID: "B", c.ID: "C", d.ID: "D", e.ID: "E"}

	withCourse := func(ev models.NewEvent, course string) models.NewEvent {
		if course != "" {
			ev.CourseID = &course
		}
		return ev
	}
	evs := ingest(t, db,
		withCourse(event("course.completed", "", "", time.Now(), `{}`), "match-c1"),
		withCourse(event("course.completed", "", "", time.Now(), `{}`), "match-c2"),
		withCourse(event("badge.awarded", "", "", time.Now(), `{}`), "match-c1"),
		withCourse(event("course.completed", "", "", time.Now(), `{}`), ""),
		withCourse(event("training.updated", "", "", time.Now(), `{}`), "match-c2"),
	)
	want := []string{"ABDE", "BCDE", "BDE", "BDE", "BCE"}
	for i, ev := range evs {
		ds, err := db.FindEventDeliveries(ctx, ev.ID)
		require.NoError(t, err)
		var got []string
		for _, d := range ds {
			if n, ok := names[d.WebhookID]; ok {
				got = append(got, n)
			}
		}
		slices.Sort(got)
		require.Equal(t, want[i], strings.Join(got, ""), "event %d (%s, course %v)", i, ev.Type, ev.CourseID)
	}
}

// A webhook deleted while an event for it is being stored: the post still succeeds, and the
// change goes to the webhooks that remain.
func TestIngestWhileWebhookDeleted(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	doomed := mustWebhook(t, db, "http://127.0.0.1:9/doomed", models.WebhookInput{EventTypes: []string{"badge.awarded"}})
	stays := mustWebhook(t, db, "http://127.0.0.1:9/stays", models.WebhookInput{EventTypes: []string{"badge.awarded"}})

	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, doomed.ID)
	require.NoError(t, err)

	type result struct {
		evs []models.Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		evs, err := db.IngestEvents(ctx, []models.NewEvent{event("badge.awarded", "badge", "b1", time.Now(), `{}`)},
			time.Now(), func(int, string) string { return "" })
		done <- result{evs, err}
	}()
	// The insert waits for the deleting transaction at the foreign-key check.
	waitFor(t, "the insert to wait for the delete", 10*time.Second, func() bool {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO events%'`).Scan(&n))
		return n > 0
	})
	require.NoError(t, tx.Commit(ctx))
	r := <-done
	require.NoError(t, r.err)
	ds, err := db.FindEventDeliveries(ctx, r.evs[0].ID)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, stays.ID, ds[0].WebhookID)
}

// Two instances flush the same webhook at once: the second waits for the first's lock on the
// webhook and, once it has it, must see that the changes were frozen meanwhile. Were it to read
// them with a snapshot taken before the lock was granted, it would freeze them again into
// messages with other webhook-ids, and receivers would get each event twice.
func TestFlushRacingFlush(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	w := mustWebhook(t, db, "http://127.0.0.1:1/unused", models.WebhookInput{Format: ptr(models.FormatEvent)})
	now := time.Now()
	ingest(t, db,
		event("training.updated", "training", "race-1", now, `{}`),
		event("training.updated", "training", "race-2", now, `{}`),
		event("training.updated", "training", "race-3", now, `{}`))

	// A row lock on one change holds the first flush after it has locked the webhook and read
	// the changes, just before it marks them sent.
	hold, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = hold.Rollback(ctx) }()
	_, err = hold.Exec(ctx, `SELECT 1 FROM changes WHERE id = (SELECT min(id) FROM changes WHERE webhook_id = $1) FOR UPDATE`, w.ID)
	require.NoError(t, err)

	waiting := func(n int) func() bool {
		return func() bool {
			var got int
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&got))
			return got == n
		}
	}
	type result struct {
		found bool
		err   error
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go func() { f, _, err := db.FlushBatch(ctx, w.ID, time.Now(), nil); first <- result{f, err} }()
	waitFor(t, "the first flush to wait on the held change", 10*time.Second, waiting(1))
	go func() { f, _, err := db.FlushBatch(ctx, w.ID, time.Now(), nil); second <- result{f, err} }()
	waitFor(t, "the second flush to wait on the first's lock of the webhook", 10*time.Second, waiting(2))
	require.NoError(t, hold.Rollback(ctx))

	a, b := <-first, <-second
	require.NoError(t, a.err)
	require.True(t, a.found, "the first flush froze the changes")
	require.NoError(t, b.err)
	require.False(t, b.found, "the second flush found nothing left to freeze")

	var messages, distinct int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT c.message_id)
		FROM messages m LEFT JOIN changes c ON c.message_id = m.id WHERE m.webhook_id = $1`, w.ID).Scan(&messages, &distinct))
	require.Equal(t, 3, messages, "one message per change, no orphans")
	require.Equal(t, 3, distinct, "every message carries its change")
}

// A flush asked to claim hands its webhook's messages straight to the instance, as far as the
// webhook's cap and the instance's free workers allow: messages already due first, then its
// own, oldest first; the rest wait for a claim. It claims nothing while a claim of another
// instance holds the webhook, nor for ordered and failing webhooks, whose rules look at the
// messages ahead.
func TestFlushClaims(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	const lease = time.Minute
	claim := func(instance string, limit int, answered ...string) *models.DirectClaim {
		return &models.DirectClaim{Instance: instance, Limit: limit, PerWebhook: 20, Lease: lease, Answered: answered}
	}
	// post ingests one event per object, a second apart in occurred_at, and returns their ids.
	post := func(objects ...string) []string {
		var ids []string
		base := time.Now().Add(-time.Hour)
		for i, o := range objects {
			ids = append(ids, ingest(t, db, event("training.updated", "training", o, base.Add(time.Duration(i)*time.Second), `{}`))[0].ID)
		}
		return ids
	}
	flush := func(w *models.Webhook, c *models.DirectClaim) models.Flushed {
		t.Helper()
		found, f, err := db.FlushBatch(ctx, w.ID, time.Now(), c)
		require.NoError(t, err)
		require.True(t, found)
		return f
	}
	// carried says which events the claimed messages carry, in the order they were handed over.
	carried := func(ds []models.Delivery) []string {
		var out []string
		for _, d := range ds {
			var body struct{ ID string }
			require.NoError(t, json.Unmarshal(d.Payload, &body), "the body travels with the claim")
			require.Equal(t, "changes", d.Kind)
			out = append(out, body.ID)
		}
		return out
	}
	// states are the webhook's messages by event carried: state and claimer.
	states := func(w *models.Webhook) map[string]string {
		rows, err := db.Pool.Query(ctx, `
			SELECT c.event_id, m.state || coalesce(' ' || m.claimed_by, '')
			FROM messages m JOIN changes c ON c.message_id = m.id WHERE m.webhook_id = $1
			  AND (m.state <> 'delivering' OR m.lease_until BETWEEN now() + $2 - interval '1 minute' AND now() + $2)`, w.ID, lease)
		require.NoError(t, err)
		out := map[string]string{}
		for rows.Next() {
			var id, s string
			require.NoError(t, rows.Scan(&id, &s))
			out[id] = s
		}
		require.NoError(t, rows.Err())
		return out
	}

	t.Run("RoomOldestFirst", func(t *testing.T) {
		w := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent), MaxInFlight: ptr(3)})
		first := post("r0")
		f := flush(w, claim("ins_a", 1))
		require.Equal(t, first, carried(f.Claimed))
		require.Equal(t, w.URL, f.Claimed[0].Webhook.URL, "with what sending needs of the webhook")
		require.Equal(t, 0, f.Waiting)

		// One in flight for ins_a: of four new ones, the two oldest fit under the cap of three.
		ids := post("r1", "r2", "r3", "r4")
		f = flush(w, claim("ins_b", 10))
		require.Equal(t, ids[:2], carried(f.Claimed))
		require.Equal(t, 2, f.Waiting)
		require.Equal(t, map[string]string{first[0]: "delivering ins_a", ids[0]: "delivering ins_b", ids[1]: "delivering ins_b",
			ids[2]: "pending", ids[3]: "pending"}, states(w))

		// ins_a's request is answered (not recorded yet): its place is free for ins_a alone, and
		// the messages already due go before the flush's own.
		more := post("r5")
		_, err := db.Pool.Exec(ctx, `UPDATE messages SET state = 'succeeded' WHERE id IN (
			SELECT message_id FROM changes WHERE event_id = ANY ($1))`, ids[:1])
		require.NoError(t, err)
		f = flush(w, claim("ins_a", 10, "no-such-message"))
		require.Equal(t, ids[2:3], carried(f.Claimed), "one place: the oldest due message")
		require.Equal(t, 1, f.Waiting)
		require.Equal(t, "pending", states(w)[more[0]])

		// The free workers bound it too.
		_, err = db.Pool.Exec(ctx, `UPDATE messages SET state = 'succeeded' WHERE webhook_id = $1 AND state = 'delivering'`, w.ID)
		require.NoError(t, err)
		latest := post("r6")
		f = flush(w, claim("ins_a", 1))
		require.Equal(t, ids[3:4], carried(f.Claimed))
		require.Equal(t, 1, f.Waiting)
		require.Equal(t, "pending", states(w)[latest[0]])
	})

	t.Run("AnsweredLeaveRoom", func(t *testing.T) {
		w := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent), MaxInFlight: ptr(1)})
		post("a0")
		f := flush(w, claim("ins_a", 1))
		require.Len(t, f.Claimed, 1)
		next := post("a1")
		require.Empty(t, flush(w, claim("ins_a", 5)).Claimed, "the cap of one is taken")
		post("a2")
		require.Empty(t, flush(w, claim("ins_b", 5)).Claimed, "for others, an answered request counts until recorded")
		post("a3")
		require.Equal(t, next, carried(flush(w, claim("ins_a", 5, f.Claimed[0].MessageID)).Claimed),
			"a request answered is off the wire for its instance")
	})

	t.Run("ClaimUnderWay", func(t *testing.T) {
		// A claim of another instance holds the webhook and has taken its one place, not
		// committed yet: the flush must not count the place free.
		w := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent), MaxInFlight: ptr(1)})
		post("c0")
		flush(w, nil)
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7201, hashtext($1))`, w.ID)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `UPDATE messages SET state = 'delivering', claimed_by = 'ins_other' WHERE webhook_id = $1`, w.ID)
		require.NoError(t, err)
		post("c1")
		f := flush(w, claim("ins_a", 5))
		require.Empty(t, f.Claimed)
		require.Equal(t, 1, f.Waiting)
	})

	t.Run("BigFlush", func(t *testing.T) {
		// Storing hundreds of messages under the claims' lock would keep them off the webhook
		// meanwhile: a flush that big leaves them all to the claims.
		w := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent), MaxInFlight: ptr(5)})
		big := make([]string, 101)
		for i := range big {
			big[i] = fmt.Sprintf("b%d", i)
		}
		post(big...)
		f := flush(w, claim("ins_a", 5))
		require.Empty(t, f.Claimed)
		require.Equal(t, 101, f.Waiting)
		post(big[:100]...)
		require.Len(t, flush(w, claim("ins_a", 5)).Claimed, 5, "a hundred is not too many")
	})

	t.Run("OrderedAndFailing", func(t *testing.T) {
		ordered := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent), Ordered: ptr(true)})
		post("o0")
		require.Empty(t, flush(ordered, claim("ins_a", 5)).Claimed)
		failing := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent)})
		_, err := db.Pool.Exec(ctx, `UPDATE webhooks SET failing_since = now() WHERE id = $1`, failing.ID)
		require.NoError(t, err)
		post("f0")
		require.Empty(t, flush(failing, claim("ins_a", 5)).Claimed)
		// Nor with no workers free, or none asked for.
		plain := mustWebhook(t, db, rc.URL, models.WebhookInput{Format: ptr(models.FormatEvent)})
		post("p0")
		require.Empty(t, flush(plain, claim("ins_a", 0)).Claimed)
		post("p1")
		require.Empty(t, flush(plain, nil).Claimed)
	})
}
