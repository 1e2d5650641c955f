package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Payload formats.
const (
	FormatBatch = "batch"
	FormatEvent = "event"
)

// Webhook defaults and limits (SPEC "Words" and "From event to message").
const (
	DefaultBatchWindow  = 10
	MaxBatchWindow      = 3600
	DefaultMaxChanges   = 100
	MaxMaxChanges       = 1000
	MaxMaxInFlight      = 100
	maxWebhookURLLength = 2048
)

// Webhook is one receiving endpoint of a partner.
type Webhook struct {
	ID                      string `gorm:"primaryKey"`
	PartnerID               string
	Partner                 *Partner `gorm:"foreignKey:PartnerID"`
	Name                    string
	URL                     string `gorm:"column:url"`
	Description             string
	SecretEnc               []byte
	PreviousSecretEnc       []byte
	PreviousSecretExpiresAt *time.Time
	Method                  string
	BasicAuthUser           string
	BasicAuthPasswordEnc    []byte
	AppendEventType         bool
	Format                  string
	BatchWindowSeconds      int
	MaxChanges              int
	// MaxInFlight caps the requests in flight to the webhook across all instances; nil: the
	// instance setting.
	MaxInFlight *int
	// Ordered holds a message back while an earlier one about the same object is on its way.
	Ordered        bool
	AllEventTypes  bool
	AllCourses     bool
	State          string
	StateReason    string
	StateChangedAt time.Time
	// FailingSince is set while the webhook's latest delivery failed; it then gets one request
	// in flight at a time.
	FailingSince *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	CreateToken  *string
	EventTypes   []string `gorm:"-"`
	Courses      []string `gorm:"-"`
}

// HasBasicAuth reports whether requests carry basic-auth credentials.
func (w *Webhook) HasBasicAuth() bool { return w.BasicAuthUser != "" || w.BasicAuthPasswordEnc != nil }

// auditDetails is what the audit log keeps of a webhook: never its secrets.
func (w *Webhook) auditDetails() map[string]any {
	return map[string]any{
		"partner_id": w.PartnerID, "name": w.Name, "url": w.URL, "method": w.Method, "format": w.Format,
		"append_event_type": w.AppendEventType, "batch_window_seconds": w.BatchWindowSeconds, "max_changes": w.MaxChanges,
		"max_in_flight": w.MaxInFlight, "ordered": w.Ordered,
		"all_event_types": w.AllEventTypes, "event_types": w.EventTypes, "all_courses": w.AllCourses, "courses": w.Courses,
		"basic_auth_user": w.BasicAuthUser, "description": w.Description,
	}
}

func webhookNameTaken(err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return Invalid("name", "This partner already has a webhook with this name.")
	}
	return nil
}

