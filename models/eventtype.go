package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"
)

// EventType is a catalogue entry that events name in their "type".
type EventType struct {
	Name         string `gorm:"primaryKey"`
	Description  string
	Sample       json.RawMessage `gorm:"type:jsonb"`
	DeprecatedAt *time.Time
	// Replacement tells receivers what to use instead once the type is deprecated ("Use
	// test.completed."); empty when nothing replaces it.
	Replacement string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Deprecated reports whether the type may no longer be chosen for a webhook.
func (e *EventType) Deprecated() bool { return e.DeprecatedAt != nil }

// FindEventTypes lists the catalogue by name.
func (db *DB) FindEventTypes(ctx context.Context) ([]EventType, error) {
	var ts []EventType
	if err := db.Gorm.WithContext(ctx).Order("name").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("listing event types: %w", err)
	}
	return ts, nil
}

// FindEventTypeByName returns the catalogue entry name.
func (db *DB) FindEventTypeByName(ctx context.Context, name string) (*EventType, error) {
	var t EventType
	err := db.Gorm.WithContext(ctx).Where("name = ?", name).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding event type %s: %w", name, err)
	}
	return &t, nil
}

// EventTypeInput is the editable part of an event type.
type EventTypeInput struct {
	Name        string
	Description string
	Sample      string
	Replacement string
}

func (in *EventTypeInput) validate(isNew bool) (json.RawMessage, error) {
	var ve Error
	in.Name = strings.TrimSpace(in.Name)
	in.Description = strings.TrimSpace(in.Description)
	if isNew {
		switch {
		case in.Name == "":
			ve.Add("name", "Enter the type's name, such as course.completed.")
		case len(in.Name) > 100 || !eventTypeName.MatchString(in.Name):
			ve.Add("name", "Use letters, digits, _ and dots, such as course.completed or GROUP_MEMBER_ADDED (at most 100).")
		}
	}
	if len([]rune(in.Description)) > 1000 {
		ve.Add("description", "Use at most 1,000 characters.")
	}
	in.Replacement = strings.TrimSpace(in.Replacement)
	if len([]rune(in.Replacement)) > 500 {
		ve.Add("replacement", "Use at most 500 characters.")
	}
	sample := json.RawMessage("{}")
	if s := strings.TrimSpace(in.Sample); s != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
			ve.Add("sample", "Must be a JSON object: "+jsonProblem(err))
		} else if len(s) > 64<<10 {
			ve.Add("sample", "Keep the sample under 64 KiB.")
		} else if field, p := JSONTextProblem([]byte(s), false); p != "" {
			ve.Add("sample", fmt.Sprintf("Must be a JSON object whose texts the catalogue can store: %s %s.", field, p))
		} else {
			sample = json.RawMessage(s)
		}
	}
	return sample, ve.Err()
}

func jsonProblem(err error) string {
	if err == nil {
		return "it is not an object."
	}
	return err.Error()
}

var eventTypeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$`)

// CreateEventType adds a type to the catalogue, for actor.
func (db *DB) CreateEventType(ctx context.Context, actor Actor, in EventTypeInput) (*EventType, error) {
	sample, err := in.validate(true)
	if err != nil {
		return nil, err
	}
	t := &EventType{Name: in.Name, Description: in.Description, Sample: sample, Replacement: in.Replacement}
	err = db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := tx.Create(t).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return nil, Invalid("name", "This event type already exists.")
			}
			return nil, fmt.Errorf("creating event type %s: %w", in.Name, err)
		}
		return &entry{action: "event_type.created", objectType: "event_type", objectID: t.Name, summary: "Added event type " + t.Name}, nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// UpdateEventType changes a type's description, sample and replacement text, for actor.
func (db *DB) UpdateEventType(ctx context.Context, actor Actor, name string, in EventTypeInput) (*EventType, error) {
	sample, err := in.validate(false)
	if err != nil {
		return nil, err
	}
	err = db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		res := tx.Model(&EventType{}).Where("name = ?", name).
			Updates(map[string]any{"description": in.Description, "sample": sample, "replacement": in.Replacement, "updated_at": time.Now()})
		if res.Error != nil {
			return nil, fmt.Errorf("updating event type %s: %w", name, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil, ErrNotFound
		}
		return &entry{action: "event_type.updated", objectType: "event_type", objectID: name, summary: "Changed event type " + name}, nil
	})
	if err != nil {
		return nil, err
	}
	return db.FindEventTypeByName(ctx, name)
}

// SetEventTypeDeprecated deprecates or restores a type, for actor. Deprecated types keep
// flowing to the webhooks that have them, but cannot be chosen again.
func (db *DB) SetEventTypeDeprecated(ctx context.Context, actor Actor, name string, deprecated bool) error {
	return db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		var at any
		e := &entry{action: "event_type.undeprecated", objectType: "event_type", objectID: name,
			summary: name + " is offered for webhooks again."}
		if deprecated {
			at = time.Now()
			e.action, e.summary = "event_type.deprecated", name+" is deprecated: webhooks that have it keep it; no one can choose it any more."
		}
		res := tx.Model(&EventType{}).Where("name = ?", name).Updates(map[string]any{"deprecated_at": at, "updated_at": time.Now()})
		if res.Error != nil {
			return nil, fmt.Errorf("deprecating event type %s: %w", name, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil, ErrNotFound
		}
		return e, nil
	})
}

// CountEventTypeWebhooks counts the webhooks that name a type explicitly.
func (db *DB) CountEventTypeWebhooks(ctx context.Context) (map[string]int, error) {
	rows, err := db.Pool.Query(ctx, `SELECT event_type, count(*) FROM webhook_event_types GROUP BY event_type`)
	if err != nil {
		return nil, fmt.Errorf("counting subscriptions: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var n string
		var c int
		if err := rows.Scan(&n, &c); err != nil {
			return nil, fmt.Errorf("counting subscriptions: %w", err)
		}
		out[n] = c
	}
	return out, rows.Err()
}
