package models

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of mail to a partner's contacts.
const (
	MailWebhookDisabled = "webhook.disabled"
	MailWebhookEnabled  = "webhook.enabled"
)

// ChannelMail wakes the mail senders: mails queued just now.
const ChannelMail = "hookrelay_mail"

// Mail is one queued email to one contact of a partner about one of its webhooks. The facts are
// copied when the mail is queued, in the transaction that changed the webhook, so the mail says
// what was true then whatever happens to the webhook before it is sent.
type Mail struct {
	ID          int64
	Kind        string
	PartnerID   string
	PartnerName string
	WebhookID   string
	WebhookName string
	Reason      string
	Since       time.Time
	Recipient   string
	Attempts    int // including the one just claimed
	CreatedAt   time.Time
}

// Mail states.
const (
	MailQueued  = "queued"
	MailSending = "sending"
	MailSent    = "sent"
	MailFailed  = "failed"
)

// queueStateMailsSQL is the one statement that queues the mails of a webhook's change of state:
// one per contact of its partner. src is a relation with the webhook's columns id, partner_id,
// name, state, state_changed_at after the change (the webhooks table itself, or the RETURNING
// of the update that disabled it); reason is the SQL of the reason to give. Every path that
// disables or re-enables a webhook runs it in its own transaction, so a state change and its
// mails commit together.
func queueStateMailsSQL(src, reason string) string {
	return `INSERT INTO mails (kind, partner_id, webhook_id, webhook_name, reason, since, recipient)
		SELECT CASE s.state WHEN 'disabled' THEN 'webhook.disabled' ELSE 'webhook.enabled' END,
		       s.partner_id, s.id, s.name, ` + reason + `, s.state_changed_at, c.email
		FROM ` + src + ` AS s
		JOIN partners p ON p.id = s.partner_id
		CROSS JOIN LATERAL unnest(p.contact_emails) AS c(email)`
}

// ClaimDueMails takes up to limit mails due at now for instance, with a lease; a claim names
// its instance like a message's, so that ReleaseAbandonedMails gives a dead instance's back.
// SKIP LOCKED: two instances claiming at once take different mails.
func (db *DB) ClaimDueMails(ctx context.Context, instance string, now time.Time, limit int, lease time.Duration) ([]Mail, error) {
	rows, err := db.Pool.Query(ctx, `
		WITH claimed AS (
			UPDATE mails m SET state = 'sending', claimed_by = $1, lease_until = $2::timestamptz + make_interval(secs => $4),
			       attempts = m.attempts + 1
			WHERE m.id IN (SELECT id FROM mails WHERE state = 'queued' AND next_attempt_at <= $2
			               ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
			RETURNING m.*
		)
		SELECT c.id, c.kind, c.partner_id, coalesce(p.name, ''), c.webhook_id, c.webhook_name, c.reason, c.since,
		       c.recipient, c.attempts, c.created_at
		FROM claimed c LEFT JOIN partners p ON p.id = c.partner_id
		ORDER BY c.id`, instance, now, limit, lease.Seconds())
	if err != nil {
		return nil, fmt.Errorf("claiming mails: %w", err)
	}
	ms, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Mail])
	if err != nil {
		return nil, fmt.Errorf("claiming mails: %w", err)
	}
	return ms, nil
}

// FinishMail records how sending mail id by instance went: sent, or not (errText) with the
// next try at next, or failed for good when next is nil. A mail whose claim was meanwhile
// taken from instance (its lease ran out) is left to its new claimer.
func (db *DB) FinishMail(ctx context.Context, instance string, id int64, now time.Time, errText string, next *time.Time) error {
	state := MailSent
	switch {
	case errText == "":
	case next != nil:
		state = MailQueued
	default:
		state = MailFailed
	}
	if _, err := db.Pool.Exec(ctx, `
		UPDATE mails SET state = $3, last_error = $4, next_attempt_at = coalesce($5, next_attempt_at),
		       sent_at = CASE WHEN $3 = 'sent' THEN $6::timestamptz END, claimed_by = NULL, lease_until = NULL
		WHERE id = $1 AND claimed_by = $2 AND state = 'sending'`, id, instance, state, errText, next, now); err != nil {
		return fmt.Errorf("recording mail %d: %w", id, err)
	}
	return nil
}

// NextMailDue is when the next queued mail is due, or false when none is queued.
func (db *DB) NextMailDue(ctx context.Context) (time.Time, bool, error) {
	var t *time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT min(next_attempt_at) FROM mails WHERE state = 'queued'`).Scan(&t); err != nil {
		return time.Time{}, false, fmt.Errorf("finding next mail: %w", err)
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return *t, true, nil
}

// ReleaseAbandonedMails, run on an instance's own connection like ReleaseAbandoned, puts back
// in the queue the mails claimed by an instance not seen for dead, or whose lease ran out at
// now. It returns how many.
func ReleaseAbandonedMails(ctx context.Context, conn *pgx.Conn, now time.Time, dead time.Duration) (int, error) {
	tag, err := conn.Exec(ctx, `
		UPDATE mails m SET state = 'queued', claimed_by = NULL, lease_until = NULL
		WHERE m.state = 'sending'
		  AND (m.lease_until <= $1
		       OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = m.claimed_by AND i.seen_at > now() - make_interval(secs => $2)))`,
		now, dead.Seconds())
	if err != nil {
		return 0, fmt.Errorf("releasing abandoned mails: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// MailStatus is what became of the mails about a webhook's latest change of state.
type MailStatus struct {
	Kind                 string
	Queued, Sent, Failed int
	LastSentAt           *time.Time
	LastError            string
	Recipients           []string
}

// FindWebhookMailStatus sums up the mails queued for webhook id since at (its latest change
// of state); ok is false when there are none.
func (db *DB) FindWebhookMailStatus(ctx context.Context, id string, since time.Time) (MailStatus, bool, error) {
	var s MailStatus
	var kind *string
	err := db.Pool.QueryRow(ctx, `
		SELECT max(kind), count(*) FILTER (WHERE state IN ('queued', 'sending')), count(*) FILTER (WHERE state = 'sent'),
		       count(*) FILTER (WHERE state = 'failed'), max(sent_at),
		       coalesce((array_agg(last_error ORDER BY id DESC) FILTER (WHERE last_error <> '' AND state <> 'sent'))[1], ''),
		       coalesce(array_agg(recipient ORDER BY id), '{}')
		FROM mails WHERE webhook_id = $1 AND since >= $2`, id, since).Scan(&kind, &s.Queued, &s.Sent, &s.Failed, &s.LastSentAt, &s.LastError, &s.Recipients)
	if err != nil {
		return s, false, fmt.Errorf("finding mails of webhook %s: %w", id, err)
	}
	if kind == nil {
		return s, false, nil
	}
	s.Kind = *kind
	return s, true, nil
}
