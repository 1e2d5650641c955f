package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Ingestion commits concurrent posts together. One commit per request made PostgreSQL's WAL
// flush the ceiling of the one-event-per-request shape (each request waited for its own flush),
// so requests that arrive while a commit is under way share the next transaction, and each
// caller returns only after that transaction commits. A request alone is committed at once: a
// group forms only from requests that would otherwise wait.
const (
	// ingestCommitters is how many groups may be committing at the same time: two, so that
	// one large batch does not hold up the single posts behind it. More commit smaller groups
	// (BenchmarkIngestConcurrent: 32 at once one event each, about 9 times the events per
	// second with 2 committers as with 32).
	ingestCommitters = 2
	// maxGroupEvents bounds a group's statement; a request larger than this is a group alone.
	maxGroupEvents = 1000
)

// ingestReq is one caller's events on their way into a shared transaction.
type ingestReq struct {
	ctx       context.Context
	evs       []NewEvent
	now       time.Time
	fieldName func(i int, field string) string

	out  []Event
	err  error
	done chan struct{}
}

func (r *ingestReq) finish(out []Event, err error) {
	r.out, r.err = out, err
	close(r.done)
}

// ingester feeds the committers.
type ingester struct {
	committers int // 0: ingestCommitters
	once       sync.Once
	reqs       chan *ingestReq
	quit       chan struct{}
}

// IngestEvents stores events and records a change for every webhook that wants each, all in
// one transaction that may be shared with other callers': when it returns without error,
// everything is committed. Another caller's invalid events never fail these. Events repeated
// under an idempotency key come back as first stored. fieldName names the field of event i in
// validation errors.
func (db *DB) IngestEvents(ctx context.Context, evs []NewEvent, now time.Time, fieldName func(i int, field string) string) ([]Event, error) {
	db.ingest.once.Do(func() {
		// Buffered: a request waits here, not in a blocked goroutine, until a committer is free.
		db.ingest.reqs = make(chan *ingestReq, 4096)
		db.ingest.quit = make(chan struct{})
		n := db.ingest.committers
		if n <= 0 {
			n = ingestCommitters
		}
		for range n {
			go db.commitLoop()
		}
	})
	req := &ingestReq{ctx: ctx, evs: evs, now: now, fieldName: fieldName, done: make(chan struct{})}
	select {
	case db.ingest.reqs <- req:
	case <-ctx.Done():
		return nil, fmt.Errorf("storing events: %w", ctx.Err())
	case <-db.ingest.quit:
		return nil, errors.New("storing events: the database is closed")
	}
	select {
	case <-req.done:
		return req.out, req.err
	case <-ctx.Done():
		// The group goes on without this caller; what it stores is stored, as when a client
		// goes away during its commit.
		return nil, fmt.Errorf("storing events: %w", ctx.Err())
	}
}

// stopIngest ends the committers once their groups are done.
func (db *DB) stopIngest() {
	db.ingest.once.Do(func() { db.ingest.quit = make(chan struct{}) })
	close(db.ingest.quit)
}

// commitLoop takes a request, adds every other that is already waiting (up to maxGroupEvents
// events in all), and commits them together.
func (db *DB) commitLoop() {
	var carry *ingestReq
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-db.ingest.reqs:
			case <-db.ingest.quit:
				return
			}
		}
		group, n := []*ingestReq{first}, len(first.evs)
	collect:
		for n < maxGroupEvents {
			select {
			case r := <-db.ingest.reqs:
				if n+len(r.evs) > maxGroupEvents {
					carry = r
					break collect
				}
				group, n = append(group, r), n+len(r.evs)
			default:
				break collect
			}
		}
		db.commitGroup(group)
	}
}

