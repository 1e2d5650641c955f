package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// IdempotencyWindow is how long an idempotency key protects against a repeated post.
const IdempotencyWindow = 24 * time.Hour

// Event is something that happened on the platform, as stored.
type Event struct {
	ID             string `gorm:"primaryKey"`
	Seq            int64  `gorm:"->"`
	Type           string
	Object         *string
	ObjectID       *string
	Action         string
	CourseID       *string
	URL            *string `gorm:"column:url"`
	OccurredAt     time.Time
	ReceivedAt     time.Time
	Data           json.RawMessage `gorm:"type:json"`
	IdempotencyKey *string
	ContentHash    []byte
}

// NewEvent is one event as posted, parsed and defaulted by the caller (but for Action).
type NewEvent struct {
	Type     string
	Object   *string
	ObjectID *string
	// Action defaults to DefaultAction(Type) when empty.
	Action         string
	CourseID       *string
	URL            *string
	OccurredAt     time.Time
	Data           json.RawMessage
	IdempotencyKey *string
	// ContentHash identifies the posted content, to tell a repeat from a clash of keys.
	ContentHash []byte
}

// idempotencyConflict says that event index reused an idempotency key of the last 24 hours
// with different content.
type idempotencyConflict struct {
	index int
	key   string
}

func (e *idempotencyConflict) Error() string {
	return fmt.Sprintf("event %d: idempotency key %q was used in the last 24 hours for different content", e.index, e.key)
}

// IngestEvents stores events and records a change for every webhook that wants each, all in
// one transaction: when it returns without error, everything is committed. Events repeated
// under an idempotency key come back as first stored. fieldName names the field of event i in
// validation errors.
func (db *DB) IngestEvents(ctx context.Context, evs []NewEvent, now time.Time, fieldName func(i int, field string) string) ([]Event, error) {
	out, err := db.ingest(ctx, evs, now)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" && pgErr.ConstraintName == "changes_webhook_id_fkey" {
		// A webhook was deleted while the statement ran: nothing was stored, and a second try
		// no longer finds it.
		out, err = db.ingest(ctx, evs, now)
	}
	if errors.As(err, &pgErr) && pgErr.Code == "23503" && pgErr.ConstraintName == "events_type_fkey" {
		// The catalogue is checked only when the insert refuses a type, which keeps the
		// common case to one statement; this names every bad event.
		if verr := db.checkEventTypes(ctx, evs, fieldName); verr != nil {
			return nil, verr
		}
	}
	var conflict *idempotencyConflict
	if errors.As(err, &conflict) {
		return nil, &Error{Code: ECONFLICT, Message: fmt.Sprintf("The idempotency key %q was used in the last 24 hours for different content.", conflict.key),
			Fields: map[string]string{fieldName(conflict.index, "idempotency_key"): "was used for different content"}}
	}
	return out, err
}

