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
}

// Delivery is a message claimed for an attempt, with what is needed to send it.
type Delivery struct {
	MessageID         string
	Kind              string
	Payload           []byte
	URLSuffix         string
	ScheduledAttempts int
	Webhook           Webhook
}

// ClaimDueMessages marks up to limit due messages of active webhooks as delivering, leased to
// this instance until now+lease, and returns them, oldest due first. No webhook gets more than
// perWebhook messages in flight across all instances, so a slow or dead receiver cannot take
// every worker. Messages whose lease ran out (their instance died mid-delivery) are due again.
func (db *DB) ClaimDueMessages(ctx context.Context, now time.Time, limit, perWebhook int, lease time.Duration) ([]Delivery, error) {
	rows, err := db.Pool.Query(ctx, `
		WITH cand AS (
			SELECT d.id, d.next_attempt_at FROM webhooks w
			CROSS JOIN LATERAL (
				SELECT m.id, m.next_attempt_at FROM messages m
				WHERE m.webhook_id = w.id AND m.state IN ('pending', 'retrying') AND m.kind = 'changes' AND m.next_attempt_at <= $1
				ORDER BY m.next_attempt_at
				LIMIT greatest(0, $4 - (SELECT count(*) FROM messages b WHERE b.webhook_id = w.id AND b.state = 'delivering'))
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
		RETURNING m.id, m.kind, m.payload, m.url_suffix, m.scheduled_attempts,
		          w.id, w.url, w.method, w.secret_enc, w.previous_secret_enc, w.previous_secret_expires_at,
		          w.basic_auth_user, w.basic_auth_password_enc`, now, limit, lease.Seconds(), perWebhook)
	if err != nil {
		return nil, fmt.Errorf("claiming due messages: %w", err)
	}
	var out []Delivery
	for rows.Next() {
		var d Delivery
		w := &d.Webhook
		if err := rows.Scan(&d.MessageID, &d.Kind, &d.Payload, &d.URLSuffix, &d.ScheduledAttempts,
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

// NextMessageDue returns when the next message becomes due (a scheduled attempt or a lease
// running out), or false when none waits.
func (db *DB) NextMessageDue(ctx context.Context) (time.Time, bool, error) {
	var t *time.Time
	err := db.Pool.QueryRow(ctx, `
		SELECT min(t) FROM (
			(SELECT next_attempt_at AS t FROM messages WHERE state IN ('pending', 'retrying') AND kind = 'changes' ORDER BY next_attempt_at LIMIT 1)
			UNION ALL
			(SELECT lease_until FROM messages WHERE state = 'delivering' ORDER BY lease_until LIMIT 1)
		) s`).Scan(&t)
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

// RecordAttempt stores an attempt and moves its message on, in one transaction: to succeeded,
// to retrying at nextAt, or (nextAt nil) to failed. Attempts of the automatic schedule count
// towards the retry limit; resends and tests do not.
func (db *DB) RecordAttempt(ctx context.Context, a AttemptResult, nextAt *time.Time) error {
	reqHdr, err := json.Marshal(a.RequestHeaders)
	if err != nil {
		return fmt.Errorf("encoding request headers: %w", err)
	}
	var respHdr []byte
	var status *int
	if a.Status != 0 {
		respHdr, err = json.Marshal(a.ResponseHeaders)
		if err != nil {
			return fmt.Errorf("encoding response headers: %w", err)
		}
		status = &a.Status
	}
	state := MessageFailed
	switch {
	case a.Success:
		state = MessageSucceeded
	case nextAt != nil:
		state = MessageRetrying
	}
	scheduled := 0
	if a.Trigger == TriggerSchedule {
		scheduled = 1
	}
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO attempts (message_id, webhook_id, trigger, started_at, url, method, request_headers, response_status,
			                      response_headers, response_body, response_truncated, duration_ms, error, success)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			a.MessageID, a.WebhookID, a.Trigger, a.StartedAt, a.URL, a.Method, reqHdr, status, respHdr, a.ResponseBody,
			a.Truncated, a.Duration.Milliseconds(), a.Error, a.Success); err != nil {
			return fmt.Errorf("recording attempt of %s: %w", a.MessageID, err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE messages SET state = $2, attempt_count = attempt_count + 1, scheduled_attempts = scheduled_attempts + $3,
			       last_status = $4, last_error = $5, last_attempt_at = $6::timestamptz, next_attempt_at = $7, lease_until = NULL,
			       finished_at = CASE WHEN $2::text IN ('succeeded', 'failed') THEN $6::timestamptz + make_interval(secs => $8) ELSE NULL END
			WHERE id = $1`,
			a.MessageID, state, scheduled, status, a.Error, a.StartedAt, nextAt, a.Duration.Seconds()); err != nil {
			return fmt.Errorf("updating message %s: %w", a.MessageID, err)
		}
		return nil
	})
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

// MessageFilter narrows a list of messages.
type MessageFilter struct {
	WebhookID string
	Limit     int
}

// FindMessages lists messages newest first.
func (db *DB) FindMessages(ctx context.Context, f MessageFilter) ([]Message, error) {
	q := db.Gorm.WithContext(ctx).Order("created_at DESC, id DESC")
	if f.WebhookID != "" {
		q = q.Where("webhook_id = ?", f.WebhookID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var ms []Message
	if err := q.Limit(limit).Find(&ms).Error; err != nil {
		return nil, fmt.Errorf("listing messages: %w", err)
	}
	return ms, nil
}
