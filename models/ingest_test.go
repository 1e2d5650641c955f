package models_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/jackc/pgx/v5"
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

// heldIngester is a database handle with one committer, held busy: its first post waits for an
// idempotency key's lock until release, so that the posts after it queue up and form one group.
type heldIngester struct {
	db      *models.DB
	tag     string // distinguishes this test's objects and keys
	release func()
	held    chan answer
}

type answer struct {
	evs []models.Event
	err error
}

var (
	field      = func(i int, f string) string { return f }
	batchField = func(i int, f string) string { return "events[" + string(rune('0'+i)) + "]." + f }
)

// newHeldIngester calls prepare, if any, with the handle before holding its committer.
func newHeldIngester(t *testing.T, prepare func(h *heldIngester)) *heldIngester {
	setup(t)
	ctx := context.Background()
	db, err := models.Open(ctx, dbtest.URL(), 10)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	models.SetIngestCommitters(db, 1)
	h := &heldIngester{db: db, tag: models.NewID("")[20:]}
	if prepare != nil {
		prepare(h)
	}
	hold, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = hold.Rollback(ctx) })
	_, err = hold.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7346))`, h.tag+"-hold")
	require.NoError(t, err)
	h.release = func() { require.NoError(t, hold.Rollback(ctx)) }
	h.held = h.post(context.Background(), []models.NewEvent{newEvent("course.completed", h.tag+"-held", h.tag+"-hold", "x")}, field)
	waitUntil(t, "the committer to wait for the key", func() bool { return models.IngestQueued(db) == 0 && lockWaits(t, db) > 0 })
	return h
}

func (h *heldIngester) post(ctx context.Context, evs []models.NewEvent, field func(int, string) string) chan answer {
	c := make(chan answer, 1)
	go func() {
		out, err := h.db.IngestEvents(ctx, evs, time.Now(), field)
		c <- answer{out, err}
	}()
	return c
}

// Posts that arrive while a commit is under way share the next transaction, and each is still
// answered on its own: an unknown type, a clashing idempotency key or a bad event in a batch
// refuses that post alone, and a key used twice in one group stores one event.
func TestIngestGroupsPosts(t *testing.T) {
	ctx := context.Background()
	var before []models.Event
	h := newHeldIngester(t, func(h *heldIngester) {
		var err error
		before, err = h.db.IngestEvents(ctx, []models.NewEvent{newEvent("course.completed", h.tag+"-pre", h.tag+"-pre", "x")}, time.Now(), field)
		require.NoError(t, err)
	})
	db, tag := h.db, h.tag
	post := func(evs []models.NewEvent, field func(int, string) string) chan answer {
		return h.post(ctx, evs, field)
	}

	plain := post([]models.NewEvent{newEvent("course.completed", tag+"-a", "", "x")}, field)
	unknown := post([]models.NewEvent{newEvent("no.such.type", tag+"-b", "", "x")}, field)
	first := post([]models.NewEvent{newEvent("course.completed", tag+"-c", tag+"-k1", "x")}, field)
	waitUntil(t, "the first use of the key to queue", func() bool { return models.IngestQueued(db) == 3 })
	again := post([]models.NewEvent{newEvent("course.completed", tag+"-c", tag+"-k1", "x")}, field)
	clash := post([]models.NewEvent{newEvent("course.completed", tag+"-c", tag+"-k1", "other")}, field)
	badBatch := post([]models.NewEvent{newEvent("course.completed", tag+"-f", "", "x"), newEvent("no.such.type", tag+"-f", "", "x")}, batchField)
	repeat := post([]models.NewEvent{newEvent("course.completed", tag+"-pre", tag+"-pre", "x")}, field)
	waitUntil(t, "seven posts to queue", func() bool { return models.IngestQueued(db) == 7 })
	h.release()

	a := <-h.held
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
	ctx := context.Background()
	h := newHeldIngester(t, nil)
	db, tag := h.db, h.tag
	gone, cancel := context.WithCancel(ctx)
	abandoned := h.post(gone, []models.NewEvent{newEvent("course.completed", tag+"-gone", "", "x")}, field)
	waitUntil(t, "the post to queue", func() bool { return models.IngestQueued(db) == 1 })
	cancel()
	require.ErrorIs(t, (<-abandoned).err, context.Canceled)
	h.release()
	require.NoError(t, (<-h.held).err)
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
	ctx := context.Background()
	h := newHeldIngester(t, nil)
	db, tag := h.db, h.tag
	post := func(evs []models.NewEvent, field func(int, string) string) chan answer {
		return h.post(ctx, evs, field)
	}
	one := post([]models.NewEvent{newEvent("course.completed", tag+"-1", "", "x")}, field)
	unknown := post([]models.NewEvent{newEvent("no.such.type", tag+"-2", "", "x")}, field)
	batch := post([]models.NewEvent{newEvent("course.completed", tag+"-3", "", "x"), newEvent("training.updated", tag+"-3", "", "x")}, batchField)
	badBatch := post([]models.NewEvent{newEvent("course.completed", tag+"-4", "", "x"), newEvent("no.such.type", tag+"-4", "", "x")}, batchField)
	waitUntil(t, "four posts to queue", func() bool { return models.IngestQueued(db) == 4 })
	h.release()
	require.NoError(t, (<-h.held).err)

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

// A keyless group's statement runs in a transaction of its own with a generic plan: its rows
// are committed once read, the setting ends with it, and a failed statement leaves no
// transaction open on the pooled connection.
func TestGenericPlanStatement(t *testing.T) {
	ctx := context.Background()
	// One connection, so that a leaked setting or transaction would meet the next statement.
	db, err := models.Open(ctx, dbtest.URL(), 1)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Pool.Exec(ctx, `CREATE TABLE generic_probe (n int PRIMARY KEY)`)
	require.NoError(t, err)

	rows, err := models.QueryGenericPlan(db, ctx, `INSERT INTO generic_probe SELECT unnest($1::int[]) RETURNING n, current_setting('plan_cache_mode')`, []int32{1, 2})
	require.NoError(t, err)
	var modes []string
	for rows.Next() {
		var n int
		var mode string
		require.NoError(t, rows.Scan(&n, &mode))
		modes = append(modes, mode)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"force_generic_plan", "force_generic_plan"}, modes)

	var committed int
	var mode string
	other := dbtest.DB(t)
	require.NoError(t, other.Pool.QueryRow(ctx, `SELECT count(*) FROM generic_probe`).Scan(&committed))
	require.Equal(t, 2, committed, "the rows read are committed")
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT current_setting('plan_cache_mode')`).Scan(&mode))
	require.Equal(t, "auto", mode, "the setting ends with the statement's transaction")

	// A duplicate key fails the statement: nothing of it stays, and the pool works on.
	rows, err = models.QueryGenericPlan(db, ctx, `INSERT INTO generic_probe SELECT unnest($1::int[]) RETURNING n`, []int32{3, 1})
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
	}
	require.Error(t, err)
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*), current_setting('plan_cache_mode') FROM generic_probe`).Scan(&committed, &mode))
	require.Equal(t, 2, committed)
	require.Equal(t, "auto", mode)
}

// A flush that finds a change no longer pending when it marks it (another flush froze it in
// the meantime) fails whole: no message, and the other changes stay pending.
func TestFlushRefusesChangesNoLongerPending(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	h := mustWebhook(t, db, mustPartner(t, db).ID, "")
	tag := models.NewID("")[20:]
	_, err := db.IngestEvents(ctx, []models.NewEvent{newEvent("course.completed", tag+"-1", "", "a"), newEvent("course.completed", tag+"-2", "", "b")},
		time.Now(), func(i int, f string) string { return f })
	require.NoError(t, err)
	rows, err := db.Pool.Query(ctx, `SELECT id FROM changes WHERE webhook_id = $1 ORDER BY id`, h.ID)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.Len(t, ids, 2)
	_, err = db.Pool.Exec(ctx, `UPDATE changes SET state = 'dropped' WHERE id = $1`, ids[1])
	require.NoError(t, err)

	err = models.CommitFlush(db, ctx, h.ID, ids, time.Now())
	require.ErrorContains(t, err, "changes were no longer pending")
	n, err := db.CountMessages(ctx, h.ID)
	require.NoError(t, err)
	require.Zero(t, n, "nothing of the flush stays")
	var state string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT state FROM changes WHERE id = $1`, ids[0]).Scan(&state))
	require.Equal(t, "pending", state)

	// The same flush of the changes still pending goes through.
	require.NoError(t, models.CommitFlush(db, ctx, h.ID, ids[:1], time.Now()))
	n, err = db.CountMessages(ctx, h.ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}
