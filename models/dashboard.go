package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// HourCount is the deliveries of one hour.
type HourCount struct {
	Hour      time.Time
	Succeeded int64
	Failed    int64
}

// DeliveryHours returns the 24 hours up to now, oldest first, from the hourly rollup.
func (db *DB) DeliveryHours(ctx context.Context, now time.Time) ([]HourCount, error) {
	end := now.UTC().Truncate(time.Hour)
	start := end.Add(-23 * time.Hour)
	rows, err := db.Pool.Query(ctx, `SELECT hour, succeeded, failed FROM delivery_hours WHERE hour >= $1 AND hour <= $2`, start, end)
	if err != nil {
		return nil, fmt.Errorf("reading delivery hours: %w", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[HourCount])
	if err != nil {
		return nil, fmt.Errorf("reading delivery hours: %w", err)
	}
	out := make([]HourCount, 24)
	for i := range out {
		out[i].Hour = start.Add(time.Duration(i) * time.Hour)
	}
	for _, h := range got {
		if i := int(h.Hour.UTC().Sub(start) / time.Hour); i >= 0 && i < 24 {
			out[i].Succeeded, out[i].Failed = h.Succeeded, h.Failed
		}
	}
	return out, nil
}

// Backlog is the work waiting: changes in open batch windows (or held by paused webhooks) and
// messages waiting for an attempt.
type Backlog struct {
	PendingChanges  int64
	WaitingMessages int64
}

// FindBacklog counts the work waiting.
func (db *DB) FindBacklog(ctx context.Context) (Backlog, error) {
	var b Backlog
	err := db.Pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM changes WHERE state = 'pending'),
		       -- Each count matches a partial index's predicate, so it reads only that index.
		       (SELECT count(*) FROM messages WHERE state IN ('pending', 'retrying'))
		       + (SELECT count(*) FROM messages WHERE state = 'delivering')`).Scan(&b.PendingChanges, &b.WaitingMessages)
	if err != nil {
		return b, fmt.Errorf("counting backlog: %w", err)
	}
	return b, nil
}

// FailingWebhook is a webhook whose deliveries failed lately.
type FailingWebhook struct {
	ID, Name, URL, State, StateReason string
	LastFailureAt                     *time.Time
	LastStatus                        *int
	LastError                         string
}

// FindFailingWebhooks lists the webhooks with a failed or retrying message in the last 24
// hours, most recent failure first, then the disabled ones.
func (db *DB) FindFailingWebhooks(ctx context.Context, now time.Time, limit int) ([]FailingWebhook, error) {
	rows, err := db.Pool.Query(ctx, `
		WITH recent AS (
			SELECT DISTINCT ON (m.webhook_id) m.webhook_id, m.last_attempt_at, m.last_status, m.last_error
			FROM (SELECT webhook_id, last_attempt_at, last_status, last_error FROM messages
			      WHERE state IN ('retrying', 'failed') AND kind = 'changes' AND last_attempt_at > $1
			      ORDER BY last_attempt_at DESC LIMIT 5000) m
			ORDER BY m.webhook_id, m.last_attempt_at DESC
		)
		SELECT w.id, w.name, w.url, w.state, w.state_reason, r.last_attempt_at, r.last_status, coalesce(r.last_error, '')
		FROM webhooks w LEFT JOIN recent r ON r.webhook_id = w.id
		WHERE r.webhook_id IS NOT NULL OR w.state = 'disabled'
		ORDER BY (w.state = 'disabled') , r.last_attempt_at DESC NULLS LAST, w.name
		LIMIT $2`, now.Add(-24*time.Hour), limit)
	if err != nil {
		return nil, fmt.Errorf("finding failing webhooks: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[FailingWebhook])
	if err != nil {
		return nil, fmt.Errorf("reading failing webhooks: %w", err)
	}
	return out, nil
}

// WebhookHealth is how a webhook has fared lately.
type WebhookHealth struct {
	Succeeded24h, Failed24h int
	LastFailureAt           *time.Time
	LastFailure             string
	VerifiedAt              *time.Time
	VerifyFailures          int
	NextVerifyAt            *time.Time
	LastVerifyResult        string
	// PendingChanges are the changes not yet in a message: an open batch window's, or those
	// that wait while the webhook is paused or disabled.
	PendingChanges int
}

// FindWebhookHealth reads a webhook's last 24 hours of deliveries and its verification state.
func (db *DB) FindWebhookHealth(ctx context.Context, w *Webhook, now time.Time) (WebhookHealth, error) {
	var h WebhookHealth
	err := db.Pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE state = 'succeeded'), count(*) FILTER (WHERE state IN ('failed', 'retrying'))
		FROM messages WHERE webhook_id = $1 AND kind = 'changes' AND created_at > $2`, w.ID, now.Add(-24*time.Hour)).
		Scan(&h.Succeeded24h, &h.Failed24h)
	if err != nil {
		return h, fmt.Errorf("reading health of %s: %w", w.ID, err)
	}
	var status *int
	var lastErr string
	err = db.Pool.QueryRow(ctx, `
		SELECT last_attempt_at, last_status, last_error FROM messages
		WHERE webhook_id = $1 AND state IN ('failed', 'retrying') AND last_attempt_at IS NOT NULL
		ORDER BY last_attempt_at DESC LIMIT 1`, w.ID).Scan(&h.LastFailureAt, &status, &lastErr)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return h, fmt.Errorf("reading last failure of %s: %w", w.ID, err)
	}
	switch {
	case status != nil && lastErr != "":
		h.LastFailure = fmt.Sprintf("%d: %s", *status, lastErr)
	case status != nil:
		h.LastFailure = fmt.Sprintf("answered %d", *status)
	default:
		h.LastFailure = lastErr
	}
	err = db.Pool.QueryRow(ctx, `SELECT count(*) FROM changes WHERE webhook_id = $1 AND state = 'pending'`, w.ID).Scan(&h.PendingChanges)
	if err != nil {
		return h, fmt.Errorf("counting pending changes of %s: %w", w.ID, err)
	}
	err = db.Pool.QueryRow(ctx, `SELECT last_verified_at, failures, next_verify_at, last_result FROM endpoints WHERE url = $1 AND partner_id = $2`, w.URL, w.PartnerID).
		Scan(&h.VerifiedAt, &h.VerifyFailures, &h.NextVerifyAt, &h.LastVerifyResult)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return h, fmt.Errorf("reading verification of %s: %w", w.URL, err)
	}
	return h, nil
}
