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
	// ordered and failing webhooks leave their messages to ClaimDueMessages: their rules look
	// at the messages ahead.
	ordered, failing bool
	maxInFlight      *int
	// hook is what a direct claim's deliveries need of the webhook.
	hook Webhook
}

// DirectClaim asks a flush to hand the messages it makes straight to the flushing instance for
// delivery, as far as the webhook has room: no claim has to find them, so each saves a whole
// update of its row, two round trips and a hop between the runner's loops. See FlushBatch.
type DirectClaim struct {
	Instance string
	// Limit is how many the instance can start at once (its free workers).
	Limit int
	// PerWebhook is the cap of a webhook without max_in_flight.
	PerWebhook int
	Lease      time.Duration
	// Answered are the instance's messages off the wire but not recorded yet (see
	// ClaimDueMessages).
	Answered []string
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
//
// With claim, the flush also claims for claim.Instance, as far as the webhook's cap and
// claim.Limit allow, the webhook's messages already due (oldest first) and then its new ones,
// and returns them: see claimRoom for when. The rest wait for ClaimDueMessages as usual.
func (db *DB) FlushBatch(ctx context.Context, webhookID string, now time.Time, claim *DirectClaim) (bool, Flushed, error) {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return false, Flushed{}, fmt.Errorf("flushing %s: %w", webhookID, err)
	}
	// A connection still in a transaction (ROLLBACK failed too) is closed on release.
	defer conn.Release()
	rollback := func(err error) (bool, Flushed, error) {
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil && err == nil {
			err = fmt.Errorf("flushing %s: %w", webhookID, rerr)
		}
		return false, Flushed{}, err
	}
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	// Another flush holds the row for milliseconds; a person saving the webhook, not much
	// longer. Waiting a little beats trying again and again.
	b.Queue(`SELECT set_config('lock_timeout', $1, true)`, flushLockTimeout)
	b.Queue(`SELECT format, max_changes, append_event_type, ordered, failing_since IS NOT NULL, max_in_flight,
		       url, method, secret_enc, previous_secret_enc, previous_secret_expires_at, basic_auth_user, basic_auth_password_enc
		FROM webhooks WHERE id = $1 AND state = 'active' FOR NO KEY UPDATE`, webhookID)
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
	w.hook.ID = webhookID
	f, err := commitFlush(ctx, conn.Conn(), webhookID, w, pending, now, claim)
	if err != nil {
		return rollback(err)
	}
	return true, f, nil
}

// Flushed is what a flush claimed, and how many of the messages it made wait for a claim.
type Flushed struct {
	Claimed []Delivery
	Waiting int
}

// commitFlush is FlushBatch's second round trip: it turns pending, read in the transaction open
// on conn, into messages, claims what claim allows and commits.
func commitFlush(ctx context.Context, conn *pgx.Conn, webhookID string, w flushWebhook, pending []pendingChange, now time.Time, claim *DirectClaim) (Flushed, error) {
	kept, superseded, supersededBy := collapse(pending)
	msgs, err := buildMessages(kept, w, now)
	if err != nil {
		return Flushed{}, err
	}
	room := claimRoom(w, claim, len(msgs))
	b := &pgx.Batch{}
	if room.limit > 0 {
		// The claims' lock on the webhook, in a statement of its own so that the next one's
		// snapshot is newer than it; that one reads whether it was had (see claimRoom).
		b.Queue(`SELECT set_config('hookrelay.claim', pg_try_advisory_xact_lock($1, hashtext($2))::text, true)`, claimLockClass, webhookID)
	}
	queueMessages(b, webhookID, msgs, now, len(kept), superseded, supersededBy, room)
	b.Queue(`COMMIT`)
	br := conn.SendBatch(ctx, b)
	f, err := readCommit(br, room.limit > 0, msgs, w.hook)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return Flushed{}, fmt.Errorf("storing messages of %s: %w", webhookID, err)
	}
	return f, nil
}

// maxDirectFlush is the most messages a flush makes and still claims; see claimRoom.
const maxDirectFlush = 100

// flushRoom is what a flush may claim: at most limit messages, and no more than the webhook's
// cap (perWebhook) less its requests in flight, not counting answered.
type flushRoom struct {
	limit, perWebhook int
	lease             time.Duration
	instance          string
	answered          []string
}

// claimRoom says what a flush may claim for the runner that asked. Nothing for ordered and
// failing webhooks, whose rules look at the messages ahead. The rest is decided in SQL, with the
// claims' advisory lock on the webhook (claimLockClass) tried in a statement of its own first:
// the room is counted only if that lock was had, so no claim of another instance is under way
// unseen. The room goes first to the messages already due, oldest first, as a claim would
// take them, then to the new ones in order.
//
// Nor for a flush that makes more than maxDirectFlush messages: the lock is held until the
// commit, and while hundreds of messages are stored the claims would skip the webhook; its
// backlog is theirs anyway.
func claimRoom(w flushWebhook, claim *DirectClaim, messages int) flushRoom {
	if claim == nil || claim.Limit <= 0 || w.ordered || w.failing || messages > maxDirectFlush {
		return flushRoom{answered: []string{}}
	}
	perWebhook := claim.PerWebhook
	if w.maxInFlight != nil {
		perWebhook = *w.maxInFlight
	}
	answered := claim.Answered
	if answered == nil {
		answered = []string{}
	}
	return flushRoom{limit: claim.Limit, perWebhook: perWebhook, lease: claim.Lease, instance: claim.Instance, answered: answered}
}