// commitGroup stores a group and answers each of its callers.
func (db *DB) commitGroup(group []*ingestReq) {
	live := group[:0:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.finish(nil, fmt.Errorf("storing events: %w", err))
		} else {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	// The group's own deadline: one caller going away must not abort the others' commit.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results, opened, err := db.storeGroup(ctx, live)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" && pgErr.ConstraintName == "changes_webhook_id_fkey" {
		// A webhook was deleted while the statement ran: nothing was stored, and a second try
		// no longer finds it.
		results, opened, err = db.storeGroup(ctx, live)
	}
	if err != nil && len(live) > 1 {
		// Something the checks before the insert could not see (an event type deleted under
		// it): each request on its own, so that only the one concerned fails.
		for _, r := range live {
			db.commitGroup([]*ingestReq{r})
		}
		return
	}
	if err != nil {
		r := live[0]
		if errors.As(err, &pgErr) && pgErr.Code == "23503" && pgErr.ConstraintName == "events_type_fkey" {
			if verr := db.checkEventTypes(ctx, r.evs, r.fieldName); verr != nil {
				err = verr
			}
		}
		r.finish(nil, err)
		return
	}
	db.announce(opened)
	for i, r := range live {
		if results[i].err != nil {
			r.finish(nil, results[i].err)
		} else {
			r.finish(results[i].out, nil)
		}
	}
}

type groupResult struct {
	out []Event
	err error
}

// storeGroup stores the events of every request in the group that is valid and returns each
// request's events or why it was refused. A request is all or nothing: one unknown type or
// clashing idempotency key refuses its every event. A group without idempotency keys is one
// statement, its own transaction; with keys, the keys are locked and looked up first in the
// same transaction.
func (db *DB) storeGroup(ctx context.Context, group []*ingestReq) ([]groupResult, []BatchDue, error) {
	results := make([]groupResult, len(group))
	ok := make([]bool, len(group))
	for i := range ok {
		ok[i] = true
	}
	keyed := slices.ContainsFunc(group, func(r *ingestReq) bool {
		return slices.ContainsFunc(r.evs, func(e NewEvent) bool { return e.IdempotencyKey != nil })
	})
	var allRefused []int
	for {
		var opened []BatchDue
		var refused []int
		store := func(q querier, tx pgx.Tx) error {
			for i, r := range group {
				results[i] = groupResult{}
				if ok[i] {
					results[i].out = make([]Event, len(r.evs))
				}
			}
			var fresh []freshEvent
			var repeats [][2]*Event
			if tx != nil {
				var err error
				if fresh, repeats, err = resolveIdempotency(ctx, tx, group, ok, results); err != nil {
					return err
				}
			} else {
				for i, r := range group {
					if !ok[i] {
						continue
					}
					for j, e := range r.evs {
						fresh = append(fresh, freshEvent{e, r.now, i, &results[i].out[j]})
					}
				}
			}
			if len(fresh) > 0 {
				var err error
				if opened, refused, err = insertEvents(ctx, q, fresh); err != nil {
					return err
				}
			}
			if len(refused) > 0 && tx != nil {
				// A refused request may hold the first use of a key that a later one repeats:
				// start again without it.
				return errRefused
			}
			for _, rp := range repeats {
				*rp[0] = *rp[1]
			}
			return nil
		}
		var err error
		if keyed {
			err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, setGenericPlan); err != nil {
					return fmt.Errorf("storing events: %w", err)
				}
				return store(tx, tx)
			})
		} else {
			err = store(genericPlan{db.Pool}, nil)
		}
		if err != nil && !errors.Is(err, errRefused) {
			return nil, nil, err
		}
		for _, i := range refused {
			ok[i] = false
		}
		allRefused = append(allRefused, refused...)
		if err == nil {
			for _, i := range allRefused {
				r := group[i]
				results[i] = groupResult{err: db.checkEventTypes(ctx, r.evs, r.fieldName)}
				if results[i].err == nil { // the type was catalogued meanwhile
					results[i].err = Errorf(ECONFLICT, "The event types changed while the events were stored; post them again.")
				}
			}
			return results, opened, nil
		}
	}
}

// errRefused rolls back a group with idempotency keys whose insert refused a request.
var errRefused = errors.New("a request of the group was refused")