func (db *DB) ingest(ctx context.Context, evs []NewEvent, now time.Time) ([]Event, error) {
	out := make([]Event, len(evs))
	var opened []BatchDue
	store := func(ctx context.Context, q querier, fresh []int) error {
		n := len(fresh)
		ids, types, actions := make([]string, n), make([]string, n), make([]string, n)
		objects, objectIDs, courses, urls, keys := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		occurred := make([]time.Time, n)
		data := make([]string, n)
		hashes := make([][]byte, n)
		for j, i := range fresh {
			e := evs[i]
			if e.Action == "" {
				e.Action = DefaultAction(e.Type)
			}
			ev := Event{ID: NewID("evt_"), Type: e.Type, Object: e.Object, ObjectID: e.ObjectID, Action: e.Action,
				CourseID: e.CourseID, URL: e.URL, OccurredAt: e.OccurredAt.UTC(), ReceivedAt: now.UTC(), Data: e.Data,
				IdempotencyKey: e.IdempotencyKey, ContentHash: e.ContentHash}
			out[i] = ev
			ids[j], types[j], actions[j] = ev.ID, ev.Type, ev.Action
			objects[j], objectIDs[j], courses[j], urls[j], keys[j] = ev.Object, ev.ObjectID, ev.CourseID, ev.URL, ev.IdempotencyKey
			occurred[j], data[j], hashes[j] = ev.OccurredAt, string(ev.Data), ev.ContentHash
		}
		// One statement stores the events and records a change for every webhook that wants
		// each. Nothing else is written: a webhook's batch window is read off its pending changes,
		// so concurrent posts for the same webhook never wait on each other.
		rows, err := q.Query(ctx, `
			WITH e AS (
				INSERT INTO events (id, type, object, object_id, action, course_id, url, occurred_at, received_at, data, idempotency_key, content_hash)
				SELECT id, type, object, object_id, action, course_id, url, occurred_at, $9, data::json, idempotency_key, content_hash
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
				            $10::text[], $11::text[], $12::bytea[])
				     AS e(id, type, object, object_id, action, course_id, url, occurred_at, data, idempotency_key, content_hash)
				RETURNING id, type, course_id
			),
			-- The webhooks that want each type in the request, read once: by the type index for
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
				SELECT s.id, e.id, $9 FROM e JOIN subs s ON s.type = e.type
				WHERE s.all_courses OR EXISTS (SELECT 1 FROM webhook_courses wc WHERE wc.webhook_id = s.id AND wc.course_id = e.course_id)
				ON CONFLICT DO NOTHING
				RETURNING webhook_id
			)
			SELECT DISTINCT s.id, $9::timestamptz + make_interval(secs => s.batch_window_seconds)
			FROM subs s WHERE s.state = 'active' AND s.id IN (SELECT webhook_id FROM ch)`,
			ids, types, objects, objectIDs, actions, courses, urls, occurred, now, data, keys, hashes, distinct(types))
		if err != nil {
			return fmt.Errorf("storing %d events: %w", n, err)
		}
		opened, err = pgx.CollectRows(rows, pgx.RowToStructByPos[BatchDue])
		if err != nil {
			return fmt.Errorf("storing %d events: %w", n, err)
		}
		return nil
	}
	hasKeys := slices.ContainsFunc(evs, func(e NewEvent) bool { return e.IdempotencyKey != nil })
	if !hasKeys {
		// A single statement is its own transaction.
		all := make([]int, len(evs))
		for i := range all {
			all[i] = i
		}
		if err := store(ctx, db.Pool, all); err != nil {
			return nil, err
		}
		db.announce(opened)
		return out, nil
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		fresh, repeats, err := resolveIdempotency(ctx, tx, evs, now, out)
		if err != nil {
			return err
		}
		defer func() {
			for i, first := range repeats {
				out[i] = out[first]
			}
		}()
		if len(fresh) == 0 {
			return nil
		}
		return store(ctx, tx, fresh)
	})
	if err != nil {
		return nil, err
	}
	db.announce(opened)
	return out, nil
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

// querier is what a pool and a transaction have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

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
	var ve Error
	for i, e := range evs {
		if !slices.Contains(known, e.Type) {
			ve.Add(fieldName(i, "type"), fmt.Sprintf("%q is not a catalogued event type; GET /api/v1/event-types lists them.", e.Type))
		}
	}
	return ve.Err()
}

