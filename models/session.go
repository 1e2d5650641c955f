package models

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// CreateSession records a new signed-in session of user id and returns its id, which only the
// session cookie carries. Sessions older than maxAge are pruned on the way.
func (db *DB) CreateSession(ctx context.Context, userID string, now time.Time, maxAge time.Duration) (string, error) {
	id := rand.Text()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)`, id, userID, now); err != nil {
		return "", fmt.Errorf("creating session of %s: %w", userID, err)
	}
	if _, err := db.Pool.Exec(ctx, `DELETE FROM sessions WHERE created_at < $1`, now.Add(-maxAge)); err != nil {
		return "", fmt.Errorf("pruning sessions: %w", err)
	}
	return id, nil
}

// FindSessionUser returns the user of a live session (with its partner), or ErrNotFound when
// the session has ended.
func (db *DB) FindSessionUser(ctx context.Context, sessionID, userID string) (*User, error) {
	var u User
	err := db.Gorm.WithContext(ctx).Preload("Partner").
		Where("id = ? AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = ? AND s.user_id = users.id)", userID, sessionID).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding session of %s: %w", userID, err)
	}
	return &u, nil
}

// DeleteSession ends a session, wherever its cookie has been copied to.
func (db *DB) DeleteSession(ctx context.Context, sessionID string) error {
	if _, err := db.Pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, sessionID); err != nil {
		return fmt.Errorf("ending session: %w", err)
	}
	return nil
}
