package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Webhook states.
const (
	WebhookActive   = "active"
	WebhookPaused   = "paused"
	WebhookDisabled = "disabled"
)

// Backlog choices when a webhook becomes active again.
const (
	BacklogDeliver = "deliver"
	BacklogDrop    = "drop"
)

// validState says why state is not one a person may set, or "". A new webhook starts active
// or paused; only the system disables a webhook it creates.
func validState(state string, isNew bool) string {
	switch {
	case state == WebhookActive || state == WebhookPaused:
		return ""
	case isNew:
		return "Choose active or paused."
	case state == WebhookDisabled:
		return ""
	}
	return "Choose active, paused or disabled."
}

// ValidWebhookState reports whether state names a webhook state (for filters).
func ValidWebhookState(state string) bool { return validState(state, false) == "" }

func validBacklog(b string) string {
	if b == "" || b == BacklogDeliver || b == BacklogDrop {
		return ""
	}
	return "Choose deliver or drop."
}

// StateChange is a person's change of a webhook's state.
type StateChange struct {
	State string
	// Backlog is what becomes of the changes that waited when the webhook becomes active:
	// BacklogDeliver (the default) or BacklogDrop.
	Backlog string
	// Reason is shown with a paused or disabled state; by default it says who set it.
	Reason string
}

// SetWebhookState pauses, resumes, disables or re-enables webhook id for actor, with its audit
// entry (webhook.paused, .resumed, .reenabled or .disabled) in the same transaction. Setting
// the state it already has changes nothing and writes no entry.
func (db *DB) SetWebhookState(ctx context.Context, actor Actor, id string, c StateChange) error {
	var ve Error
	if msg := validState(c.State, false); msg != "" {
		ve.Add("state", msg)
	}
	if msg := validBacklog(c.Backlog); msg != "" {
		ve.Add("backlog", msg)
	}
	if err := ve.Err(); err != nil {
		return err
	}
	return db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		w, err := lockWebhook(tx, id)
		if err != nil {
			return nil, err
		}
		from, err := setState(tx, actor, w, c, time.Now(), db.MailContacts)
		if err != nil || from == c.State {
			return nil, err
		}
		return stateEntry(w, from, c), nil
	})
}

// lockWebhook reads webhook id and holds its row until tx ends, so that concurrent changes of
// its settings or state wait for one another (and a flush, which then tries again shortly).
// The lock is FOR NO KEY UPDATE: ingestion's key-share locks on the row do not wait for it.
func lockWebhook(tx *gorm.DB, id string) (*Webhook, error) {
	var w Webhook
	if err := lockRow(tx, forNoKeyUpdate, &w, id); err != nil {
		return nil, err
	}
	return &w, nil
}

// setState moves the locked webhook w to c.State and returns the state it had. Becoming
// active again either delivers the changes that waited (collapsed per object like any batch)
// or drops them; messages already made resume their schedule either way. Disabling, and
// enabling a disabled webhook, queue mail to the partner's contacts when mail is on.
func setState(tx *gorm.DB, actor Actor, w *Webhook, c StateChange, now time.Time, mail bool) (from string, err error) {
	from = w.State
	if from == c.State {
		return from, nil
	}
	reason := c.Reason
	switch {
	case c.State == WebhookActive:
		reason = ""
	case reason != "":
	case c.State == WebhookPaused:
		reason = "Paused by " + actor.Email
	case c.State == WebhookDisabled:
		reason = "Disabled by " + actor.Email
	}
	if err := tx.Exec(`UPDATE webhooks SET state = ?, state_reason = ?, state_changed_at = ?, updated_at = ? WHERE id = ?`,
		c.State, reason, now, now, w.ID).Error; err != nil {
		return from, fmt.Errorf("setting state of webhook %s: %w", w.ID, err)
	}
	w.State, w.StateReason, w.StateChangedAt = c.State, reason, now
	if mail && (c.State == WebhookDisabled || from == WebhookDisabled && c.State == WebhookActive) {
		if err := queueMailsOf(tx, w, c, actor); err != nil {
			return from, err
		}
	}
	if c.State != WebhookActive {
		return from, nil
	}
	// Turned back on by a person: earlier failed verification calls no longer count.
	if err := tx.Exec(`UPDATE endpoints SET failures = 0, first_failure_at = NULL WHERE url = ? AND partner_id = ?`, w.URL, w.PartnerID).Error; err != nil {
		return from, fmt.Errorf("resetting verification streak of %s: %w", w.ID, err)
	}
	if c.Backlog == BacklogDrop {
		if err := tx.Exec(`UPDATE changes SET state = 'dropped' WHERE webhook_id = ? AND state = 'pending'`, w.ID).Error; err != nil {
			return from, fmt.Errorf("dropping backlog of %s: %w", w.ID, err)
		}
		return from, nil
	}
	// The changes that waited have long-closed windows: any instance's batch worker, once
	// woken, flushes them.
	return from, notify(tx, ChannelBatches, ChannelMessages)
}

// queueMailsOf queues, in tx, the mails about w's change of state made by actor: why it was
// disabled, or who enabled it and what became of the changes that waited.
func queueMailsOf(tx *gorm.DB, w *Webhook, c StateChange, actor Actor) error {
	reason := w.StateReason
	if c.State == WebhookActive {
		reason = "Enabled again by " + actor.Email + "; the changes that waited while it was disabled are delivered."
		if c.Backlog == BacklogDrop {
			reason = "Enabled again by " + actor.Email + "; the changes that waited while it was disabled were dropped: only changes from now on are delivered."
		}
	}
	src := `(SELECT id, partner_id, name, state, state_changed_at FROM webhooks WHERE id = ?)`
	if err := tx.Exec(queueStateMailsSQL(src, "?::text"), reason, w.ID).Error; err != nil {
		return fmt.Errorf("queueing mail about webhook %s: %w", w.ID, err)
	}
	return notify(tx, ChannelMail)
}

// stateEntry is the audit entry of a state change made on its own.
func stateEntry(w *Webhook, from string, c StateChange) *entry {
	backlog := c.Backlog
	if backlog == "" {
		backlog = BacklogDeliver
	}
	e := &entry{objectType: "webhook", objectID: w.ID}
	switch {
	case c.State == WebhookPaused:
		e.action, e.summary = "webhook.paused", "Paused webhook "+w.Name
	case c.State == WebhookDisabled:
		e.action, e.summary = "webhook.disabled", "Disabled webhook "+w.Name
	case from == WebhookDisabled:
		e.action, e.summary = "webhook.reenabled", fmt.Sprintf("Re-enabled webhook %s (backlog: %s)", w.Name, backlog)
		e.details = map[string]any{"backlog": backlog}
	default:
		e.action, e.summary = "webhook.resumed", fmt.Sprintf("Resumed webhook %s (backlog: %s)", w.Name, backlog)
		e.details = map[string]any{"backlog": backlog}
	}
	return e
}
