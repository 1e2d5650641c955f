package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Message states.
const (
	MessagePending    = "pending"
	MessageDelivering = "delivering"
	MessageSucceeded  = "succeeded"
	MessageRetrying   = "retrying"
	MessageFailed     = "failed"
)

// Message kinds.
const (
	KindChanges      = "changes"
	KindTest         = "test"
	KindVerification = "verification"
)

// Attempt triggers.
const (
	TriggerSchedule = "schedule"
	TriggerResend   = "resend"
	TriggerTest     = "test"
)

// Message is what one HTTP request carries to one webhook. Its payload never changes.
type Message struct {
	ID                string `gorm:"primaryKey"`
	WebhookID         string
	Kind              string
	State             string
	Payload           []byte
	URLSuffix         string      `gorm:"column:url_suffix"`
	EventTypes        StringArray `gorm:"type:text[]"`
	ObjectIDs         StringArray `gorm:"column:object_ids;type:text[]"`
	ChangeCount       int
	AttemptCount      int
	ScheduledAttempts int
	LastStatus        *int
	LastError         string
	LastAttemptAt     *time.Time
	NextAttemptAt     *time.Time
	LeaseUntil        *time.Time
	CreatedAt         time.Time
	FinishedAt        *time.Time
	ResendRequested   bool
}

// Delivery is a message claimed for an attempt, with what is needed to send it.
type Delivery struct {
	MessageID         string
	Kind              string
	Payload           []byte
	URLSuffix         string
	ScheduledAttempts int
	// Resend marks a message a person put back in the queue: one attempt, no retries.
	Resend  bool
	Webhook Webhook
}

// waitingHooks is a recursive CTE, "hooks", of the webhooks that have messages waiting (pending
// or retrying): one index probe each, skipping from one webhook to the next, rather than a look
// at every webhook when most have nothing waiting.
const waitingHooks = `hooks AS (
			(SELECT webhook_id FROM messages WHERE state IN ('pending', 'retrying') ORDER BY webhook_id LIMIT 1)
			UNION ALL
			SELECT (SELECT m.webhook_id FROM messages m WHERE m.state IN ('pending', 'retrying') AND m.webhook_id > h.webhook_id ORDER BY m.webhook_id LIMIT 1)
			FROM hooks h WHERE h.webhook_id IS NOT NULL
		)`

// ClaimDueMessages marks up to limit due messages of active webhooks as delivering, leased to
// this instance until now+lease, and returns them, oldest due first. No webhook gets more than
// perWebhook messages in flight across all instances, so a slow or dead receiver cannot take
// every worker. Messages whose lease ran out (their instance died mid-delivery) are due again.
func (db *DB) ClaimDueMessages(ctx context.Context, now time.Time, limit, perWebhook int, lease time.Duration) ([]Delivery, error) {
	rows, err := db.Pool.Query(ctx, `
		WITH RECURSIVE `+waitingHooks+`,
		cand AS (
			SELECT d.id, d.next_attempt_at FROM hooks h JOIN webhooks w ON w.id = h.webhook_id
			CROSS JOIN LATERAL (
				SELECT m.id, m.next_attempt_at FROM messages m
				WHERE m.webhook_id = w.id AND m.state IN ('pending', 'retrying') AND (m.kind = 'changes' OR m.resend_requested) AND m.next_attempt_at <= $1
				ORDER BY m.next_attempt_at
				LIMIT greatest(0, CASE WHEN w.failing_since IS NULL THEN $4 ELSE 1 END
				                  - (SELECT count(*) FROM messages b WHERE b.webhook_id = w.id AND b.state = 'delivering'))
			) d
			WHERE w.state = 'active'
			UNION ALL
			SELECT m.id, m.lease_until FROM messages m WHERE m.state = 'delivering' AND m.lease_until <= $1
		),
		due AS (
			SELECT m.id FROM messages m JOIN (SELECT id FROM cand ORDER BY next_attempt_at LIMIT $2) c ON c.id = m.id
			-- Checked again on the row as locked: another instance may have claimed it meanwhile.
			WHERE (m.state IN ('pending', 'retrying') AND m.next_attempt_at <= $1) OR (m.state = 'delivering' AND m.lease_until <= $1)
			FOR UPDATE OF m SKIP LOCKED
		)
		UPDATE messages m SET state = 'delivering', lease_until = $1::timestamptz + make_interval(secs => $3)
		FROM due, webhooks w
		WHERE m.id = due.id AND w.id = m.webhook_id
		RETURNING m.id, m.kind, m.payload, m.url_suffix, m.scheduled_attempts, m.resend_requested,
		          w.id, w.url, w.method, w.secret_enc, w.previous_secret_enc, w.previous_secret_expires_at,
		          w.basic_auth_user, w.basic_auth_password_enc`, now, limit, lease.Seconds(), perWebhook)
	if err != nil {
		return nil, fmt.Errorf("claiming due messages: %w", err)
	}
	var out []Delivery
	for rows.Next() {
		var d Delivery
		w := &d.Webhook
		if err := rows.Scan(&d.MessageID, &d.Kind, &d.Payload, &d.URLSuffix, &d.ScheduledAttempts, &d.Resend,
			&w.ID, &w.URL, &w.Method, &w.SecretEnc, &w.PreviousSecretEnc, &w.PreviousSecretExpiresAt,
			&w.BasicAuthUser, &w.BasicAuthPasswordEnc); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading claimed message: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming due messages: %w", err)
	}
	return out, nil
}

