package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Endpoint is one distinct URL of one partner's active webhooks, verified on a schedule.
// Partners that share a URL have an endpoint each: a call is never signed for, or logged by,
// two partners.
type Endpoint struct {
	PartnerID      string
	URL            string
	Failures       int
	FirstFailureAt *time.Time
}

// SyncEndpoints makes sure every URL of a partner's active webhooks has a verification
// schedule; the first call comes one interval after the oldest such webhook was created, plus
// up to 10 % so that calls spread out.
func (db *DB) SyncEndpoints(ctx context.Context, now time.Time, interval time.Duration) error {
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO endpoints (partner_id, url, next_verify_at)
		SELECT partner_id, url, min(created_at) + make_interval(secs => $1 * (1 + random() * 0.1))
		FROM webhooks WHERE state = 'active' GROUP BY partner_id, url
		ON CONFLICT (partner_id, url) DO NOTHING`, interval.Seconds())
	if err != nil {
		return fmt.Errorf("scheduling endpoint verification: %w", err)
	}
	// An endpoint whose webhooks are all paused, disabled or deleted is not called; its next
	// call moves on, so that it is never "due" for a worker that would then wait for nothing.
	_, err = db.Pool.Exec(ctx, `
		UPDATE endpoints d SET next_verify_at = $1::timestamptz + make_interval(secs => $2)
		WHERE d.next_verify_at <= $1 AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.url = d.url AND w.partner_id = d.partner_id AND w.state = 'active')`,
		now, interval.Seconds())
	if err != nil {
		return fmt.Errorf("moving on idle endpoints: %w", err)
	}
	return nil
}

// ClaimDueEndpoints takes up to limit endpoints due for verification and moves their next call
// one interval on, so that no other instance calls them in this interval.
func (db *DB) ClaimDueEndpoints(ctx context.Context, now time.Time, interval time.Duration, limit int) ([]Endpoint, error) {
	rows, err := db.Pool.Query(ctx, `
		UPDATE endpoints e SET next_verify_at = $1::timestamptz + make_interval(secs => $2)
		WHERE (partner_id, url) IN (
			SELECT partner_id, url FROM endpoints d
			WHERE d.next_verify_at <= $1 AND EXISTS (SELECT 1 FROM webhooks w WHERE w.url = d.url AND w.partner_id = d.partner_id AND w.state = 'active')
			ORDER BY d.next_verify_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING partner_id, url, failures, first_failure_at`, now, interval.Seconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("claiming endpoints to verify: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Endpoint])
	if err != nil {
		return nil, fmt.Errorf("claiming endpoints to verify: %w", err)
	}
	return out, nil
}

// NextEndpointDue is when the next verification call is due, or false when none is planned.
func (db *DB) NextEndpointDue(ctx context.Context) (time.Time, bool, error) {
	var t *time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT min(next_verify_at) FROM endpoints`).Scan(&t); err != nil {
		return time.Time{}, false, fmt.Errorf("finding next verification: %w", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return *t, true, nil
}

// FindActiveWebhooksByURL returns the active webhooks of one partner that share an endpoint URL.
func (db *DB) FindActiveWebhooksByURL(ctx context.Context, partnerID, url string) ([]Webhook, error) {
	var ws []Webhook
	if err := db.Gorm.WithContext(ctx).Where("partner_id = ? AND url = ? AND state = 'active'", partnerID, url).Order("id").Find(&ws).Error; err != nil {
		return nil, fmt.Errorf("finding webhooks of %s: %w", url, err)
	}
	return ws, nil
}

// VerificationOutcome is what one verification call did for its endpoint.
type VerificationOutcome struct {
	Disabled []string // webhook ids disabled by this failure
	Failures int
}

// RecordVerification logs one verification call as a verification message of each webhook it
// served, and keeps the endpoint's streak: a success resets it; the threshold-th failure in a
// row, with no successful delivery to the URL since the first of them, disables its webhooks.
func (db *DB) RecordVerification(ctx context.Context, partnerID, url string, webhookIDs []string, messageIDs []string, payload []byte,
	res AttemptResult, threshold int, now time.Time) (VerificationOutcome, error) {
	var out VerificationOutcome
	if len(webhookIDs) == 0 {
		return out, nil
	}
	if _, err := db.Pool.Exec(ctx, `
		INSERT INTO messages (id, webhook_id, kind, state, payload, event_types, object_ids, change_count, created_at)
		SELECT id, webhook_id, 'verification', 'delivering', $3, '{webhook.verification}', '{}', 0, $4
		FROM unnest($1::text[], $2::text[]) AS m(id, webhook_id)`, messageIDs, webhookIDs, payload, now); err != nil {
		return out, fmt.Errorf("storing verification messages: %w", err)
	}
	outcomes := make([]AttemptOutcome, len(webhookIDs))
	for i := range webhookIDs {
		a := res
		a.MessageID, a.WebhookID = messageIDs[i], webhookIDs[i]
		outcomes[i] = AttemptOutcome{AttemptResult: a}
	}
	if err := db.RecordAttempts(ctx, outcomes); err != nil {
		return out, err
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var firstFailure *time.Time
		err := tx.QueryRow(ctx, `
			UPDATE endpoints SET last_verified_at = $2, last_result = $3,
			       failures = CASE WHEN $4 THEN 0 ELSE failures + 1 END,
			       first_failure_at = CASE WHEN $4 THEN NULL ELSE coalesce(first_failure_at, $2) END
			WHERE url = $1 AND partner_id = $5
			RETURNING failures, first_failure_at`, url, now, verificationResult(res), res.Success, partnerID).Scan(&out.Failures, &firstFailure)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return fmt.Errorf("recording verification of %s: %w", url, err)
		}
		if res.Success || out.Failures < threshold {
			return nil
		}
		var delivered bool
		if err := tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM attempts a JOIN webhooks w ON w.id = a.webhook_id
			               WHERE w.url = $1 AND w.partner_id = $3 AND a.success AND a.trigger <> 'test' AND a.started_at >= $2
			                 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = a.message_id AND m.kind = 'verification'))`,
			url, firstFailure, partnerID).Scan(&delivered); err != nil {
			return fmt.Errorf("checking deliveries to %s: %w", url, err)
		}
		if delivered {
			return nil
		}
		reason := fmt.Sprintf("Disabled after %d failed verification calls in a row (since %s UTC) with no successful delivery in between; last: %s",
			out.Failures, firstFailure.UTC().Format("2006-01-02 15:04"), verificationResult(res))
		rows, err := tx.Query(ctx, `
			UPDATE webhooks SET state = 'disabled', state_reason = $2, state_changed_at = $3, updated_at = $3
			WHERE url = $1 AND partner_id = $4 AND state = 'active' RETURNING id`, url, reason, now, partnerID)
		if err != nil {
			return fmt.Errorf("disabling webhooks of %s: %w", url, err)
		}
		if out.Disabled, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return fmt.Errorf("disabling webhooks of %s: %w", url, err)
		}
		for _, id := range out.Disabled {
			if _, err := tx.Exec(ctx, `
				INSERT INTO audit_log (actor_email, action, object_type, object_id, summary) VALUES ('hookrelay', 'webhook.disabled', 'webhook', $1, $2)`,
				id, reason); err != nil {
				return fmt.Errorf("auditing disable of %s: %w", id, err)
			}
		}
		if !db.MailContacts || len(out.Disabled) == 0 {
			return nil
		}
		src := `(SELECT id, partner_id, name, state, state_changed_at FROM webhooks WHERE id = ANY($1))`
		if _, err := tx.Exec(ctx, queueStateMailsSQL(src, "$2::text"), out.Disabled, reason); err != nil {
			return fmt.Errorf("queueing mail about disabling webhooks of %s: %w", url, err)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, ChannelMail); err != nil {
			return fmt.Errorf("notifying %s: %w", ChannelMail, err)
		}
		return nil
	})
	return out, err
}

func verificationResult(res AttemptResult) string {
	switch {
	case res.Status != 0 && res.Error != "":
		return fmt.Sprintf("%d (%s)", res.Status, res.Error)
	case res.Status != 0:
		return fmt.Sprint(res.Status)
	default:
		return res.Error
	}
}

// ClaimSchedule runs a periodic task on one instance: it returns true, and moves the task's
// next run every seconds on, when the task was due.
func (db *DB) ClaimSchedule(ctx context.Context, name string, every time.Duration, now time.Time) (bool, error) {
	if _, err := db.Pool.Exec(ctx, `INSERT INTO schedules (name, next_run_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, now); err != nil {
		return false, fmt.Errorf("planning %s: %w", name, err)
	}
	tag, err := db.Pool.Exec(ctx, `UPDATE schedules SET next_run_at = $2::timestamptz + make_interval(secs => $3) WHERE name = $1 AND next_run_at <= $2`,
		name, now, every.Seconds())
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RetentionBatch deletes at most limit of the oldest expendable rows before cutoff: attempts,
// finished messages, events no pending change still needs, and mails sent or given up. It returns how many rows went,
// so the caller repeats until nothing is left; small batches never hold locks for long.
func (db *DB) RetentionBatch(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE started_at < $1 ORDER BY started_at LIMIT $2)`,
		`DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE created_at < $1 AND state IN ('succeeded', 'failed') ORDER BY created_at LIMIT $2)`,
		`DELETE FROM events WHERE id IN (SELECT e.id FROM events e WHERE e.received_at < $1
		     AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.event_id = e.id AND c.state = 'pending') ORDER BY e.received_at LIMIT $2)`,
		`DELETE FROM delivery_hours WHERE hour < $1::timestamptz - interval '1 day' AND $2::int > 0`,
		// Mails that went out, or were given up, are kept as long as the delivery log.
		`DELETE FROM mails WHERE id IN (SELECT id FROM mails WHERE created_at < $1 AND state IN ('sent', 'failed') ORDER BY id LIMIT $2)`,
	} {
		tag, err := db.Pool.Exec(ctx, q, cutoff, limit)
		if err != nil {
			return total, fmt.Errorf("removing old rows: %w", err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}
