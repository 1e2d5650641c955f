package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// MessageFilter narrows the delivery log.
type MessageFilter struct {
	WebhookID string
	// PartnerID limits the log to one partner's webhooks (the partner portal).
	PartnerID string
	State     string
	EventType string
	ObjectID  string
	CourseID  string
	From, To  *time.Time
	// Kinds limits to these kinds; empty means all.
	Kinds []string
	After *Cursor
	Limit int
}

// MessageRow is a message in the delivery log, with its webhook's name.
type MessageRow struct {
	Message
	WebhookName string
	PartnerID   string
}

// FindMessages lists the delivery log newest first, a page at a time (keyset, never OFFSET),
// and returns the next page's cursor.
func (db *DB) FindMessages(ctx context.Context, f MessageFilter) ([]MessageRow, *Cursor, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.WebhookID != "" {
		where = append(where, "m.webhook_id = "+arg(f.WebhookID))
	}
	if f.PartnerID != "" {
		where = append(where, "w.partner_id = "+arg(f.PartnerID))
	}
	if f.State != "" {
		where = append(where, "m.state = "+arg(f.State))
	}
	if f.EventType != "" {
		where = append(where, "m.event_types @> ARRAY["+arg(f.EventType)+"]::text[]")
	}
	if f.ObjectID != "" {
		where = append(where, "m.object_ids @> ARRAY["+arg(f.ObjectID)+"]::text[]")
	}
	if f.CourseID != "" {
		where = append(where, "EXISTS (SELECT 1 FROM changes c JOIN events e ON e.id = c.event_id WHERE c.message_id = m.id AND e.course_id = "+arg(f.CourseID)+")")
	}
	if f.From != nil {
		where = append(where, "m.created_at >= "+arg(*f.From))
	}
	if f.To != nil {
		where = append(where, "m.created_at < "+arg(*f.To))
	}
	if len(f.Kinds) > 0 {
		where = append(where, "m.kind = ANY("+arg(f.Kinds)+")")
	}
	if f.After != nil {
		where = append(where, "(m.created_at, m.id) < ("+arg(f.After.At)+", "+arg(f.After.ID)+")")
	}
	cond := ""
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	limit := PageSize(f.Limit)
	rows, err := db.Pool.Query(ctx, `
		SELECT m.id, m.webhook_id, m.kind, m.state, m.url_suffix, m.event_types, m.object_ids, m.change_count,
		       m.attempt_count, m.scheduled_attempts, m.last_status, m.last_error, m.last_attempt_at, m.next_attempt_at,
		       m.created_at, m.finished_at, m.resend_requested, w.name, w.partner_id
		FROM messages m JOIN webhooks w ON w.id = m.webhook_id
		`+cond+`
		ORDER BY m.created_at DESC, m.id DESC
		LIMIT `+arg(limit+1), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("listing messages: %w", err)
	}
	defer rows.Close()
	var out []MessageRow
	for rows.Next() {
		var r MessageRow
		var types, objects []string
		if err := rows.Scan(&r.ID, &r.WebhookID, &r.Kind, &r.State, &r.URLSuffix, &types, &objects, &r.ChangeCount,
			&r.AttemptCount, &r.ScheduledAttempts, &r.LastStatus, &r.LastError, &r.LastAttemptAt, &r.NextAttemptAt,
			&r.CreatedAt, &r.FinishedAt, &r.ResendRequested, &r.WebhookName, &r.PartnerID); err != nil {
			return nil, nil, fmt.Errorf("reading messages: %w", err)
		}
		r.EventTypes, r.ObjectIDs = types, objects
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("listing messages: %w", err)
	}
	var next *Cursor
	if len(out) > limit {
		out = out[:limit]
		next = &Cursor{At: out[limit-1].CreatedAt, ID: out[limit-1].ID}
	}
	return out, next, nil
}

// MessageChange is one change a message carries, or one that a change of the message
// superseded.
type MessageChange struct {
	EventID      string
	Type         string
	ObjectID     *string
	OccurredAt   time.Time
	SupersededBy *string
}

