package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// MaxMessageBytes caps the body of one message (SPEC "From event to message").
const MaxMessageBytes = 1 << 20

// maxFlushChanges bounds one flush so that a webhook with a huge backlog (after a long pause)
// is worked off in steps; each step collapses within itself.
const maxFlushChanges = 20000

type pendingChange struct {
	changeID int64
	ChangePayload
}

type flushWebhook struct {
	format          string
	maxChanges      int
	appendEventType bool
}

// newMessage is a message about to be stored, with the changes it carries.
type newMessage struct {
	id         string
	payload    []byte
	urlSuffix  string
	eventTypes []string
	objectIDs  []string
	objectKeys []string // (object, object_id) as JSON arrays, for ordered delivery
	changeIDs  []int64
}

// DueBatches finds the active webhooks whose batch window has closed at now (at most limit),
// and when the earliest window still open closes. A window opens with a webhook's first
// pending change, so it is read off the changes themselves: one index probe per webhook that
// has any, skipping from one webhook to the next.
func (db *DB) DueBatches(ctx context.Context, now time.Time, limit int) (due []string, next time.Time, has bool, err error) {
	rows, err := db.Pool.Query(ctx, `
		WITH RECURSIVE p AS (
			(SELECT webhook_id, created_at FROM changes WHERE state = 'pending' ORDER BY webhook_id, created_at LIMIT 1)
			UNION ALL
			SELECT n.webhook_id, n.created_at FROM p CROSS JOIN LATERAL (
				SELECT webhook_id, created_at FROM changes
				WHERE state = 'pending' AND webhook_id > p.webhook_id ORDER BY webhook_id, created_at LIMIT 1) n
		)
		SELECT w.id, p.created_at + make_interval(secs => w.batch_window_seconds) AS due
		FROM p JOIN webhooks w ON w.id = p.webhook_id
		WHERE w.state = 'active'
		ORDER BY due`)
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("finding due batches: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, time.Time{}, false, fmt.Errorf("reading due batch: %w", err)
		}
		if at.After(now) {
			return due, at, true, nil
		}
		if len(due) < limit {
			due = append(due, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, false, fmt.Errorf("finding due batches: %w", err)
	}
	return due, time.Time{}, false, nil
}

// ErrBusy is returned by FlushBatch when another transaction holds the webhook: another
// instance flushing it, or someone changing its settings. Try again shortly.
var ErrBusy = errors.New("webhook is busy")

// FlushBatch closes the batch window of webhookID if it is due at now: the pending changes are
// collapsed per object and turned into messages, in one transaction. It reports false when
// there was nothing to do. The webhook's row is locked meanwhile; inserting changes takes only
// a key-share lock on it, so ingestion goes on.
//
// The lock is taken in a statement of its own and the pending changes are read in the next.
// Under READ COMMITTED a statement sees what was committed when it began: a read in the locking
// statement itself would predate another instance's flush that committed while this one waited
// for the lock (locking a row does not make PostgreSQL re-read the others), and would freeze
// the same changes into a second message with a second webhook-id.
//
// Two round trips, each a pipeline the server still runs statement by statement: BEGIN, the
// lock and the read; then the messages, the changes marked, a check that every change was
// still pending, and COMMIT. The flush is on the way from every event to its delivery, and
// under load each round trip waits for both processes to be scheduled again.
func (db *DB) FlushBatch(ctx context.Context, webhookID string, now time.Time) (bool, error) {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("flushing %s: %w", webhookID, err)
	}
	// A connection still in a transaction (ROLLBACK failed too) is closed on release.
	defer conn.Release()
	rollback := func(err error) (bool, error) {
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil && err == nil {
			err = fmt.Errorf("flushing %s: %w", webhookID, rerr)
		}
		return false, err
	}
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	// Another flush holds the row for milliseconds; a person saving the webhook, not much
	// longer. Waiting a little beats trying again and again.
	b.Queue(`SELECT set_config('lock_timeout', $1, true)`, flushLockTimeout)
	b.Queue(`SELECT format, max_changes, append_event_type FROM webhooks WHERE id = $1 AND state = 'active' FOR NO KEY UPDATE`, webhookID)
	b.Queue(`
		SELECT c.id, e.id, e.type, e.action, e.object, e.object_id, e.url, e.course_id, e.occurred_at, e.data
		FROM webhooks w JOIN changes c ON c.webhook_id = w.id AND c.state = 'pending' JOIN events e ON e.id = c.event_id
		WHERE w.id = $1
		  AND (SELECT min(created_at) FROM changes WHERE webhook_id = $1 AND state = 'pending')
		      <= $2::timestamptz - make_interval(secs => w.batch_window_seconds)
		ORDER BY e.occurred_at, e.seq
		LIMIT $3`, webhookID, now, maxFlushChanges)
	w, pending, active, err := readFlush(conn.SendBatch(ctx, b), webhookID)
	if err != nil || !active || len(pending) == 0 {
		// deleted, paused or disabled, or nothing due: nothing to flush, whatever the read says
		return rollback(err)
	}
	// Beyond maxFlushChanges (a long pause's backlog) the rest stays pending and, its window
	// long closed, is the next flush: each step collapses within itself.
	if err := commitFlush(ctx, conn.Conn(), webhookID, w, pending, now); err != nil {
		return rollback(err)
	}
	return true, nil
}

