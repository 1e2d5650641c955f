package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sign-in throttling: the first FreeSignInFailures failures for a key cost nothing; after that
// each further try must wait twice as long as the last, up to MaxSignInDelay. Failures older than
// SignInFailureWindow are forgotten. The counts live in PostgreSQL so every instance sees them.
const (
	FreeSignInFailures  = 5
	MaxSignInDelay      = 15 * time.Minute
	SignInFailureWindow = 15 * time.Minute
)

func signInDelay(failures int) time.Duration {
	if failures < FreeSignInFailures {
		return 0
	}
	d := time.Second << min(failures-FreeSignInFailures, 20)
	return min(d, MaxSignInDelay)
}

// SignInWait returns how long a sign-in for key must still wait; zero means it may go ahead.
func (db *DB) SignInWait(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	var failures int
	var last time.Time
	err := db.Pool.QueryRow(ctx, `SELECT failures, last_failure FROM sign_in_failures WHERE key = $1`, key).Scan(&failures, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("reading sign-in failures: %w", err)
	}
	if now.Sub(last) > SignInFailureWindow {
		return 0, nil
	}
	wait := last.Add(signInDelay(failures)).Sub(now)
	return max(wait, 0), nil
}

// RecordSignInFailure counts one failed sign-in for key.
func (db *DB) RecordSignInFailure(ctx context.Context, key string, now time.Time) error {
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO sign_in_failures (key, failures, last_failure) VALUES ($1, 1, $2)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN sign_in_failures.last_failure < $2 - make_interval(secs => $3) THEN 1
			                ELSE sign_in_failures.failures + 1 END,
			last_failure = $2`, key, now, SignInFailureWindow.Seconds())
	if err != nil {
		return fmt.Errorf("recording sign-in failure: %w", err)
	}
	return nil
}

// ClearSignInFailures forgets the failures of key after a successful sign-in.
func (db *DB) ClearSignInFailures(ctx context.Context, key string) error {
	if _, err := db.Pool.Exec(ctx, `DELETE FROM sign_in_failures WHERE key = $1`, key); err != nil {
		return fmt.Errorf("clearing sign-in failures: %w", err)
	}
	return nil
}