// FindMessageChanges returns the changes a message carries and the changes they superseded in
// the same batch window.
func (db *DB) FindMessageChanges(ctx context.Context, messageID string) (carried, superseded []MessageChange, err error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT e.id, e.type, e.object_id, e.occurred_at, NULL::text
		FROM changes c JOIN events e ON e.id = c.event_id WHERE c.message_id = $1
		UNION ALL
		SELECT e.id, e.type, e.object_id, e.occurred_at, s.superseded_by
		FROM changes c JOIN changes s ON s.superseded_by = c.event_id AND s.webhook_id = c.webhook_id
		JOIN events e ON e.id = s.event_id
		WHERE c.message_id = $1
		ORDER BY 4, 1`, messageID)
	if err != nil {
		return nil, nil, fmt.Errorf("finding changes of %s: %w", messageID, err)
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[MessageChange])
	if err != nil {
		return nil, nil, fmt.Errorf("reading changes of %s: %w", messageID, err)
	}
	for _, c := range all {
		if c.SupersededBy == nil {
			carried = append(carried, c)
		} else {
			superseded = append(superseded, c)
		}
	}
	return carried, superseded, nil
}

// RequestResend puts a message back in the queue for one attempt now, whatever its state, with
// the same body and webhook-id. A message already on its way is left alone.
func (db *DB) RequestResend(ctx context.Context, messageID string, now time.Time) error {
	var state string
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT state FROM messages WHERE id = $1 FOR UPDATE`, messageID).Scan(&state); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("locking message %s: %w", messageID, err)
		}
		if state == MessageDelivering {
			return fmt.Errorf("%w: the message is being delivered right now; try again in a moment", ErrConflict)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE messages SET state = 'pending', next_attempt_at = $2, resend_requested = true, finished_at = NULL
			WHERE id = $1`, messageID, now); err != nil {
			return fmt.Errorf("queueing resend of %s: %w", messageID, err)
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify('hookrelay_messages', '')`)
		return err
	})
	return err
}

// CountFailedMessages counts the failed messages of a webhook created in [from, to).
func (db *DB) CountFailedMessages(ctx context.Context, webhookID string, from, to time.Time) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE webhook_id = $1 AND state = 'failed' AND kind = 'changes' AND created_at >= $2 AND created_at < $3`,
		webhookID, from, to).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting failed messages: %w", err)
	}
	return n, nil
}

// ResendFailedMessages queues every failed message of a webhook created in [from, to) for one
// more attempt, and returns how many.
func (db *DB) ResendFailedMessages(ctx context.Context, webhookID string, from, to, now time.Time) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `
		WITH q AS (
			UPDATE messages SET state = 'pending', next_attempt_at = $4, resend_requested = true, finished_at = NULL
			WHERE webhook_id = $1 AND state = 'failed' AND kind = 'changes' AND created_at >= $2 AND created_at < $3
			RETURNING 1
		)
		SELECT count(*) FROM q`, webhookID, from, to, now).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queueing failed messages of %s: %w", webhookID, err)
	}
	if n > 0 {
		if _, err := db.Pool.Exec(ctx, `SELECT pg_notify('hookrelay_messages', '')`); err != nil {
			return n, fmt.Errorf("notifying deliverers: %w", err)
		}
	}
	return n, nil
}

// CreateTestMessage stores a test message, made now and sent at once by the caller (never
// queued, never retried).
func (db *DB) CreateTestMessage(ctx context.Context, id, webhookID, eventType string, payload []byte, urlSuffix string, now time.Time) (*Message, error) {
	m := &Message{ID: id, WebhookID: webhookID, Kind: KindTest, State: MessageDelivering, Payload: payload,
		URLSuffix: urlSuffix, EventTypes: StringArray{eventType}, ObjectIDs: StringArray{}, ChangeCount: 1, CreatedAt: now}
	if err := db.Gorm.WithContext(ctx).Omit("NextAttemptAt", "LeaseUntil", "FinishedAt", "LastAttemptAt", "LastStatus").Create(m).Error; err != nil {
		return nil, fmt.Errorf("storing test message: %w", err)
	}
	return m, nil
}