// commitFlush is FlushBatch's second round trip: it turns pending, read in the transaction open
// on conn, into messages and commits.
func commitFlush(ctx context.Context, conn *pgx.Conn, webhookID string, w flushWebhook, pending []pendingChange, now time.Time) error {
	kept, superseded, supersededBy := collapse(pending)
	msgs, err := buildMessages(kept, w, now)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	queueMessages(b, webhookID, msgs, now, len(kept), superseded, supersededBy)
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("storing messages of %s: %w", webhookID, err)
	}
	return nil
}

// readFlush reads the results of FlushBatch's first round trip: the webhook (active false when
// it is not), and its pending changes once its window has closed.
func readFlush(br pgx.BatchResults, webhookID string) (w flushWebhook, pending []pendingChange, active bool, err error) {
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("reading pending changes of %s: %w", webhookID, cerr)
		}
	}()
	for range 2 { // BEGIN, lock_timeout
		if _, err := br.Exec(); err != nil {
			return w, nil, false, fmt.Errorf("flushing %s: %w", webhookID, err)
		}
	}
	err = br.QueryRow().Scan(&w.format, &w.maxChanges, &w.appendEventType)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "55P03": // lock_not_available
		return w, nil, false, ErrBusy
	case errors.Is(err, pgx.ErrNoRows):
		return w, nil, false, nil
	case err != nil:
		return w, nil, false, fmt.Errorf("locking webhook %s: %w", webhookID, err)
	}
	rows, err := br.Query()
	if err != nil {
		return w, nil, true, fmt.Errorf("reading pending changes of %s: %w", webhookID, err)
	}
	pending, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (pendingChange, error) {
		var p pendingChange
		err := row.Scan(&p.changeID, &p.EventID, &p.Type, &p.Action, &p.Object, &p.ObjectID, &p.URL, &p.CourseID, &p.OccurredAt, &p.Data)
		p.OccurredAt = p.OccurredAt.UTC()
		return p, err
	})
	if err != nil {
		return w, nil, true, fmt.Errorf("reading pending changes of %s: %w", webhookID, err)
	}
	return w, pending, true, nil
}

// flushLockTimeout bounds how long a flush waits for the webhook's row before it reports
// ErrBusy.
const flushLockTimeout = "1s"

// collapse keeps, per (object, object_id), only the latest change; pending is ordered by
// occurred_at then receipt, so the latest is the last. Changes without an object id are all kept.
func collapse(pending []pendingChange) (kept []pendingChange, superseded []int64, supersededBy []string) {
	type key struct{ object, id string }
	last := map[key]int{}
	for i, p := range pending {
		if p.ObjectID == nil || *p.ObjectID == "" {
			continue
		}
		k := key{id: *p.ObjectID}
		if p.Object != nil {
			k.object = *p.Object
		}
		last[key(k)] = i
	}
	for i, p := range pending {
		if p.ObjectID == nil || *p.ObjectID == "" {
			kept = append(kept, p)
			continue
		}
		k := key{id: *p.ObjectID}
		if p.Object != nil {
			k.object = *p.Object
		}
		if j := last[k]; j != i {
			superseded = append(superseded, p.changeID)
			supersededBy = append(supersededBy, pending[j].EventID)
			continue
		}
		kept = append(kept, p)
	}
	return kept, superseded, supersededBy
}

