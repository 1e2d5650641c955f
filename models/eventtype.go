package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// EventType is a catalogue entry that events name in their "type".
type EventType struct {
	Name         string `gorm:"primaryKey"`
	Description  string
	Sample       json.RawMessage `gorm:"type:jsonb"`
	DeprecatedAt *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
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
