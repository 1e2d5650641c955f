package models_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

func newEvent(typ, objectID, key, content string) models.NewEvent {
	h := sha256.Sum256([]byte(typ + objectID + content))
	e := models.NewEvent{Type: typ, Object: models.Ptr("enrolment"), ObjectID: &objectID, OccurredAt: time.Now(),
		Data: []byte(`{"c":"` + content + `"}`), ContentHash: h[:]}
	if key != "" {
		e.IdempotencyKey = &key
	}
	return e
}

// Posts that arrive while a commit is under way share the next transaction, and each is still
// answered on its own: an unknown type, a clashing idempotency key or a bad event in a batch
// refuses that post alone, and a key used twice in one group stores one event.
func TestIngestGroupsPosts(t *testing.T) {
	setup(t)
	ctx := context.Background()
	db, err := models.Open(ctx, dbtest.URL(), 10)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	models.SetIngestCommitters(db, 1)
	field := func(i int, f string) string { return f }
	batchField := func(i int, f string) string { return "events[" + string(rune('0'+i)) + "]." + f }
	tag := models.NewID("")[20:]

	before, err := db.IngestEvents(ctx, []models.NewEvent{newEvent("course.completed", tag+"-pre", tag+"-pre", "x")}, time.Now(), field)
	require.NoError(t, err)

	// Hold the one committer: its first post waits for an idempotency key's lock.
	hold, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = hold.Rollback(ctx) }()
	_, err = hold.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7346))`, tag+"-hold")
	require.NoError(t, err)
	type answer struct {
		evs []models.Event
		err error
	}
	post := func(evs []models.NewEvent, field func(int, string) string) chan answer {
		c := make(chan answer, 1)
		go func() {
			out, err := db.IngestEvents(ctx, evs, time.Now(), field)
			c <- answer{out, err}
		}()
		return c
	}
	held := post([]models.NewEvent{newEvent("course.completed", tag+"-held", tag+"-hold", "x")}, field)
	waitUntil(t, "the committer to wait for the key", func() bool {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'`).Scan(&n))
		return n > 0
	})

	plain := post([]models.NewEvent{newEvent("course.completed", tag+"-a", "", "x")}, field)
	unknown := post([]models.NewEvent{newEvent("no.such.type", tag+"-b", "", "x")}, field)
	first := post([]models.NewEvent{newEvent("course.completed", tag+"-c", tag+"-k1", "x")}, field)
	waitUntil(t, "the first use of the key to queue", func() bool { return models.IngestQueued(db) == 3 })
	again := post([]models.NewEvent{newEvent("course.completed", tag+"-c", tag+"-k1", "x")}, field)
	clash := post([]models.NewEvent{newEvent("course.completed", tag+"-c", tag+"-k1", "other")}, field)
	badBatch := post([]models.NewEvent{newEvent("course.completed", tag+"-f", "", "x"), newEvent("no.such.type", tag+"-f", "", "x")}, batchField)
	repeat := post([]models.NewEvent{newEvent("course.completed", tag+"-pre", tag+"-pre", "x")}, field)
	waitUntil(t, "seven posts to queue", func() bool { return models.IngestQueued(db) == 7 })
	require.NoError(t, hold.Rollback(ctx))

	a := <-held
	require.NoError(t, a.err)
	var ids []string
	a = <-plain
	require.NoError(t, a.err)
	ids = append(ids, a.evs[0].ID)

	a = <-unknown
	var me *models.Error
	require.True(t, errors.As(a.err, &me), "%v", a.err)
	require.Equal(t, models.EINVALID, me.Code)
	require.Contains(t, me.Fields["type"], `"no.such.type" is not a catalogued event type`)

	a = <-first
	require.NoError(t, a.err)
	firstID := a.evs[0].ID
	ids = append(ids, firstID)
	a = <-again
	require.NoError(t, a.err)
	require.Equal(t, firstID, a.evs[0].ID, "a key used twice in one group stores one event")

	a = <-clash
	require.True(t, errors.As(a.err, &me), "%v", a.err)
	require.Equal(t, models.ECONFLICT, me.Code)
	require.Equal(t, "was used for different content", me.Fields["idempotency_key"])

	a = <-badBatch
	require.True(t, errors.As(a.err, &me), "%v", a.err)
	require.Equal(t, map[string]string{"events[1].type": `"no.such.type" is not a catalogued event type; GET /api/v1/event-types lists them.`}, me.Fields)

	a = <-repeat
	require.NoError(t, a.err)
	require.Equal(t, before[0].ID, a.evs[0].ID)

	var stored, txs int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM events WHERE object_id LIKE $1`, tag+"-%").Scan(&stored, &txs))
	require.Equal(t, 4, stored, "the earlier event, the held one, the plain one and the first use of k1; nothing of a refused post")
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM events WHERE id = ANY($1)`, ids).Scan(&txs))
	require.Equal(t, 1, txs, "the posts that waited were stored in one transaction")
}