// querier is what a transaction and genericPlan have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// setGenericPlan makes the statements of a transaction use the plan made once for all values.
// PostgreSQL otherwise kept planning the ingest statement anew for every group (its estimate for
// a generic plan never won against the custom plans'), and planning took more time than
// running it: 1.7 ms of 4.9 ms a call under load, per pg_stat_statements.
const setGenericPlan = `SET LOCAL plan_cache_mode = force_generic_plan`

// genericPlan runs each statement it is given in a transaction of its own under
// setGenericPlan: BEGIN, the setting, the statement and COMMIT travel in one round trip. The
// statement is committed once its rows are read to the end; Err then tells how the commit went.
type genericPlan struct{ pool *pgxpool.Pool }

func (g genericPlan) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	conn, err := g.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(setGenericPlan)
	b.Queue(sql, args...)
	b.Queue(`COMMIT`)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	var rows pgx.Rows
	if err == nil {
		rows, err = br.Query()
	}
	if err != nil {
		_ = br.Close()
		// A connection left in a transaction is closed on release, not reused.
		conn.Release()
		return nil, err
	}
	return &committingRows{Rows: rows, br: br, conn: conn}, nil
}

// committingRows are the rows of a genericPlan statement: reading past the last or closing
// them commits, and Err then includes the commit's outcome.
type committingRows struct {
	pgx.Rows
	br     pgx.BatchResults
	conn   *pgxpool.Conn
	closed bool
	err    error
}

func (r *committingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *committingRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.Rows.Err()
	if r.err == nil {
		_, r.err = r.br.Exec()
	}
	if err := r.br.Close(); r.err == nil {
		r.err = err
	}
	r.conn.Release()
}

func (r *committingRows) Err() error {
	if r.closed {
		return r.err
	}
	return r.Rows.Err()
}

// unknownTypes names every event of evs whose type is not in known.
func unknownTypes(evs []NewEvent, known []string, fieldName func(int, string) string) error {
	var ve Error
	for i, e := range evs {
		if !slices.Contains(known, e.Type) {
			ve.Add(fieldName(i, "type"), fmt.Sprintf("%q is not a catalogued event type; GET /api/v1/event-types lists them.", e.Type))
		}
	}
	return ve.Err()
}

// freshEvent is an event to insert, and where its stored form goes.
type freshEvent struct {
	NewEvent
	now time.Time
	req int // the request's index in its group
	out *Event
}

