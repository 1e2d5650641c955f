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

// heldBack says of message m whether an earlier message of its webhook about one of the same
// objects is still on its way (pending, retrying or delivering): for ordered webhooks m waits.
// Earlier is by creation; one flush never makes two messages about one object.
const heldBack = `EXISTS (
		SELECT 1 FROM messages e WHERE e.webhook_id = m.webhook_id AND e.state IN ('pending', 'retrying', 'delivering')
		  AND (e.created_at, e.id) < (m.created_at, m.id) AND e.object_keys && m.object_keys)`

// ClaimDueMessages marks up to limit due messages of active webhooks as delivering, claimed by
// the instance and leased to it until now+lease, and returns them, oldest due first. No webhook
// gets more than its max_in_flight (perWebhook when it has none) requests in flight across all
// instances, so a slow or dead receiver cannot take every worker. What a dead instance held
// comes back through ReleaseAbandoned.
//
// answered are the claimer's messages whose requests have had their answer but whose attempts
// are not recorded yet: they are off the wire, so they leave room for the next request at
// once rather than after the recording's commit. Messages other instances hold count as in
// flight until recorded. A failing webhook's one request (its probe) counts until recorded: the
// messages behind it wait for its outcome.
func (db *DB) ClaimDueMessages(ctx context.Context, instance string, now time.Time, limit, perWebhook int, lease time.Duration, answered []string) ([]Delivery, error) {
	if answered == nil {
		answered = []string{}
	}
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("claiming: %w", err)
	}
	// A connection left in a transaction by an error is closed on release, not reused.
	defer conn.Release()
	// First the webhooks with messages due, each taken by this claim alone until it commits (a
	// transaction-level advisory lock; another claimer skips them). Then, in the next statement,
	// whose snapshot is newer than those locks and so sees every claim made before them, the
	// count of requests in flight and the claim itself: two instances can never both see a
	// webhook with room for its last slot. Each step is one round trip: the claim loop runs
	// once per answered request under load.
	//
	// A claim lost with the database's last moments puts its messages back in the queue under
	// the same ids, which at-least-once delivery allows: no need to wait for its WAL flush.
	// (The flush that made the messages, and every recorded attempt, do wait.)
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL synchronous_commit = off`)
	b.Queue(claimHooksSQL, now, limit, claimLockClass, perWebhook, answered)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	var hooks []string
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			hooks, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("taking webhooks to claim from: %w", err)
	}
	if len(hooks) == 0 {
		if _, err := conn.Exec(ctx, `COMMIT`); err != nil {
			return nil, fmt.Errorf("claiming: %w", err)
		}
		return nil, nil
	}
	b = &pgx.Batch{}
	b.Queue(claimSQL, now, limit, lease.Seconds(), perWebhook, instance, hooks, answered)
	b.Queue(`COMMIT`)
	br = conn.SendBatch(ctx, b)
	var out []Delivery
	rows, err := br.Query()
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
			var d Delivery
			w := &d.Webhook
			err := row.Scan(&d.MessageID, &d.Kind, &d.Payload, &d.URLSuffix, &d.ScheduledAttempts, &d.Resend,
				&w.ID, &w.URL, &w.Method, &w.SecretEnc, &w.PreviousSecretEnc, &w.PreviousSecretExpiresAt,
				&w.BasicAuthUser, &w.BasicAuthPasswordEnc)
			return d, err
		})
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("claiming due messages: %w", err)
	}
	return out, nil
}

// claimHooksSQL takes the webhooks to claim from; see ClaimDueMessages.
const claimHooksSQL = `
			WITH RECURSIVE ` + waitingHooks + `,
			due AS MATERIALIZED (
				SELECT w.id, d.at FROM hooks h JOIN webhooks w ON w.id = h.webhook_id AND w.state = 'active'
				CROSS JOIN LATERAL (
					SELECT m.next_attempt_at AS at FROM messages m
					WHERE m.webhook_id = w.id AND m.state IN ('pending', 'retrying') AND (m.kind = 'changes' OR m.resend_requested) AND m.next_attempt_at <= $1
					  AND NOT (w.ordered AND ` + heldBack + `)
					ORDER BY m.next_attempt_at LIMIT 1) d
				-- Webhooks already at their cap would take the places of others with room.
				WHERE CASE WHEN w.failing_since IS NULL THEN coalesce(w.max_in_flight, $4) ELSE 1 END
				      > (SELECT count(*) FROM messages b WHERE b.webhook_id = w.id AND b.state = 'delivering'
				           AND (w.failing_since IS NOT NULL OR b.id <> ALL ($5)))
				ORDER BY d.at LIMIT $2
			)
			SELECT id FROM due WHERE pg_try_advisory_xact_lock($3, hashtext(id))`

// claimSQL claims the due messages of the webhooks that claimHooksSQL took.
const claimSQL = `
			WITH cand AS (
				SELECT d.id, d.next_attempt_at FROM webhooks w
				CROSS JOIN LATERAL (
					SELECT m.id, m.next_attempt_at FROM messages m
					WHERE m.webhook_id = w.id AND m.state IN ('pending', 'retrying') AND (m.kind = 'changes' OR m.resend_requested) AND m.next_attempt_at <= $1
					  AND NOT (w.ordered AND ` + heldBack + `)
					ORDER BY m.next_attempt_at
					LIMIT greatest(0, CASE WHEN w.failing_since IS NULL THEN coalesce(w.max_in_flight, $4) ELSE 1 END
					                  - (SELECT count(*) FROM messages b WHERE b.webhook_id = w.id AND b.state = 'delivering'
					                       AND (w.failing_since IS NOT NULL OR b.id <> ALL ($7))))
				) d
				WHERE w.id = ANY ($6) AND w.state = 'active'
			),
			due AS (
				SELECT m.id FROM messages m JOIN (SELECT id FROM cand ORDER BY next_attempt_at LIMIT $2) c ON c.id = m.id
				WHERE m.state IN ('pending', 'retrying') AND m.next_attempt_at <= $1
				FOR UPDATE OF m SKIP LOCKED
			)
			UPDATE messages m SET state = 'delivering', lease_until = $1::timestamptz + make_interval(secs => $3), claimed_by = $5
			FROM due, webhooks w
			WHERE m.id = due.id AND w.id = m.webhook_id
			RETURNING m.id, m.kind, m.payload, m.url_suffix, m.scheduled_attempts, m.resend_requested,
			          w.id, w.url, w.method, w.secret_enc, w.previous_secret_enc, w.previous_secret_expires_at,
			          w.basic_auth_user, w.basic_auth_password_enc`

// claimLockClass is the first key of the advisory locks that claims take on webhooks.
const claimLockClass = 7201

// NextMessageDue returns when the next message of an active webhook becomes due after now (a
// scheduled attempt), or false when nothing waits. Messages of paused and
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
	return db.RecordDeliveries(ctx, as, nil)
}

// RecordDeliveries is RecordAttempts for the delivery workers, which also keep the schedule
// of the messages queued behind a failing endpoint. While a webhook fails it gets one request
// at a time (the probe); when a probe fails, the webhook's other messages that are due by then
// are not sent: each gets an attempt "not sent" that counts towards its retries, and its next
// one by policy. So every message keeps its own schedule and fails after about as long as
// one alone would, however long the queue, without a storm against a dying endpoint.
func (db *DB) RecordDeliveries(ctx context.Context, as []AttemptOutcome, policy *RetryPolicy) error {
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
		       next_attempt_at = u.next_at, lease_until = NULL, claimed_by = NULL, resend_requested = false,
		       finished_at = CASE WHEN u.state IN ('succeeded', 'failed') THEN u.started_at + make_interval(secs => u.duration_ms / 1000.0) END
		FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::int[])
		     AS u(id, state, scheduled, status, error, started_at, next_at, duration_ms)
		WHERE m.id = u.id`,
		msgIDs, states, scheduled, statuses, errs, started, nexts, durations)
	// A delivery answered 410 Gone disables its webhook (not a test notification, not a
	// verification call); its changes keep collecting until a person re-enables it.
	b.Queue(`
		WITH gone AS (
			SELECT DISTINCT m.webhook_id, u.started_at FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS u(id, status, started_at)
			JOIN messages m ON m.id = u.id AND m.kind = 'changes'
			WHERE u.status = 410
		),
		locked AS ( -- in id order, like the failing mark below, so that recorders cannot deadlock
			SELECT w.id, g.started_at FROM webhooks w
			JOIN (SELECT webhook_id, min(started_at) AS started_at FROM gone GROUP BY webhook_id) g ON g.webhook_id = w.id
			WHERE w.state = 'active'
			ORDER BY w.id
			FOR NO KEY UPDATE OF w
		),
		disabled AS (
			UPDATE webhooks w SET state = 'disabled', state_reason = $4, state_changed_at = l.started_at, updated_at = l.started_at
			FROM locked l WHERE w.id = l.id
			RETURNING w.id, w.partner_id, w.name, w.state, w.state_changed_at
		),
		audited AS (
			INSERT INTO audit_log (actor_email, action, object_type, object_id, summary)
			SELECT 'hookrelay', 'webhook.disabled', 'webhook', id, $4 FROM disabled
		),
		mailed AS (
			`+queueStateMailsSQL("disabled", "$4")+` WHERE $5::bool RETURNING 1
		)
		SELECT pg_notify('`+ChannelMail+`', '') FROM (SELECT 1 FROM mailed LIMIT 1) AS any_mail`,
		msgIDs, statuses, started, GoneReason, db.MailContacts)
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
	var probes []AttemptResult
	for _, o := range as {
		if policy != nil && !o.Success && o.Trigger == TriggerSchedule {
			probes = append(probes, o.AttemptResult)
		}
	}
	if len(probes) == 0 {
		if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("recording %d attempts: %w", n, err)
		}
		return nil
	}
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("recording %d attempts: %w", n, err)
		}
		return skipBehindProbes(ctx, tx, probes, *policy)
	})
}