// resolveIdempotency fills out[i] for every event that repeats an earlier one and returns the
// indexes of the events to store, and for events repeating one earlier in the same request, the
// index of that one. An advisory lock per key makes concurrent repeats wait for
// each other rather than both storing.
func resolveIdempotency(ctx context.Context, tx pgx.Tx, evs []NewEvent, now time.Time, out []Event) ([]int, map[int]int, error) {
	var keys []string
	for _, e := range evs {
		if e.IdempotencyKey != nil {
			keys = append(keys, *e.IdempotencyKey)
		}
	}
	fresh := make([]int, 0, len(evs))
	if len(keys) == 0 {
		for i := range evs {
			fresh = append(fresh, i)
		}
		return fresh, nil, nil
	}
	sort.Strings(keys)
	keys = slices.Compact(keys)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(k, 7346)) FROM unnest($1::text[]) WITH ORDINALITY AS u(k, n) ORDER BY n`, keys); err != nil {
		return nil, nil, fmt.Errorf("locking idempotency keys: %w", err)
	}
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT ON (idempotency_key) id, seq, type, object, object_id, action, course_id, url, occurred_at, received_at, data, idempotency_key, content_hash
		FROM events WHERE idempotency_key = ANY($1) AND received_at > $2
		ORDER BY idempotency_key, received_at DESC`, keys, now.Add(-IdempotencyWindow))
	if err != nil {
		return nil, nil, fmt.Errorf("finding earlier events by idempotency key: %w", err)
	}
	earlier, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Event])
	if err != nil {
		return nil, nil, fmt.Errorf("reading earlier events: %w", err)
	}
	repeats := map[int]int{}
	byKey := map[string]int{} // key → index in evs of the first use within this request
	for i, e := range evs {
		if e.IdempotencyKey == nil {
			fresh = append(fresh, i)
			continue
		}
		k := *e.IdempotencyKey
		if j := slices.IndexFunc(earlier, func(x Event) bool { return *x.IdempotencyKey == k }); j >= 0 {
			if string(earlier[j].ContentHash) != string(e.ContentHash) {
				return nil, nil, &idempotencyConflict{index: i, key: k}
			}
			out[i] = earlier[j]
			continue
		}
		if first, ok := byKey[k]; ok {
			if string(evs[first].ContentHash) != string(e.ContentHash) {
				return nil, nil, &idempotencyConflict{index: i, key: k}
			}
			repeats[i] = first
			continue
		}
		byKey[k] = i
		fresh = append(fresh, i)
	}
	return fresh, repeats, nil
}

// FindEventByID returns the event with id.
func (db *DB) FindEventByID(ctx context.Context, id string) (*Event, error) {
	var e Event
	err := db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding event %s: %w", id, err)
	}
	return &e, nil
}

// EventDelivery is what became of an event for one webhook it matched.
type EventDelivery struct {
	WebhookID    string
	WebhookName  string
	State        string
	MessageID    *string
	MessageState *string
	SupersededBy *string
}

// FindEventDeliveries lists, per matched webhook, what became of the event.
func (db *DB) FindEventDeliveries(ctx context.Context, eventID string) ([]EventDelivery, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT c.webhook_id, w.name, c.state, c.message_id, m.state, c.superseded_by
		FROM changes c JOIN webhooks w ON w.id = c.webhook_id LEFT JOIN messages m ON m.id = c.message_id
		WHERE c.event_id = $1 ORDER BY w.name, c.webhook_id`, eventID)
	if err != nil {
		return nil, fmt.Errorf("finding deliveries of %s: %w", eventID, err)
	}
	ds, err := pgx.CollectRows(rows, pgx.RowToStructByPos[EventDelivery])
	if err != nil {
		return nil, fmt.Errorf("reading deliveries of %s: %w", eventID, err)
	}
	return ds, nil
}

// EventFilter narrows the list of events.
type EventFilter struct {
	Type     string
	ObjectID string
	CourseID string
	From, To *time.Time
	After    *Cursor
	Limit    int
}

// FindEvents lists events newest first by receipt, a page at a time, with the next cursor.
func (db *DB) FindEvents(ctx context.Context, f EventFilter) ([]Event, *Cursor, error) {
	q := db.Gorm.WithContext(ctx).Order("received_at DESC, id DESC")
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.ObjectID != "" {
		q = q.Where("object_id = ?", f.ObjectID)
	}
	if f.CourseID != "" {
		q = q.Where("course_id = ?", f.CourseID)
	}
	if f.From != nil {
		q = q.Where("received_at >= ?", *f.From)
	}
	if f.To != nil {
		q = q.Where("received_at < ?", *f.To)
	}
	if f.After != nil {
		q = q.Where("(received_at, id) < (?, ?)", f.After.At, f.After.ID)
	}
	limit := PageSize(f.Limit)
	var es []Event
	if err := q.Limit(limit + 1).Find(&es).Error; err != nil {
		return nil, nil, fmt.Errorf("listing events: %w", err)
	}
	var next *Cursor
	if len(es) > limit {
		es = es[:limit]
		next = &Cursor{At: es[limit-1].ReceivedAt, ID: es[limit-1].ID}
	}
	return es, next, nil
}
