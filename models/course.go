package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Course is a catalogue entry that events can refer to by its external id.
type Course struct {
	ID         string `gorm:"primaryKey"`
	Title      string
	ArchivedAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func validateCourse(id, title string) error {
	var ve ValidationError
	switch {
	case strings.TrimSpace(id) == "":
		ve.Add("id", "Enter the course's id as the platform knows it.")
	case len(id) > 200:
		ve.Add("id", "Use at most 200 characters.")
	}
	switch {
	case strings.TrimSpace(title) == "":
		ve.Add("title", "Enter the course's title.")
	case len([]rune(title)) > 500:
		ve.Add("title", "Use at most 500 characters.")
	}
	return ve.Err()
}

// UpsertCourse creates the course or updates its title, un-archiving it. It reports whether
// the course was new.
func (db *DB) UpsertCourse(ctx context.Context, id, title string) (*Course, bool, error) {
	title = strings.TrimSpace(title)
	if err := validateCourse(id, title); err != nil {
		return nil, false, err
	}
	var c Course
	var created bool
	err := db.Pool.QueryRow(ctx, `
		INSERT INTO courses (id, title) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, archived_at = NULL, updated_at = now()
		RETURNING id, title, archived_at, created_at, updated_at, (xmax = 0)`, id, title).
		Scan(&c.ID, &c.Title, &c.ArchivedAt, &c.CreatedAt, &c.UpdatedAt, &created)
	if err != nil {
		return nil, false, fmt.Errorf("saving course %s: %w", id, err)
	}
	return &c, created, nil
}

// ArchiveCourse hides a course from new subscriptions; webhooks that chose it keep it.
func (db *DB) ArchiveCourse(ctx context.Context, id string) (*Course, error) {
	res := db.Gorm.WithContext(ctx).Model(&Course{}).Where("id = ? AND archived_at IS NULL", id).
		Updates(map[string]any{"archived_at": time.Now(), "updated_at": time.Now()})
	if res.Error != nil {
		return nil, fmt.Errorf("archiving course %s: %w", id, res.Error)
	}
	return db.FindCourseByID(ctx, id)
}

// FindCourseByID returns the course with id.
func (db *DB) FindCourseByID(ctx context.Context, id string) (*Course, error) {
	var c Course
	err := db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding course %s: %w", id, err)
	}
	return &c, nil
}