// skipBehindProbes records "not sent" for the due messages of each webhook whose failed probe
// is among probes, and schedules their next attempts by policy. It runs after the probes are
// recorded, in their transaction, so that failing_since is already up to date: a failure that
// only now marks the webhook failing is not a probe, and the messages behind it get their own
// chance at the next one.
func skipBehindProbes(ctx context.Context, tx pgx.Tx, probes []AttemptResult, policy RetryPolicy) error {
	ids, started, finished := make([]string, len(probes)), make([]time.Time, len(probes)), make([]time.Time, len(probes))
	for i, p := range probes {
		ids[i], started[i], finished[i] = p.MessageID, p.StartedAt, p.StartedAt.Add(p.Duration)
	}
	// Locked rows are being claimed right now by another instance: they go out for real.
	rows, err := tx.Query(ctx, `
		SELECT m.id, m.webhook_id, m.scheduled_attempts, w.url || m.url_suffix, w.method, p.id, p.finished_at
		FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS p(id, started_at, finished_at)
		JOIN messages pm ON pm.id = p.id AND pm.kind = 'changes'
		JOIN webhooks w ON w.id = pm.webhook_id AND w.state = 'active' AND w.failing_since < p.started_at
		JOIN messages m ON m.webhook_id = w.id AND m.state IN ('pending', 'retrying') AND m.kind = 'changes'
		                AND NOT m.resend_requested AND m.next_attempt_at <= p.finished_at
		                AND NOT (w.ordered AND `+heldBack+`)
		ORDER BY m.id
		FOR UPDATE OF m SKIP LOCKED`, ids, started, finished)
	if err != nil {
		return fmt.Errorf("finding messages behind failed probes: %w", err)
	}
	type skipped struct {
		id, webhookID, url, method, probe string
		scheduled                         int
		at                                time.Time
	}
	seen := map[string]bool{}
	var sk []skipped
	for rows.Next() {
		var s skipped
		if err := rows.Scan(&s.id, &s.webhookID, &s.scheduled, &s.url, &s.method, &s.probe, &s.at); err != nil {
			rows.Close()
			return fmt.Errorf("reading message behind a failed probe: %w", err)
		}
		if !seen[s.id] { // two probes of one webhook failed together: one "not sent" is enough
			seen[s.id] = true
			sk = append(sk, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("finding messages behind failed probes: %w", err)
	}
	if len(sk) == 0 {
		return nil
	}
	n := len(sk)
	msgIDs, hookIDs, urls, methods, errs, states := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at, nexts := make([]time.Time, n), make([]*time.Time, n)
	for i, s := range sk {
		msgIDs[i], hookIDs[i], urls[i], methods[i], at[i] = s.id, s.webhookID, s.url, s.method, s.at
		errs[i] = NotSentPrefix + " (" + s.probe + ", sent just before, failed); counted as an attempt"
		states[i] = MessageFailed
		if t, ok := policy.Next(s.scheduled+1, s.at); ok {
			states[i], nexts[i] = MessageRetrying, &t
		}
	}
	b := &pgx.Batch{}
	b.Queue(`
		INSERT INTO attempts (message_id, webhook_id, trigger, started_at, url, method, duration_ms, error, success)
		SELECT id, webhook_id, 'schedule', at, url, method, 0, error, false
		FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[])
		     AS u(id, webhook_id, at, url, method, error)`, msgIDs, hookIDs, at, urls, methods, errs)
	b.Queue(`
		UPDATE messages m SET state = u.state, attempt_count = m.attempt_count + 1,
		       scheduled_attempts = m.scheduled_attempts + 1, last_status = NULL, last_error = u.error,
		       last_attempt_at = u.at, next_attempt_at = u.next_at,
		       finished_at = CASE WHEN u.state = 'failed' THEN u.at END
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(id, state, error, at, next_at)
		WHERE m.id = u.id`, msgIDs, states, errs, at, nexts)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("recording %d messages not sent behind failed probes: %w", n, err)
	}
	return nil
}

// GoneReason is why a webhook is disabled when a delivery is answered 410 Gone.
const GoneReason = "the endpoint answered 410 Gone"

// NotSentPrefix starts the error of an attempt that made no request: the message was due
// while its endpoint was failing, and the one request in flight, the probe, failed.
const NotSentPrefix = "not sent: the endpoint is failing"

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

// Hold is the earlier message an ordered webhook's message waits for, and the object they
// share.
type Hold struct {
	MessageID string
	Object    string
	ObjectID  string
}

// FindHold returns what message id waits for, when its webhook delivers in order per object
// and an earlier message about one of its objects is still on its way; false otherwise.
func (db *DB) FindHold(ctx context.Context, id string) (Hold, bool, error) {
	var h Hold
	var key string
	err := db.Pool.QueryRow(ctx, `
		SELECT e.id, k FROM messages m JOIN webhooks w ON w.id = m.webhook_id AND w.ordered
		JOIN messages e ON e.webhook_id = m.webhook_id AND e.state IN ('pending', 'retrying', 'delivering')
		     AND (e.created_at, e.id) < (m.created_at, m.id) AND e.object_keys && m.object_keys
		CROSS JOIN LATERAL (SELECT k FROM unnest(m.object_keys) k WHERE k = ANY (e.object_keys) LIMIT 1) s
		WHERE m.id = $1 AND m.state IN ('pending', 'retrying')
		ORDER BY e.created_at, e.id LIMIT 1`, id).Scan(&h.MessageID, &key)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, false, nil
	} else if err != nil {
		return h, false, fmt.Errorf("finding what %s waits for: %w", id, err)
	}
	var pair [2]string
	if err := json.Unmarshal([]byte(key), &pair); err != nil {
		return h, false, fmt.Errorf("reading object key of %s: %w", id, err)
	}
	h.Object, h.ObjectID = pair[0], pair[1]
	return h, true, nil
}
