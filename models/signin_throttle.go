package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sign-in throttling: every attempt is counted against its email and its client address before
// the password is checked, in one transaction that refuses the attempt (counting nothing) when
// either must still wait, so parallel guesses are counted exactly like serial ones. The first
// Free failures of a key cost nothing; after that each further try must wait twice as long as
// the last, up to MaxSignInDelay. A successful sign-in clears its email's count and takes its
// own attempt back off the address's. Counts idle for SignInFailureWindow are forgotten (and
// their rows pruned). The counts live in PostgreSQL so every instance sees them.
const (
	FreeSignInFailures        = 5  // per email
	FreeSignInFailuresPerAddr = 20 // per client address, which a whole office may share
	MaxSignInDelay            = 15 * time.Minute
	SignInFailureWindow       = 15 * time.Minute
)

// SignInKey is one count that sign-ins are throttled by.
type SignInKey struct {
	hash []byte
	free int
	// Name is what the count is kept for, to tell the person ("this email").
	Name string
}

// EmailSignInKey is the count of an email (as typed, whatever its length, case aside).
func EmailSignInKey(email string) SignInKey {
	h := sha256.Sum256([]byte("email:" + normalizeEmail(email)))
	return SignInKey{hash: h[:], free: FreeSignInFailures, Name: "this email"}
}

// AddressSignInKey is the count of a client address; IPv6 addresses count by their /64, which
// one client usually has whole.
func AddressSignInKey(addr netip.Addr) SignInKey {
	addr = addr.Unmap()
	if addr.Is6() {
		addr = netip.PrefixFrom(addr, 64).Masked().Addr()
	}
	h := sha256.Sum256([]byte("addr:" + addr.String()))
	return SignInKey{hash: h[:], free: FreeSignInFailuresPerAddr, Name: "your network address"}
}

func signInDelay(failures, free int) time.Duration {
	if failures < free {
		return 0
	}
	return min(time.Second<<min(failures-free, 20), MaxSignInDelay)
}

// ThrottledError says a sign-in was refused before its password was checked.
type ThrottledError struct {
	Wait time.Duration
	Key  SignInKey
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins for %s: wait %s", e.Key.Name, e.Wait)
}

// BeginSignIn counts one sign-in attempt against every key, or refuses it with a
// *ThrottledError (counting nothing) when one of them must still wait. Call FinishSignIn once
// the password proved right.
func (db *DB) BeginSignIn(ctx context.Context, keys []SignInKey, now time.Time) error {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b SignInKey) int { return bytes.Compare(a.hash, b.hash) }) // one lock order
	window := SignInFailureWindow.Seconds()
	var refused *ThrottledError
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		for _, k := range keys {
			// The row lock of the upsert serialises attempts on one key; the WHERE lets this
			// attempt in only if the count so far allows it.
			var n int
			err := tx.QueryRow(ctx, `
				INSERT INTO sign_in_failures AS f (key, failures, last_failure) VALUES ($1, 1, $2)
				ON CONFLICT (key) DO UPDATE SET
					failures = CASE WHEN f.last_failure < $2 - make_interval(secs => $3) THEN 1 ELSE f.failures + 1 END,
					last_failure = $2
				WHERE f.last_failure < $2 - make_interval(secs => $3) OR f.failures < $4
				   OR f.last_failure + make_interval(secs => least(power(2, least(f.failures - $4, 20)), $5)) <= $2
				RETURNING f.failures`, k.hash, now, window, k.free, MaxSignInDelay.Seconds()).Scan(&n)
			if errors.Is(err, pgx.ErrNoRows) {
				var failures int
				var last time.Time
				if err := tx.QueryRow(ctx, `SELECT failures, last_failure FROM sign_in_failures WHERE key = $1`, k.hash).Scan(&failures, &last); err != nil {
					return fmt.Errorf("reading sign-in failures: %w", err)
				}
				refused = &ThrottledError{Wait: max(last.Add(signInDelay(failures, k.free)).Sub(now), time.Second), Key: k}
				return refused // rolls back: a refused attempt counts nowhere
			} else if err != nil {
				return fmt.Errorf("counting sign-in attempt: %w", err)
			}
		}
		return nil
	})
	if refused != nil {
		return refused
	}
	if err != nil {
		return err
	}
	// Forget counts idle past the window, a few at a time, so the table holds only what is
	// recent however many emails and addresses are tried.
	if _, err := db.Pool.Exec(ctx, `
		DELETE FROM sign_in_failures WHERE key IN (
			SELECT key FROM sign_in_failures WHERE last_failure < $1 ORDER BY last_failure LIMIT 100 FOR UPDATE SKIP LOCKED)`,
		now.Add(-SignInFailureWindow)); err != nil {
		return fmt.Errorf("pruning sign-in failures: %w", err)
	}
	return nil
}

// FinishSignIn undoes the count of a sign-in whose password was right: the email's failures are
// forgotten, and the address's count loses this attempt (an address's other failures stand, so
// signing in to one's own account does not reset the count of guesses at others).
func (db *DB) FinishSignIn(ctx context.Context, email SignInKey, addr SignInKey) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM sign_in_failures WHERE key = $1`, email.hash)
	b.Queue(`UPDATE sign_in_failures SET failures = greatest(failures - 1, 0) WHERE key = $1`, addr.hash)
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("clearing sign-in failures: %w", err)
	}
	return nil
}

// CountSignInFailures returns the count kept for key, for tests and support.
func (db *DB) CountSignInFailures(ctx context.Context, key SignInKey) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `SELECT failures FROM sign_in_failures WHERE key = $1`, key.hash).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading sign-in failures: %w", err)
	}
	return n, nil
}
