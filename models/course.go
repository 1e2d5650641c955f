package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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
	var ve Error
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

// UpsertCourse creates the course or updates its title, un-archiving it, for actor. It reports
// whether the course was new. Putting what is already there changes nothing.
func (db *DB) UpsertCourse(ctx context.Context, actor Actor, id, title string) (*Course, bool, error) {
	title = strings.TrimSpace(title)
	if err := validateCourse(id, title); err != nil {
		return nil, false, err
	}
	var c Course
	var created bool
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&c).Error
		switch {
		case err == nil && c.Title == title && c.ArchivedAt == nil:
			return nil, nil
		case err == nil:
			if err := tx.Model(&c).Updates(map[string]any{"title": title, "archived_at": nil, "updated_at": time.Now()}).Error; err != nil {
				return nil, fmt.Errorf("saving course %s: %w", id, err)
			}
			c.Title, c.ArchivedAt = title, nil
			return &entry{action: "course.updated", objectType: "course", objectID: c.ID, summary: "Renamed course to " + c.Title}, nil
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return nil, fmt.Errorf("finding course %s: %w", id, err)
		}
		// Two puts of a new course at once: the second waits for the first and updates it.
		if err := tx.Raw(`
			INSERT INTO courses (id, title) VALUES (?, ?)
			ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, archived_at = NULL, updated_at = now()
			RETURNING id, title, archived_at, created_at, updated_at, (xmax = 0)`, id, title).Row().
			Scan(&c.ID, &c.Title, &c.ArchivedAt, &c.CreatedAt, &c.UpdatedAt, &created); err != nil {
			return nil, fmt.Errorf("saving course %s: %w", id, err)
		}
		return &entry{action: "course.created", objectType: "course", objectID: c.ID, summary: "Added course " + c.Title}, nil
	})
	if err != nil {
		return nil, false, err
	}
	return &c, created, nil
}

// ArchiveCourse hides a course from new subscriptions, for actor; webhooks that chose it keep
// it. Archiving an archived course changes nothing.
func (db *DB) ArchiveCourse(ctx context.Context, actor Actor, id string) (*Course, error) {
	var c Course
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := lockRow(tx, forUpdate, &c, id); err != nil {
			return nil, err
		}
		if c.ArchivedAt != nil {
			return nil, nil
		}
		now := time.Now()
		if err := tx.Model(&c).Updates(map[string]any{"archived_at": now, "updated_at": now}).Error; err != nil {
			return nil, fmt.Errorf("archiving course %s: %w", id, err)
		}
		c.ArchivedAt = &now
		return &entry{action: "course.archived", objectType: "course", objectID: c.ID, summary: "Archived course " + c.Title}, nil
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
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

// CourseFilter narrows a list of courses.
type CourseFilter struct {
	// Search matches the id or title, case-insensitively.
	Search          string
	IncludeArchived bool
	// After is the id after which the page starts (courses list by id).
	After string
	Limit int
}

// FindCourses lists courses by id, a page at a time; the trigram indexes keep searches fast
// over hundreds of thousands of courses. It returns the id to continue after, or "".
func (db *DB) FindCourses(ctx context.Context, f CourseFilter) ([]Course, string, error) {
	q := db.Gorm.WithContext(ctx).Order("id")
	if !f.IncludeArchived {
		q = q.Where("archived_at IS NULL")
	}
	if s := strings.TrimSpace(f.Search); s != "" {
		like := "%" + escapeLike(s) + "%"
		q = q.Where("(title ILIKE ? OR id ILIKE ?)", like, like)
	}
	if f.After != "" {
		q = q.Where("id > ?", f.After)
	}
	limit := PageSize(f.Limit)
	var cs []Course
	if err := q.Limit(limit + 1).Find(&cs).Error; err != nil {
		return nil, "", fmt.Errorf("listing courses: %w", err)
	}
	next := ""
	if len(cs) > limit {
		cs = cs[:limit]
		next = cs[limit-1].ID
	}
	return cs, next, nil
}

// FindCoursesByIDs returns the courses with these ids, in id order.
func (db *DB) FindCoursesByIDs(ctx context.Context, ids []string) ([]Course, error) {
	var cs []Course
	if len(ids) == 0 {
		return cs, nil
	}
	if err := db.Gorm.WithContext(ctx).Where("id IN ?", ids).Order("id").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("finding courses: %w", err)
	}
	return cs, nil
}

// CreateCourse adds a course for actor; its id must be new.
func (db *DB) CreateCourse(ctx context.Context, actor Actor, id, title string) (*Course, error) {
	id, title = strings.TrimSpace(id), strings.TrimSpace(title)
	if err := validateCourse(id, title); err != nil {
		return nil, err
	}
	c := &Course{ID: id, Title: title}
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := tx.Create(c).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return nil, Invalid("id", "A course with this id already exists.")
			}
			return nil, fmt.Errorf("creating course %s: %w", id, err)
		}
		return &entry{action: "course.created", objectType: "course", objectID: c.ID, summary: "Added course " + c.Title}, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// UpdateCourse changes a course's title, for actor.
func (db *DB) UpdateCourse(ctx context.Context, actor Actor, id, title string) (*Course, error) {
	title = strings.TrimSpace(title)
	if err := validateCourse(id, title); err != nil {
		return nil, err
	}
	var c Course
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := lockRow(tx, forUpdate, &c, id); err != nil {
			return nil, err
		}
		if err := tx.Model(&c).Updates(map[string]any{"title": title, "updated_at": time.Now()}).Error; err != nil {
			return nil, fmt.Errorf("updating course %s: %w", id, err)
		}
		c.Title = title
		return &entry{action: "course.updated", objectType: "course", objectID: c.ID, summary: "Renamed course to " + c.Title}, nil
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}