// CreateWebhook validates and stores a new webhook with its subscriptions for actor, in the
// state the input asks (active unless paused), with its audit entry. A repeated create with
// the same CreateToken (a form submitted twice) returns the first webhook and changes nothing.
func (db *DB) CreateWebhook(ctx context.Context, actor Actor, in WebhookInput, checkURL URLChecker) (*Webhook, error) {
	sealer, err := db.sealer()
	if err != nil {
		return nil, err
	}
	targetProblem := checkTarget(ctx, in, checkURL)
	var id string
	err = db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if in.CreateToken != "" {
			// Two submits of one form at once: the second waits here for the first to commit,
			// then finds its webhook.
			if err := tx.Exec(`SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, "webhook create "+in.CreateToken).Error; err != nil {
				return nil, fmt.Errorf("locking create token: %w", err)
			}
			var existing []string
			if err := tx.Model(&Webhook{}).Where("create_token = ?", in.CreateToken).Pluck("id", &existing).Error; err != nil {
				return nil, fmt.Errorf("checking create token: %w", err)
			}
			if len(existing) > 0 {
				id = existing[0]
				return nil, nil
			}
		}
		now := time.Now()
		w := &Webhook{ID: NewID("wh_"), State: WebhookActive, StateChangedAt: now}
		if in.CreateToken != "" {
			w.CreateToken = &in.CreateToken
		}
		ch, err := applyWebhookInput(tx, w, in, true, targetProblem)
		if err != nil {
			return nil, err
		}
		if in.State != nil && *in.State == WebhookPaused {
			w.State, w.StateReason = WebhookPaused, "Created paused by "+actor.Email
		}
		w.SecretEnc = sealer.Seal([]byte(*ch.secret))
		if ch.basicPass != nil {
			w.BasicAuthPasswordEnc = sealer.Seal([]byte(*ch.basicPass))
		}
		if err := tx.Omit("Partner").Create(w).Error; err != nil {
			if verr := webhookNameTaken(err); verr != nil {
				return nil, verr
			}
			return nil, fmt.Errorf("creating webhook: %w", err)
		}
		if err := saveSubscriptions(tx, w); err != nil {
			return nil, err
		}
		id = w.ID
		return &entry{action: "webhook.created", objectType: "webhook", objectID: w.ID,
			summary: "Created webhook " + w.Name, details: w.auditDetails()}, nil
	})
	if err != nil {
		return nil, err
	}
	return db.FindWebhookByID(ctx, id)
}

// UpdateWebhook validates and saves changes to webhook id for actor, with one audit entry
// listing what changed. A state in the input is set in the same transaction (becoming active
// again with the input's backlog choice).
func (db *DB) UpdateWebhook(ctx context.Context, actor Actor, id string, in WebhookInput, checkURL URLChecker) (*Webhook, error) {
	sealer, err := db.sealer()
	if err != nil {
		return nil, err
	}
	targetProblem := checkTarget(ctx, in, checkURL)
	err = db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		w, err := lockWebhook(tx, id)
		if err != nil {
			return nil, err
		}
		if err := loadSubscriptions(tx, []*Webhook{w}); err != nil {
			return nil, err
		}
		before := w.auditDetails()
		ch, err := applyWebhookInput(tx, w, in, false, targetProblem)
		if err != nil {
			return nil, err
		}
		changes := changedFields(before, w.auditDetails())
		now := time.Now()
		if ch.basicPass != nil {
			w.BasicAuthPasswordEnc = sealer.Seal([]byte(*ch.basicPass))
			changes["basic_auth_password"] = "changed"
		}
		if len(changes) > 0 {
			w.UpdatedAt = now
			// Only what the form edits: state, failing and rotation change elsewhere.
			if err := tx.Omit("Partner", "CreatedAt", "State", "StateReason", "StateChangedAt", "FailingSince",
				"SecretEnc", "PreviousSecretEnc", "PreviousSecretExpiresAt", "CreateToken").Save(w).Error; err != nil {
				if verr := webhookNameTaken(err); verr != nil {
					return nil, verr
				}
				return nil, fmt.Errorf("updating webhook %s: %w", id, err)
			}
			if err := saveSubscriptions(tx, w); err != nil {
				return nil, err
			}
		}
		var c StateChange
		from := w.State
		if in.State != nil {
			c = StateChange{State: *in.State}
			if in.Backlog != nil {
				c.Backlog = *in.Backlog
			}
			if from, err = setState(tx, actor, w, c, now, db.MailContacts); err != nil {
				return nil, err
			}
		}
		switch {
		case len(changes) == 0 && from == w.State:
			return nil, nil // nothing changed: no entry
		case len(changes) == 0:
			return stateEntry(w, from, c), nil // the same entry as pausing or resuming on its own
		case from != w.State:
			changes["state"] = map[string]any{"from": from, "to": c.State, "backlog": c.Backlog}
		}
		return &entry{action: "webhook.updated", objectType: "webhook", objectID: w.ID,
			summary: "Changed webhook " + w.Name, details: changes}, nil
	})
	if err != nil {
		return nil, err
	}
	return db.FindWebhookByID(ctx, id)
}

// DeleteWebhook removes webhook id with its changes, messages and attempts, for actor.
func (db *DB) DeleteWebhook(ctx context.Context, actor Actor, id string) error {
	return db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		w, err := lockWebhook(tx, id)
		if err != nil {
			return nil, err
		}
		if err := loadSubscriptions(tx, []*Webhook{w}); err != nil {
			return nil, err
		}
		if err := tx.Where("id = ?", id).Delete(&Webhook{}).Error; err != nil {
			return nil, fmt.Errorf("deleting webhook %s: %w", id, err)
		}
		return &entry{action: "webhook.deleted", objectType: "webhook", objectID: w.ID,
			summary: "Deleted webhook " + w.Name, details: w.auditDetails()}, nil
	})
}

func saveSubscriptions(tx *gorm.DB, w *Webhook) error {
	if err := tx.Exec(`DELETE FROM webhook_event_types WHERE webhook_id = ?`, w.ID).Error; err != nil {
		return fmt.Errorf("replacing event types of %s: %w", w.ID, err)
	}
	if err := tx.Exec(`DELETE FROM webhook_courses WHERE webhook_id = ?`, w.ID).Error; err != nil {
		return fmt.Errorf("replacing courses of %s: %w", w.ID, err)
	}
	if !w.AllEventTypes && len(w.EventTypes) > 0 {
		if err := tx.Exec(`INSERT INTO webhook_event_types (webhook_id, event_type) SELECT ?, unnest(?::text[])`, w.ID, StringArray(w.EventTypes)).Error; err != nil {
			return fmt.Errorf("saving event types of %s: %w", w.ID, err)
		}
	}
	if !w.AllCourses && len(w.Courses) > 0 {
		if err := tx.Exec(`INSERT INTO webhook_courses (webhook_id, course_id) SELECT ?, unnest(?::text[])`, w.ID, StringArray(w.Courses)).Error; err != nil {
			return fmt.Errorf("saving courses of %s: %w", w.ID, err)
		}
	}
	return nil
}

// FindWebhookByID returns the webhook with its partner and subscriptions.
func (db *DB) FindWebhookByID(ctx context.Context, id string) (*Webhook, error) {
	var w Webhook
	err := db.Gorm.WithContext(ctx).Preload("Partner").Where("id = ?", id).Take(&w).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding webhook %s: %w", id, err)
	}
	if err := loadSubscriptions(db.Gorm.WithContext(ctx), []*Webhook{&w}); err != nil {
		return nil, err
	}
	return &w, nil
}

// loadSubscriptions fills the event types and courses of ws, reading through q (the pool, or
// an action's transaction).
func loadSubscriptions(q *gorm.DB, ws []*Webhook) error {
	if len(ws) == 0 {
		return nil
	}
	ids := make([]string, len(ws))
	byID := map[string]*Webhook{}
	for i, w := range ws {
		ids[i] = w.ID
		byID[w.ID] = w
		w.EventTypes, w.Courses = nil, nil
	}
	var subs []struct{ WebhookID, Kind, Value string }
	if err := q.Raw(`
		SELECT webhook_id, 't' AS kind, event_type AS value FROM webhook_event_types WHERE webhook_id IN ?
		UNION ALL
		SELECT webhook_id, 'c', course_id FROM webhook_courses WHERE webhook_id IN ?
		ORDER BY 1, 2, 3`, ids, ids).Scan(&subs).Error; err != nil {
		return fmt.Errorf("loading subscriptions: %w", err)
	}
	for _, s := range subs {
		if s.Kind == "t" {
			byID[s.WebhookID].EventTypes = append(byID[s.WebhookID].EventTypes, s.Value)
		} else {
			byID[s.WebhookID].Courses = append(byID[s.WebhookID].Courses, s.Value)
		}
	}
	return nil
}

// CountWebhooks counts webhooks, by state when state is not empty.
func (db *DB) CountWebhooks(ctx context.Context, state string) (int64, error) {
	q := db.Gorm.WithContext(ctx).Model(&Webhook{})
	if state != "" {
		q = q.Where("state = ?", state)
	}
	var n int64
	if err := q.Count(&n).Error; err != nil {
		return 0, fmt.Errorf("counting webhooks: %w", err)
	}
	return n, nil
}

// CountFailingWebhooks counts the active webhooks whose latest delivery failed.
func (db *DB) CountFailingWebhooks(ctx context.Context) (int64, error) {
	var n int64
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhooks WHERE state = 'active' AND failing_since IS NOT NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting failing webhooks: %w", err)
	}
	return n, nil
}

// WebhookFilter narrows a list of webhooks.
type WebhookFilter struct {
	PartnerID string
	State     string
	// Search matches the name or URL, case-insensitively.
	Search string
	After  *Cursor
	Limit  int
}

// WebhookRow is a webhook in a list, with its last delivery.
type WebhookRow struct {
	Webhook
	LastStatus    *int
	LastAttemptAt *time.Time
	LastState     *string
}

// FindWebhooks lists webhooks newest first, a page at a time (keyset, never OFFSET). It
// returns the cursor of the next page, or nil on the last.
func (db *DB) FindWebhooks(ctx context.Context, f WebhookFilter) ([]WebhookRow, *Cursor, error) {
	if f.State != "" && !ValidWebhookState(f.State) {
		return nil, nil, Invalid("state", validState(f.State, false))
	}
	q := db.Gorm.WithContext(ctx).Model(&Webhook{}).Preload("Partner").Order("created_at DESC, id DESC")
	if f.PartnerID != "" {
		q = q.Where("partner_id = ?", f.PartnerID)
	}
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if s := strings.TrimSpace(f.Search); s != "" {
		like := "%" + escapeLike(strings.ToLower(s)) + "%"
		q = q.Where("(lower(name) LIKE ? OR lower(url) LIKE ?)", like, like)
	}
	if f.After != nil {
		q = q.Where("(created_at, id) < (?, ?)", f.After.At, f.After.ID)
	}
	limit := PageSize(f.Limit)
	var ws []Webhook
	if err := q.Limit(limit + 1).Find(&ws).Error; err != nil {
		return nil, nil, fmt.Errorf("listing webhooks: %w", err)
	}
	var next *Cursor
	if len(ws) > limit {
		ws = ws[:limit]
		last := ws[limit-1]
		next = &Cursor{At: last.CreatedAt, ID: last.ID}
	}
	rows := make([]WebhookRow, len(ws))
	ptrs := make([]*Webhook, len(ws))
	ids := make([]string, len(ws))
	for i := range ws {
		rows[i].Webhook = ws[i]
		ptrs[i] = &rows[i].Webhook
		ids[i] = ws[i].ID
	}
	if err := loadSubscriptions(db.Gorm.WithContext(ctx), ptrs); err != nil {
		return nil, nil, err
	}
	if len(ids) > 0 {
		// The latest message of each webhook on the page: one index probe per webhook.
		r, err := db.Pool.Query(ctx, `
			SELECT w.id, m.last_status, m.last_attempt_at, m.state
			FROM unnest($1::text[]) AS w(id)
			CROSS JOIN LATERAL (SELECT last_status, last_attempt_at, state FROM messages
			                    WHERE webhook_id = w.id AND kind = 'changes' ORDER BY created_at DESC, id DESC LIMIT 1) m`, ids)
		if err != nil {
			return nil, nil, fmt.Errorf("finding last deliveries: %w", err)
		}
		defer r.Close()
		for r.Next() {
			var id string
			var st *int
			var at *time.Time
			var state *string
			if err := r.Scan(&id, &st, &at, &state); err != nil {
				return nil, nil, fmt.Errorf("reading last deliveries: %w", err)
			}
			i := slices.Index(ids, id)
			rows[i].LastStatus, rows[i].LastAttemptAt, rows[i].LastState = st, at, state
		}
		if err := r.Err(); err != nil {
			return nil, nil, fmt.Errorf("reading last deliveries: %w", err)
		}
	}
	return rows, next, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