// resolveIdempotency decides, for the requests of the group still ok, which events are new and
// which repeat one stored before (within IdempotencyWindow) or earlier in the group, filling
// results for the repeats. An advisory lock per key makes concurrent repeats in other groups
// and instances wait for each other rather than both storing. A request that reuses a key for
// different content is refused whole, and keeps none of its keys for the requests after it.
func resolveIdempotency(ctx context.Context, tx pgx.Tx, group []*ingestReq, ok []bool, results []groupResult) ([]freshEvent, [][2]*Event, error) {
	var keys []string
	oldest := time.Time{}
	for i, r := range group {
		if !ok[i] {
			continue
		}
		for _, e := range r.evs {
			if e.IdempotencyKey != nil {
				keys = append(keys, *e.IdempotencyKey)
			}
		}
		if oldest.IsZero() || r.now.Before(oldest) {
			oldest = r.now
		}
	}
	var earlier []Event
	if len(keys) > 0 {
		keys = distinct(keys)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(k, 7346)) FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n`, keys); err != nil {
			return nil, nil, fmt.Errorf("locking idempotency keys: %w", err)
		}
		rows, err := tx.Query(ctx, `
			SELECT DISTINCT ON (idempotency_key) id, seq, type, object, object_id, action, course_id, url, occurred_at, received_at, data, idempotency_key, content_hash
			FROM events WHERE idempotency_key = ANY($1) AND received_at > $2
			ORDER BY idempotency_key, received_at DESC`, keys, oldest.Add(-IdempotencyWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("finding earlier events by idempotency key: %w", err)
		}
		if earlier, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Event]); err != nil {
			return nil, nil, fmt.Errorf("reading earlier events: %w", err)
		}
	}
	// first use of a key within the group: where its event is stored
	type use struct {
		hash []byte
		out  *Event
	}
	byKey := map[string]use{}
	var fresh []freshEvent
	var repeats [][2]*Event // [repeat, first use]: copied once the group is stored
	for i, r := range group {
		if !ok[i] {
			continue
		}
		reqFresh, reqRepeats := fresh, repeats
		reqKeys := map[string]use{}
		var conflict string
		conflictAt := -1
		for j, e := range r.evs {
			out := &results[i].out[j]
			if e.IdempotencyKey == nil {
				reqFresh = append(reqFresh, freshEvent{e, r.now, i, out})
				continue
			}
			k := *e.IdempotencyKey
			if x := slices.IndexFunc(earlier, func(x Event) bool { return *x.IdempotencyKey == k }); x >= 0 && earlier[x].ReceivedAt.After(r.now.Add(-IdempotencyWindow)) {
				if string(earlier[x].ContentHash) != string(e.ContentHash) {
					conflict, conflictAt = k, j
					break
				}
				*out = earlier[x]
				continue
			}
			u, seen := reqKeys[k]
			if !seen {
				u, seen = byKey[k]
			}
			if seen {
				if string(u.hash) != string(e.ContentHash) {
					conflict, conflictAt = k, j
					break
				}
				reqRepeats = append(reqRepeats, [2]*Event{out, u.out})
				continue
			}
			reqKeys[k] = use{e.ContentHash, out}
			reqFresh = append(reqFresh, freshEvent{e, r.now, i, out})
		}
		if conflictAt >= 0 {
			results[i] = groupResult{err: &Error{Code: ECONFLICT, Message: fmt.Sprintf("The idempotency key %q was used in the last 24 hours for different content.", conflict),
				Fields: map[string]string{r.fieldName(conflictAt, "idempotency_key"): "was used for different content"}}}
			continue
		}
		fresh, repeats = reqFresh, reqRepeats
		for k, u := range reqKeys {
			byKey[k] = u
		}
	}
	return fresh, repeats, nil
}

// insertEvents stores events and records a change for every webhook that wants each, in one
// statement, and returns when the batch windows it opened close at the latest, and which
// requests it refused for naming a type not in the catalogue (none of whose events it
// stores). Nothing else is written: a webhook's batch window is read off its pending changes,
// so concurrent posts for the same webhook never wait on each other.
func insertEvents(ctx context.Context, q querier, fresh []freshEvent) ([]BatchDue, []int, error) {
	n := len(fresh)
	ids, types, actions := make([]string, n), make([]string, n), make([]string, n)
	objects, objectIDs, courses, urls, keys := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	occurred, received := make([]time.Time, n), make([]time.Time, n)
	data := make([]string, n)
	hashes := make([][]byte, n)
	reqs := make([]int32, n)
	for j, f := range fresh {
		e := f.NewEvent
		if e.Action == "" {
			e.Action = DefaultAction(e.Type)
		}
		ev := Event{ID: NewID("evt_"), Type: e.Type, Object: e.Object, ObjectID: e.ObjectID, Action: e.Action,
			CourseID: e.CourseID, URL: e.URL, OccurredAt: e.OccurredAt.UTC(), ReceivedAt: f.now.UTC(), Data: e.Data,
			IdempotencyKey: e.IdempotencyKey, ContentHash: e.ContentHash}
		*f.out = ev
		ids[j], types[j], actions[j] = ev.ID, ev.Type, ev.Action
		objects[j], objectIDs[j], courses[j], urls[j], keys[j] = ev.Object, ev.ObjectID, ev.CourseID, ev.URL, ev.IdempotencyKey
		occurred[j], received[j], data[j], hashes[j], reqs[j] = ev.OccurredAt, ev.ReceivedAt, string(ev.Data), ev.ContentHash, int32(f.req)
	}
	rows, err := q.Query(ctx, `
		WITH input AS MATERIALIZED (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
			                     $9::timestamptz[], $10::text[], $11::text[], $12::bytea[], $14::int[])
			     AS e(id, type, object, object_id, action, course_id, url, occurred_at, received_at, data, idempotency_key, content_hash, req)
		),
		-- A request naming a type not in the catalogue stores nothing; the others go ahead.
		refused AS MATERIALIZED (
			SELECT DISTINCT i.req FROM input i WHERE NOT EXISTS (SELECT 1 FROM event_types t WHERE t.name = i.type)
		),
		e AS (
			INSERT INTO events (id, type, object, object_id, action, course_id, url, occurred_at, received_at, data, idempotency_key, content_hash)
			SELECT id, type, object, object_id, action, course_id, url, occurred_at, received_at, data::json, idempotency_key, content_hash
			FROM input WHERE req NOT IN (SELECT req FROM refused)
			RETURNING id, type, course_id, received_at
		),
		-- The webhooks that want each type in the group, read once: by the type index for
		-- subscriptions, by a partial index for "all types". A webhook in both appears twice;
		-- the insert's ON CONFLICT keeps one change.
		subs AS MATERIALIZED (
			SELECT t.event_type AS type, w.id, w.all_courses, w.state, w.batch_window_seconds
			FROM webhook_event_types t JOIN webhooks w ON w.id = t.webhook_id
			WHERE t.event_type = ANY($13)
			UNION ALL
			SELECT ty.type, w.id, w.all_courses, w.state, w.batch_window_seconds
			FROM unnest($13::text[]) AS ty(type) CROSS JOIN webhooks w WHERE w.all_event_types
		),
		ch AS (
			INSERT INTO changes (webhook_id, event_id, created_at)
			SELECT s.id, e.id, e.received_at FROM e JOIN subs s ON s.type = e.type
			WHERE s.all_courses OR EXISTS (SELECT 1 FROM webhook_courses wc WHERE wc.webhook_id = s.id AND wc.course_id = e.course_id)
			ON CONFLICT DO NOTHING
			RETURNING webhook_id, created_at
		)
		SELECT ch.webhook_id, min(ch.created_at) + make_interval(secs => w.batch_window_seconds), NULL::int
		FROM ch JOIN webhooks w ON w.id = ch.webhook_id
		WHERE w.state = 'active'
		GROUP BY ch.webhook_id, w.batch_window_seconds
		UNION ALL
		SELECT NULL, NULL, req FROM refused`,
		ids, types, objects, objectIDs, actions, courses, urls, occurred, received, data, keys, hashes, distinct(types), reqs)
	if err != nil {
		return nil, nil, fmt.Errorf("storing %d events: %w", n, err)
	}
	var opened []BatchDue
	var refused []int
	for rows.Next() {
		var hook *string
		var at *time.Time
		var req *int32
		if err := rows.Scan(&hook, &at, &req); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("storing %d events: %w", n, err)
		}
		if req != nil {
			refused = append(refused, int(*req))
		} else {
			opened = append(opened, BatchDue{WebhookID: *hook, At: *at})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("storing %d events: %w", n, err)
	}
	return opened, refused, nil
}

// distinct returns the different values of s, sorted.
func distinct(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// announce tells this process's batch worker, once new changes are committed, when the
// windows they may have opened close.
func (db *DB) announce(opened []BatchDue) {
	if len(opened) > 0 {
		db.changed.fire(opened)
	}
}

// checkEventTypes names every event of evs whose type is not catalogued.
func (db *DB) checkEventTypes(ctx context.Context, evs []NewEvent, fieldName func(int, string) string) error {
	names := make([]string, 0, len(evs))
	for _, e := range evs {
		names = append(names, e.Type)
	}
	rows, err := db.Pool.Query(ctx, `SELECT name FROM event_types WHERE name = ANY($1)`, distinct(names))
	if err != nil {
		return fmt.Errorf("checking event types: %w", err)
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("checking event types: %w", err)
	}
	return unknownTypes(evs, known, fieldName)
}
