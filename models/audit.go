package models

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEntry records one change made by a person (or the system, with no actor).
type AuditEntry struct {
	ID         int64 `gorm:"primaryKey"`
	At         time.Time
	ActorID    *string
	ActorEmail string
	Action     string
	ObjectType string
	ObjectID   string
	Summary    string
	Details    json.RawMessage `gorm:"type:jsonb"`
}

// TableName keeps the table's name singular, as it is a log.
func (AuditEntry) TableName() string { return "audit_log" }

// Actor is who made a change.
type Actor struct {
	ID    string
	Email string
}

// Audit writes one audit entry. details must never hold a secret.
func (db *DB) Audit(ctx context.Context, actor Actor, action, objectType, objectID, summary string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("encoding audit details: %w", err)
	}
	e := AuditEntry{At: time.Now(), ActorEmail: actor.Email, Action: action, ObjectType: objectType,
		ObjectID: objectID, Summary: summary, Details: raw}
	if actor.ID != "" {
		e.ActorID = &actor.ID
	}
	if err := db.Gorm.WithContext(ctx).Create(&e).Error; err != nil {
		return fmt.Errorf("writing audit entry %s %s: %w", action, objectType, err)
	}
	return nil
}

// AuditFilter narrows the audit log.
type AuditFilter struct {
	ObjectType string
	ObjectID   string
	ActorEmail string
	Limit      int
}

// FindAuditEntries lists audit entries newest first.
func (db *DB) FindAuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := db.Gorm.WithContext(ctx).Order("at DESC, id DESC")
	if f.ObjectType != "" {
		q = q.Where("object_type = ?", f.ObjectType)
	}
	if f.ObjectID != "" {
		q = q.Where("object_id = ?", f.ObjectID)
	}
	if f.ActorEmail != "" {
		q = q.Where("actor_email = ?", f.ActorEmail)
	}
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 100
	}
	var es []AuditEntry
	if err := q.Limit(limit).Find(&es).Error; err != nil {
		return nil, fmt.Errorf("listing audit entries: %w", err)
	}
	return es, nil
}