// buildMessages freezes the kept changes into message bodies: one per change for the "event"
// format, else at most maxChanges changes and MaxMessageBytes per message.
func buildMessages(kept []pendingChange, w flushWebhook, now time.Time) ([]newMessage, error) {
	ts := now.UTC().Truncate(time.Second)
	var msgs []newMessage
	if w.format == FormatEvent {
		for _, p := range kept {
			m := newMessage{id: NewID("msg_"), changeIDs: []int64{p.changeID}, eventTypes: []string{p.Type}}
			if p.ObjectID != nil {
				m.objectIDs = []string{*p.ObjectID}
			}
			m.objectKeys = appendObjectKey(nil, p.Object, p.ObjectID)
			if w.appendEventType {
				m.urlSuffix = "/" + p.Type
			}
			body, err := json.Marshal(p.event(ts))
			if err != nil {
				return nil, fmt.Errorf("encoding event message: %w", err)
			}
			m.payload = body
			msgs = append(msgs, m)
		}
		return msgs, nil
	}
	const envelope = 200 // room for id, type and timestamp around the changes
	var cur []ChangePayload
	var curIDs []int64
	size := envelope
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		m := newMessage{id: NewID("msg_"), changeIDs: curIDs}
		body, err := json.Marshal(BatchPayload{ID: m.id, Type: "changes", Timestamp: ts, Changes: cur})
		if err != nil {
			return fmt.Errorf("encoding batch message: %w", err)
		}
		m.payload = body
		for _, c := range cur {
			m.eventTypes = append(m.eventTypes, c.Type)
			if c.ObjectID != nil {
				m.objectIDs = append(m.objectIDs, *c.ObjectID)
			}
			m.objectKeys = appendObjectKey(m.objectKeys, c.Object, c.ObjectID)
		}
		slices.Sort(m.eventTypes)
		m.eventTypes = slices.Compact(m.eventTypes)
		msgs = append(msgs, m)
		cur, curIDs, size = nil, nil, envelope
		return nil
	}
	for _, p := range kept {
		b, err := json.Marshal(p.ChangePayload)
		if err != nil {
			return nil, fmt.Errorf("encoding change: %w", err)
		}
		if len(cur) > 0 && (len(cur) >= w.maxChanges || size+len(b)+1 > MaxMessageBytes) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur = append(cur, p.ChangePayload)
		curIDs = append(curIDs, p.changeID)
		size += len(b) + 1
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return msgs, nil
}

// queueMessages adds to b the statements that store msgs, mark their changes sent and the
// superseded ones superseded, and check that all were still pending: should one have been
// frozen meanwhile all the same (the webhook's lock says it cannot), the check fails the
// transaction rather than let a change go out twice. kept is how many changes msgs carry.
func queueMessages(b *pgx.Batch, webhookID string, msgs []newMessage, now time.Time, kept int, superseded []int64, supersededBy []string) {
	n := len(msgs)
	ids, payloads, suffixes := make([]string, n), make([][]byte, n), make([]string, n)
	types, objects, keys := make([]string, n), make([]string, n), make([]string, n)
	counts := make([]int32, n)
	var changeIDs []int64
	var changeMsgs []string
	for i, m := range msgs {
		ids[i], payloads[i], suffixes[i], counts[i] = m.id, m.payload, m.urlSuffix, int32(len(m.changeIDs))
		// Arrays of arrays must be rectangular in PostgreSQL, so they travel as JSON.
		t, _ := json.Marshal(nonNil(m.eventTypes))
		o, _ := json.Marshal(nonNil(m.objectIDs))
		k, _ := json.Marshal(nonNil(m.objectKeys))
		types[i], objects[i], keys[i] = string(t), string(o), string(k)
		for _, c := range m.changeIDs {
			changeIDs = append(changeIDs, c)
			changeMsgs = append(changeMsgs, m.id)
		}
	}
	b.Queue(`
		INSERT INTO messages (id, webhook_id, kind, state, payload, url_suffix, event_types, object_ids, object_keys, change_count, next_attempt_at, created_at)
		SELECT id, $1, 'changes', 'pending', payload, suffix,
		       ARRAY(SELECT jsonb_array_elements_text(types::jsonb)), ARRAY(SELECT jsonb_array_elements_text(objects::jsonb)),
		       ARRAY(SELECT jsonb_array_elements_text(keys::jsonb)), count, $7, $7
		FROM unnest($2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $8::int[], $9::text[]) AS m(id, payload, suffix, types, objects, count, keys)`,
		webhookID, ids, payloads, suffixes, types, objects, now, counts, keys)
	b.Queue(`
		WITH sent AS (
			UPDATE changes c SET state = 'sent', message_id = u.message_id
			FROM unnest($1::bigint[], $2::text[]) AS u(id, message_id) WHERE c.id = u.id AND c.state = 'pending'
			RETURNING 1
		),
		superseded AS (
			UPDATE changes c SET state = 'superseded', superseded_by = u.by
			FROM unnest($3::bigint[], $4::text[]) AS u(id, by) WHERE c.id = u.id AND c.state = 'pending'
			RETURNING 1
		)
		SELECT assert((SELECT count(*) FROM sent) = $5 AND (SELECT count(*) FROM superseded) = $6,
		              'flushing ' || $7 || ': changes were no longer pending')`,
		changeIDs, changeMsgs, superseded, supersededBy, kept, len(superseded), webhookID)
}

// appendObjectKey adds the (object, object_id) of a change as one string, a JSON array, unless
// the change has no object id (such changes are neither collapsed nor ordered).
func appendObjectKey(keys []string, object, objectID *string) []string {
	if objectID == nil || *objectID == "" {
		return keys
	}
	var o string
	if object != nil {
		o = *object
	}
	k, _ := json.Marshal([2]string{o, *objectID})
	return append(keys, string(k))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
