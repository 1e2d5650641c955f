package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
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
	// LastDurationMs is how long the last attempt took, nil before the first.
	LastDurationMs *int
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
		       m.created_at, m.finished_at, m.resend_requested, w.name, w.partner_id,
		       (SELECT a.duration_ms FROM attempts a WHERE a.message_id = m.id ORDER BY a.id DESC LIMIT 1)
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
			&r.CreatedAt, &r.FinishedAt, &r.ResendRequested, &r.WebhookName, &r.PartnerID, &r.LastDurationMs); err != nil {
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

// ResendMessage puts message id back in the queue for one attempt now, for actor, whatever its
// state, with the same body and webhook-id. A message on its way right now is left alone.
func (db *DB) ResendMessage(ctx context.Context, actor Actor, id string) (*Message, error) {
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		var m struct{ State, WebhookName string }
		if err := tx.Raw(`SELECT m.state, w.name AS webhook_name FROM messages m JOIN webhooks w ON w.id = m.webhook_id
			WHERE m.id = ? FOR UPDATE OF m`, id).Scan(&m).Error; err != nil {
			return nil, fmt.Errorf("locking message %s: %w", id, err)
		}
		switch m.State {
		case "":
			return nil, ErrNotFound
		case MessageDelivering:
			return nil, Errorf(ECONFLICT, "This message is being delivered right now; try again in a moment.")
		}
		if err := tx.Exec(`UPDATE messages SET state = 'pending', next_attempt_at = ?, resend_requested = true, finished_at = NULL
			WHERE id = ?`, time.Now(), id).Error; err != nil {
			return nil, fmt.Errorf("queueing resend of %s: %w", id, err)
		}
		if err := notify(tx, ChannelMessages); err != nil {
			return nil, err
		}
		return &entry{action: "message.resent", objectType: "message", objectID: id, summary: "Resent message " + id + " to " + m.WebhookName}, nil
	})
	if err != nil {
		return nil, err
	}
	return db.FindMessageByID(ctx, id)
}

// checkResendRange says what is wrong with a time range of a bulk resend.
func checkResendRange(from, to *time.Time) error {
	switch {
	case from == nil || to == nil:
		return Invalid("from", "Give both a start and an end.")
	case !from.Before(*to):
		return Invalid("from", "The start must come before the end.")
	}
	return nil
}