// A post whose caller has gone while it waited is dropped, and the others are stored.
func TestIngestDropsAbandonedPosts(t *testing.T) {
	setup(t)
	ctx := context.Background()
	db, err := models.Open(ctx, dbtest.URL(), 10)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	models.SetIngestCommitters(db, 1)
	field := func(i int, f string) string { return f }
	tag := models.NewID("")[20:]
	hold, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = hold.Rollback(ctx) }()
	_, err = hold.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7346))`, tag+"-hold")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := db.IngestEvents(ctx, []models.NewEvent{newEvent("course.completed", tag+"-held", tag+"-hold", "x")}, time.Now(), field)
		require.NoError(t, err)
	}()
	waitUntil(t, "the committer to wait for the key", func() bool { return models.IngestQueued(db) == 0 && lockWaits(t, db) > 0 })
	gone, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := db.IngestEvents(gone, []models.NewEvent{newEvent("course.completed", tag+"-gone", "", "x")}, time.Now(), field)
		errc <- err
	}()
	waitUntil(t, "the post to queue", func() bool { return models.IngestQueued(db) == 1 })
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.NoError(t, hold.Rollback(ctx))
	wg.Wait()
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE object_id = $1`, tag+"-gone").Scan(&n))
	require.Zero(t, n)
}

func lockWaits(t *testing.T, db *models.DB) int {
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'`).Scan(&n))
	return n
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A group without idempotency keys is one statement: a post naming an unknown type, alone or
// in a batch, is refused whole, and the others are stored together.
func TestIngestGroupWithoutKeys(t *testing.T) {
	setup(t)
	ctx := context.Background()
	db, err := models.Open(ctx, dbtest.URL(), 10)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	models.SetIngestCommitters(db, 1)
	field := func(i int, f string) string { return f }
	batchField := func(i int, f string) string { return "events[" + string(rune('0'+i)) + "]." + f }
	tag := models.NewID("")[20:]
	hold, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = hold.Rollback(ctx) }()
	_, err = hold.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7346))`, tag+"-hold")
	require.NoError(t, err)
	type answer struct {
		evs []models.Event
		err error
	}
	post := func(evs []models.NewEvent, field func(int, string) string) chan answer {
		c := make(chan answer, 1)
		go func() {
			out, err := db.IngestEvents(ctx, evs, time.Now(), field)
			c <- answer{out, err}
		}()
		return c
	}
	held := post([]models.NewEvent{newEvent("course.completed", tag+"-held", tag+"-hold", "x")}, field)
	waitUntil(t, "the committer to wait for the key", func() bool { return models.IngestQueued(db) == 0 && lockWaits(t, db) > 0 })
	one := post([]models.NewEvent{newEvent("course.completed", tag+"-1", "", "x")}, field)
	unknown := post([]models.NewEvent{newEvent("no.such.type", tag+"-2", "", "x")}, field)
	batch := post([]models.NewEvent{newEvent("course.completed", tag+"-3", "", "x"), newEvent("training.updated", tag+"-3", "", "x")}, batchField)
	badBatch := post([]models.NewEvent{newEvent("course.completed", tag+"-4", "", "x"), newEvent("no.such.type", tag+"-4", "", "x")}, batchField)
	waitUntil(t, "four posts to queue", func() bool { return models.IngestQueued(db) == 4 })
	require.NoError(t, hold.Rollback(ctx))
	require.NoError(t, (<-held).err)

	var me *models.Error
	a := <-unknown
	require.True(t, errors.As(a.err, &me), "%v", a.err)
	require.Equal(t, map[string]string{"type": `"no.such.type" is not a catalogued event type; GET /api/v1/event-types lists them.`}, me.Fields)
	a = <-badBatch
	require.True(t, errors.As(a.err, &me), "%v", a.err)
	require.Equal(t, []string{"events[1].type"}, keys(me.Fields))
	var ids []string
	a = <-one
	require.NoError(t, a.err)
	ids = append(ids, a.evs[0].ID)
	a = <-batch
	require.NoError(t, a.err)
	require.Len(t, a.evs, 2)
	require.Equal(t, []string{"course.completed", "training.updated"}, []string{a.evs[0].Type, a.evs[1].Type})
	ids = append(ids, a.evs[0].ID, a.evs[1].ID)

	var stored, txs int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM events WHERE id = ANY($1)`, ids).Scan(&stored, &txs))
	require.Equal(t, 3, stored)
	require.Equal(t, 1, txs, "stored in one transaction")
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE object_id IN ($1, $2)`, tag+"-2", tag+"-4").Scan(&stored))
	require.Zero(t, stored, "nothing of a refused post")
}
