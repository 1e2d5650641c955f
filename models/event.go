package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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