// readCommit reads the results of commitFlush's round trip and returns the messages claimed,
// due ones first. The new ones come back as ids only: their bodies are in msgs already.
func readCommit(br pgx.BatchResults, tryLock bool, msgs []newMessage, hook Webhook) (Flushed, error) {
	if tryLock {
		if _, err := br.Exec(); err != nil {
			return Flushed{}, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		return Flushed{}, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		var kind, suffix *string
		err := row.Scan(&d.MessageID, &kind, &d.Payload, &suffix, &d.ScheduledAttempts, &d.Resend)
		if kind != nil {
			d.Kind, d.URLSuffix = *kind, *suffix
		}
		d.Webhook = hook
		return d, err
	})
	if err != nil {
		return Flushed{}, err
	}
	for range 2 { // changes marked, COMMIT
		if _, err := br.Exec(); err != nil {
			return Flushed{}, err
		}
	}
	byID := make(map[string]*newMessage, len(msgs))
	for i := range msgs {
		byID[msgs[i].id] = &msgs[i]
	}
	f := Flushed{Claimed: out, Waiting: len(msgs)}
	for i := range out {
		if m, ok := byID[out[i].MessageID]; ok {
			out[i].Kind, out[i].Payload, out[i].URLSuffix = "changes", m.payload, m.urlSuffix
			f.Waiting--
		}
	}
	return f, nil
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
	h := &w.hook
	err = br.QueryRow().Scan(&w.format, &w.maxChanges, &w.appendEventType, &w.ordered, &w.failing, &w.maxInFlight,
		&h.URL, &h.Method, &h.SecretEnc, &h.PreviousSecretEnc, &h.PreviousSecretExpiresAt, &h.BasicAuthUser, &h.BasicAuthPasswordEnc)
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
// transaction rather than let a change go out twice. kept is how many changes msgs carry. The
// messages the room allows are claimed as they are stored; the insert returns their ids.
func queueMessages(b *pgx.Batch, webhookID string, msgs []newMessage, now time.Time, kept int, superseded []int64, supersededBy []string, room flushRoom) {
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
		WITH room AS (
			SELECT CASE WHEN $10::int > 0 AND current_setting('hookrelay.claim', true) = 'true'
			       THEN least($10, $11 - (SELECT count(*) FROM messages b WHERE b.webhook_id = $1 AND b.state = 'delivering' AND b.id <> ALL ($12)))
			       ELSE 0 END AS n
		),
		-- The messages already due go first, oldest first, as ClaimDueMessages would take them.
		earlier AS (
			UPDATE messages m SET state = 'delivering', lease_until = $7::timestamptz + make_interval(secs => $13), claimed_by = $14
			-- An array, and no condition beside it (the lock rechecked the state), so that the
			-- rows are found by their key: as a join, their number unknown when planning, the
			-- planner may prefer to read the whole table.
			WHERE m.id = ANY (ARRAY(
				SELECT d.id FROM messages d, room
				WHERE room.n > 0 AND d.webhook_id = $1 AND d.state IN ('pending', 'retrying')
				  AND (d.kind = 'changes' OR d.resend_requested) AND d.next_attempt_at <= $7
				ORDER BY d.next_attempt_at LIMIT (SELECT n FROM room)
				FOR UPDATE OF d SKIP LOCKED))
			RETURNING m.id, m.kind, m.payload, m.url_suffix, m.scheduled_attempts, m.resend_requested, m.next_attempt_at
		),
		stored AS (
			INSERT INTO messages (id, webhook_id, kind, state, payload, url_suffix, event_types, object_ids, object_keys, change_count,
			                      next_attempt_at, created_at, lease_until, claimed_by)
			SELECT id, $1, 'changes', CASE WHEN m.ord <= r.n THEN 'delivering' ELSE 'pending' END, payload, suffix,
			       ARRAY(SELECT jsonb_array_elements_text(types::jsonb)), ARRAY(SELECT jsonb_array_elements_text(objects::jsonb)),
			       ARRAY(SELECT jsonb_array_elements_text(keys::jsonb)), count, $7, $7,
			       CASE WHEN m.ord <= r.n THEN $7::timestamptz + make_interval(secs => $13) END,
			       CASE WHEN m.ord <= r.n THEN $14 END
			FROM unnest($2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $8::int[], $9::text[])
			     WITH ORDINALITY AS m(id, payload, suffix, types, objects, count, keys, ord),
			     (SELECT n - (SELECT count(*) FROM earlier) AS n FROM room) r
			RETURNING id, state
		)
		SELECT id, kind, payload, url_suffix, scheduled_attempts, resend_requested FROM (
			SELECT id, kind, payload, url_suffix, scheduled_attempts, resend_requested, next_attempt_at, 0 AS ord FROM earlier
			UNION ALL
			SELECT id, NULL, NULL, NULL, 0, false, NULL, 1 FROM stored WHERE state = 'delivering'
		) c ORDER BY ord, next_attempt_at`,
		webhookID, ids, payloads, suffixes, types, objects, now, counts, keys,
		room.limit, room.perWebhook, room.answered, room.lease.Seconds(), room.instance)
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
