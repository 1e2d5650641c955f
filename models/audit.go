package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AuditEntry records one change made by a person, an API key or a command.
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

// Actor is who takes an action: a signed-in person (with their user id), an API key or a
// command. Every action records it in its audit entry.
type Actor struct {
	ID    string
	Email string
}

// UserActor is a signed-in person acting.
func UserActor(u *User) Actor { return Actor{ID: u.ID, Email: u.Email} }

// KeyActor is a script acting through an API key.
func KeyActor(k *APIKey) Actor { return Actor{Email: fmt.Sprintf("API key %s (%s)", k.Name, k.Prefix)} }

// CommandLine is an operator acting through a hookrelay command.
var CommandLine = Actor{Email: "command line"}

// System is hookrelay acting by itself (the first admin of a development start, tests'
// fixtures).
var System = Actor{Email: "hookrelay"}

// entry is what an action writes to the audit log. details must never hold a secret.
type entry struct {
	action, objectType, objectID, summary string
	details                               map[string]any
}

// act runs one action in one transaction: fn validates and writes through tx and returns the
// audit entry of what it did (nil when it changed nothing), which is written in the same
// transaction. So a change and its entry commit or roll back together; a wake-up sent with
// notify inside fn is delivered only at commit.
func (db *DB) act(ctx context.Context, actor Actor, fn func(tx *gorm.DB) (*entry, error)) error {
	return db.Gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		e, err := fn(tx)
		if err != nil || e == nil {
			return err
		}
		details := e.details
		if details == nil {
			details = map[string]any{}
		}
		raw, err := json.Marshal(details)
		if err != nil {
			return fmt.Errorf("encoding audit details: %w", err)
		}
		a := AuditEntry{At: time.Now(), ActorEmail: actor.Email, Action: e.action, ObjectType: e.objectType,
			ObjectID: e.objectID, Summary: e.summary, Details: raw}
		if actor.ID != "" {
			a.ActorID = &actor.ID
		}
		if err := tx.Create(&a).Error; err != nil {
			return fmt.Errorf("writing audit entry %s %s: %w", e.action, e.objectID, err)
		}
		return nil
	})
}

// Row lock strengths for lockRow.
const (
	forUpdate      = "UPDATE"
	forNoKeyUpdate = "NO KEY UPDATE" // does not hold up inserts that refer to the row
)

// lockRow reads the row with id into dst (a pointer to a model) and holds it (FOR strength)
// until tx ends, so that concurrent actions on it wait for one another. It returns ErrNotFound
// when there is none.
func lockRow(tx *gorm.DB, strength string, dst any, id string) error {
	err := tx.Clauses(clause.Locking{Strength: strength}).Where("id = ?", id).Take(dst).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("locking %T %s: %w", dst, id, err)
	}
	return nil
}

// Notification channels: every instance LISTENs on them for work that another instance (or a
// person) started. Named here once; jobs listens, actions notify.
const (
	// ChannelBatches wakes the batch workers: pending changes whose windows closed meanwhile
	// (a webhook active again).
	ChannelBatches = "hookrelay_batches"
	// ChannelMessages wakes the deliverers: messages due now (a resend).
	ChannelMessages = "hookrelay_messages"
)

// notify wakes the workers listening on channels once tx commits.
func notify(tx *gorm.DB, channels ...string) error {
	for _, ch := range channels {
		if err := tx.Exec(`SELECT pg_notify(?, '')`, ch).Error; err != nil {
			return fmt.Errorf("notifying %s: %w", ch, err)
		}
	}
	return nil
}

// changedFields lists what differs between two descriptions of a record, for the audit log.
func changedFields(before, after map[string]any) map[string]any {
	out := map[string]any{}
	for k, a := range after {
		b := before[k]
		if !equalJSONish(a, b) {
			out[k] = map[string]any{"from": b, "to": a}
		}
	}
	return out
}

func equalJSONish(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok || bok {
		if len(as) != len(bs) {
			return false
		}
		for i := range as {
			if as[i] != bs[i] {
				return false
			}
		}
		return true
	}
	return a == b
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