// CountFailedMessages counts the failed messages of a webhook created in [from, to): what
// ResendFailedMessages would queue.
func (db *DB) CountFailedMessages(ctx context.Context, webhookID string, from, to *time.Time) (int, error) {
	if err := checkResendRange(from, to); err != nil {
		return 0, err
	}
	var n int
	err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE webhook_id = $1 AND state = 'failed' AND kind = 'changes' AND created_at >= $2 AND created_at < $3`,
		webhookID, *from, *to).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting failed messages: %w", err)
	}
	return n, nil
}

// ResendFailedMessages queues every failed message of webhook webhookID created in [from, to)
// for one more attempt, for actor, and returns how many.
func (db *DB) ResendFailedMessages(ctx context.Context, actor Actor, webhookID string, from, to *time.Time) (int, error) {
	var n int
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		var w Webhook
		if err := tx.Where("id = ?", webhookID).Take(&w).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		} else if err != nil {
			return nil, fmt.Errorf("finding webhook %s: %w", webhookID, err)
		}
		if err := checkResendRange(from, to); err != nil {
			return nil, err
		}
		res := tx.Exec(`UPDATE messages SET state = 'pending', next_attempt_at = ?, resend_requested = true, finished_at = NULL
			WHERE webhook_id = ? AND state = 'failed' AND kind = 'changes' AND created_at >= ? AND created_at < ?`,
			time.Now(), webhookID, *from, *to)
		if res.Error != nil {
			return nil, fmt.Errorf("queueing failed messages of %s: %w", webhookID, res.Error)
		}
		if n = int(res.RowsAffected); n == 0 {
			return nil, nil
		}
		if err := notify(tx, ChannelMessages); err != nil {
			return nil, err
		}
		return &entry{action: "webhook.resent_failed", objectType: "webhook", objectID: webhookID,
			summary: fmt.Sprintf("Resent %d failed messages of %s made between %s and %s", n, w.Name,
				from.UTC().Format("2006-01-02 15:04"), to.UTC().Format("2006-01-02 15:04")),
			details: map[string]any{"count": n, "from": from, "to": to}}, nil
	})
	return n, err
}

// CreateTestMessage stores a test message, made now and sent at once by the caller (never
// queued, never retried).
func (db *DB) CreateTestMessage(ctx context.Context, id, webhookID, eventType string, payload []byte, urlSuffix string, now time.Time) (*Message, error) {
	return createTestMessage(db.Gorm.WithContext(ctx), id, webhookID, eventType, payload, urlSuffix, now)
}

func createTestMessage(tx *gorm.DB, id, webhookID, eventType string, payload []byte, urlSuffix string, now time.Time) (*Message, error) {
	m := &Message{ID: id, WebhookID: webhookID, Kind: KindTest, State: MessageDelivering, Payload: payload,
		URLSuffix: urlSuffix, EventTypes: StringArray{eventType}, ObjectIDs: StringArray{}, ChangeCount: 1, CreatedAt: now}
	if err := tx.Omit("NextAttemptAt", "LeaseUntil", "FinishedAt", "LastAttemptAt", "LastStatus").Create(m).Error; err != nil {
		return nil, fmt.Errorf("storing test message: %w", err)
	}
	return m, nil
}

// SendFunc makes one attempt of a delivery now, signed and sent like every delivery, and
// reports it. jobs.Sender provides it; the domain cannot import jobs.
type SendFunc func(ctx context.Context, d *Delivery, trigger string, now time.Time) (AttemptResult, error)

// SendTestNotification sends webhook webhookID a test notification of eventType now through
// send, for actor, and records it as a test message that is never retried. It carries data, a
// JSON object as typed by a person or script, or the type's sample when data is blank. The message and its audit entry commit before the request goes out, so the log
// shows it even when the receiver hangs; the attempt is recorded like any other.
func (db *DB) SendTestNotification(ctx context.Context, actor Actor, webhookID, eventType, data string, send SendFunc) (*Message, AttemptResult, error) {
	var res AttemptResult
	w, err := db.FindWebhookByID(ctx, webhookID)
	if err != nil {
		return nil, res, err
	}
	var ve Error
	var t *EventType
	if strings.TrimSpace(eventType) == "" {
		ve.Add("event_type", "Choose an event type from the catalogue.")
	} else if t, err = db.FindEventTypeByName(ctx, eventType); errors.Is(err, ErrNotFound) {
		ve.Add("event_type", fmt.Sprintf("%q is not a catalogued event type.", eventType))
	} else if err != nil {
		return nil, res, err
	}
	var sample json.RawMessage
	if strings.TrimSpace(data) != "" {
		var p string
		if sample, p = jsonObject(data, 64<<10); p != "" {
			ve.Add("data", p)
		}
	}
	if err := ve.Err(); err != nil {
		return nil, res, err
	}
	now := time.Now().UTC()
	var m *Message
	err = db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		tm, err := newTestMessage(w, t, sample, now)
		if err != nil {
			return nil, err
		}
		if m, err = createTestMessage(tx, tm.id, w.ID, t.Name, tm.payload, tm.urlSuffix, now); err != nil {
			return nil, err
		}
		return &entry{action: "webhook.test_sent", objectType: "webhook", objectID: w.ID, summary: "Sent a test notification to " + w.Name,
			details: map[string]any{"message_id": m.ID, "event_type": t.Name, "own_data": sample != nil}}, nil
	})
	if err != nil {
		return nil, res, err
	}
	d := &Delivery{MessageID: m.ID, Kind: KindTest, Payload: m.Payload, URLSuffix: m.URLSuffix, Webhook: *w}
	if res, err = send(ctx, d, TriggerTest, now); err != nil {
		return nil, res, err
	}
	if err := db.RecordAttempt(ctx, res, nil); err != nil {
		return nil, res, err
	}
	return m, res, nil
}