// NextMessageDue returns when the next message of an active webhook becomes due after now (a
// scheduled attempt), or a lease runs out, or false when nothing waits. Messages of paused and
// disabled webhooks wait for a person and do not count: the worker would otherwise see them as
// due and wake up for nothing, and miss the real next attempt.
func (db *DB) NextMessageDue(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var t *time.Time
	err := db.Pool.QueryRow(ctx, `
		WITH RECURSIVE `+waitingHooks+`
		SELECT min(t) FROM (
			SELECT (SELECT m.next_attempt_at FROM messages m
			        WHERE m.webhook_id = w.id AND m.state IN ('pending', 'retrying') AND (m.kind = 'changes' OR m.resend_requested)
			          AND m.next_attempt_at > $1
			        ORDER BY m.next_attempt_at LIMIT 1) AS t
			FROM hooks h JOIN webhooks w ON w.id = h.webhook_id AND w.state = 'active'
			UNION ALL
			(SELECT lease_until FROM messages WHERE state = 'delivering' ORDER BY lease_until LIMIT 1)
		) s`, now).Scan(&t)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("finding next due message: %w", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return *t, true, nil
}

// AttemptResult is one HTTP request of a message and what came back.
type AttemptResult struct {
	MessageID       string
	WebhookID       string
	Trigger         string
	StartedAt       time.Time
	URL             string
	Method          string
	RequestHeaders  http.Header
	Status          int // 0 when there was no response
	ResponseHeaders http.Header
	ResponseBody    []byte
	Truncated       bool
	Duration        time.Duration
	Error           string
	Success         bool
}

// Attempt is a recorded AttemptResult.
type Attempt struct {
	ID                int64 `gorm:"primaryKey"`
	MessageID         string
	WebhookID         string
	Trigger           string
	StartedAt         time.Time
	URL               string `gorm:"column:url"`
	Method            string
	RequestHeaders    json.RawMessage `gorm:"type:jsonb"`
	ResponseStatus    *int
	ResponseHeaders   json.RawMessage `gorm:"type:jsonb"`
	ResponseBody      []byte
	ResponseTruncated bool
	DurationMs        int
	Error             string
	Success           bool
}

// AttemptOutcome is a finished attempt and when to try again (nil: no more tries, unless it
// succeeded).
type AttemptOutcome struct {
	AttemptResult
	NextAt *time.Time
}

// RecordAttempt stores one attempt and moves its message on; see RecordAttempts.
func (db *DB) RecordAttempt(ctx context.Context, a AttemptResult, nextAt *time.Time) error {
	return db.RecordAttempts(ctx, []AttemptOutcome{{AttemptResult: a, NextAt: nextAt}})
}

// RecordAttempts stores attempts and moves each message on, all in one transaction: to
// succeeded, to retrying at NextAt, or (NextAt nil) to failed. Attempts of the automatic
// schedule count towards the retry limit; resends and tests do not. Writing many at once keeps
// the database's work per delivery small under load.
func (db *DB) RecordAttempts(ctx context.Context, as []AttemptOutcome) error {
	n := len(as)
	var (
		msgIDs, hookIDs, triggers, urls, methods, errs, states = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		started                                                = make([]time.Time, n)
		reqHdrs, respHdrs                                      = make([]string, n), make([]*string, n)
		statuses                                               = make([]*int32, n)
		bodies                                                 = make([][]byte, n)
		truncated, success                                     = make([]bool, n), make([]bool, n)
		durations, scheduled                                   = make([]int32, n), make([]int32, n)
		nexts                                                  = make([]*time.Time, n)
	)
	for i, o := range as {
		a := o.AttemptResult
		rh, err := json.Marshal(a.RequestHeaders)
		if err != nil {
			return fmt.Errorf("encoding request headers: %w", err)
		}
		msgIDs[i], hookIDs[i], triggers[i], urls[i], methods[i], errs[i] = a.MessageID, a.WebhookID, a.Trigger, a.URL, a.Method, a.Error
		started[i], reqHdrs[i], bodies[i], truncated[i], success[i] = a.StartedAt, string(rh), a.ResponseBody, a.Truncated, a.Success
		durations[i] = int32(a.Duration.Milliseconds())
		if a.Status != 0 {
			st := int32(a.Status)
			statuses[i] = &st
			h, err := json.Marshal(a.ResponseHeaders)
			if err != nil {
				return fmt.Errorf("encoding response headers: %w", err)
			}
			hs := string(h)
			respHdrs[i] = &hs
		}
		switch {
		case a.Success:
			states[i] = MessageSucceeded
		case o.NextAt != nil:
			states[i] = MessageRetrying
			nexts[i] = o.NextAt
		default:
			states[i] = MessageFailed
		}
		if a.Trigger == TriggerSchedule {
			scheduled[i] = 1
		}
	}
	// One batch, one round trip: PostgreSQL runs the statements of a batch as one implicit
	// transaction, so they all apply or none do.
	b := &pgx.Batch{}
	// A message deleted meanwhile (with its webhook) takes its attempt with it: the join skips
	// it, where the foreign key would fail the whole batch and have the others sent again.
	b.Queue(`
		INSERT INTO attempts (message_id, webhook_id, trigger, started_at, url, method, request_headers, response_status,
		                      response_headers, response_body, response_truncated, duration_ms, error, success)
		SELECT a.message_id, a.webhook_id, a.trigger, a.started_at, a.url, a.method, a.request_headers::jsonb, a.response_status,
		       a.response_headers::jsonb, a.response_body, a.response_truncated, a.duration_ms, a.error, a.success
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::int[],
		            $9::text[], $10::bytea[], $11::bool[], $12::int[], $13::text[], $14::bool[])
		     AS a(message_id, webhook_id, trigger, started_at, url, method, request_headers, response_status,
		          response_headers, response_body, response_truncated, duration_ms, error, success)
		JOIN messages m ON m.id = a.message_id
		FOR KEY SHARE OF m`,
		msgIDs, hookIDs, triggers, started, urls, methods, reqHdrs, statuses, respHdrs, bodies, truncated, durations, errs, success)
	// One message can appear twice in a batch only if two instances raced on an expired
	// lease; the later row wins, which is as good as either.
	b.Queue(`
		UPDATE messages m SET state = u.state, attempt_count = m.attempt_count + 1,
		       scheduled_attempts = m.scheduled_attempts + u.scheduled,
		       last_status = u.status, last_error = u.error, last_attempt_at = u.started_at,
		       next_attempt_at = u.next_at, lease_until = NULL, resend_requested = false,
		       finished_at = CASE WHEN u.state IN ('succeeded', 'failed') THEN u.started_at + make_interval(secs => u.duration_ms / 1000.0) END
		FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::int[])
		     AS u(id, state, scheduled, status, error, started_at, next_at, duration_ms)
		WHERE m.id = u.id`,
		msgIDs, states, scheduled, statuses, errs, started, nexts, durations)
	// The hourly rollup counts deliveries of changes only: tests and verification calls
	// are not deliveries.
	b.Queue(`
		INSERT INTO delivery_hours (hour, succeeded, failed)
		SELECT date_trunc('hour', u.started_at), count(*) FILTER (WHERE u.success), count(*) FILTER (WHERE NOT u.success)
		FROM unnest($1::text[], $2::timestamptz[], $3::bool[]) AS u(id, started_at, success)
		JOIN messages m ON m.id = u.id AND m.kind = 'changes'
		GROUP BY 1
		ORDER BY 1
		ON CONFLICT (hour) DO UPDATE SET succeeded = delivery_hours.succeeded + EXCLUDED.succeeded,
		                                 failed = delivery_hours.failed + EXCLUDED.failed`,
		msgIDs, started, success)
	// A webhook's latest delivery decides whether it is failing. The row is written only when
	// that changes, so a healthy webhook's row is not locked at every delivery; rows are locked
	// in id order so that two instances recording at once cannot deadlock.
	b.Queue(`
		WITH latest AS (
			SELECT DISTINCT ON (m.webhook_id) m.webhook_id, u.success, u.started_at
			FROM unnest($1::text[], $2::timestamptz[], $3::bool[]) AS u(id, started_at, success)
			JOIN messages m ON m.id = u.id AND m.kind = 'changes'
			ORDER BY m.webhook_id, u.started_at DESC
		),
		flip AS (
			SELECT w.id, l.success, l.started_at FROM webhooks w JOIN latest l ON l.webhook_id = w.id
			WHERE (w.failing_since IS NULL) = NOT l.success
			ORDER BY w.id
			FOR NO KEY UPDATE OF w
		)
		UPDATE webhooks w SET failing_since = CASE WHEN f.success THEN NULL ELSE f.started_at END
		FROM flip f WHERE w.id = f.id`,
		msgIDs, started, success)
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("recording %d attempts: %w", n, err)
	}
	return nil
}

// FindMessageByID returns the message with id.
func (db *DB) FindMessageByID(ctx context.Context, id string) (*Message, error) {
	var m Message
	err := db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding message %s: %w", id, err)
	}
	return &m, nil
}

// FindAttempts lists the attempts of a message, oldest first.
func (db *DB) FindAttempts(ctx context.Context, messageID string) ([]Attempt, error) {
	var as []Attempt
	if err := db.Gorm.WithContext(ctx).Where("message_id = ?", messageID).Order("id").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("listing attempts of %s: %w", messageID, err)
	}
	return as, nil
}

// CountMessages counts the messages of a webhook.
func (db *DB) CountMessages(ctx context.Context, webhookID string) (int, error) {
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE webhook_id = $1`, webhookID).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting messages of %s: %w", webhookID, err)
	}
	return n, nil
}
