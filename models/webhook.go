package models

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Webhook states.
const (
	WebhookActive   = "active"
	WebhookPaused   = "paused"
	WebhookDisabled = "disabled"
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
	RotationOverlap     = 24 * time.Hour
	minSecretBytes      = 24
	maxSecretBytes      = 64
	secretPrefix        = "whsec_"
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
	AllEventTypes           bool
	AllCourses              bool
	State                   string
	StateReason             string
	StateChangedAt          time.Time
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

// GenerateSecret makes a new signing secret: "whsec_" + base64 of 32 random bytes.
func GenerateSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ValidSecret reports why a typed secret is unusable, or "" when it is fine.
func ValidSecret(s string) string {
	raw, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return "Must start with whsec_ followed by base64, or be left empty to generate one."
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return "The part after whsec_ must be standard base64."
	}
	if len(b) < minSecretBytes || len(b) > maxSecretBytes {
		return fmt.Sprintf("Must encode %d to %d bytes; this one has %d.", minSecretBytes, maxSecretBytes, len(b))
	}
	return ""
}

// WebhookInput is the editable part of a webhook, as the form and the API give it. Nil
// pointers in an update leave the field as it is.
type WebhookInput struct {
	PartnerID         *string
	Name              *string
	URL               *string
	Description       *string
	Secret            *string // empty: generate (on create)
	Method            *string
	BasicAuthUser     *string
	BasicAuthPassword *string // empty with a user: keep the stored password
	AppendEventType   *bool
	Format            *string
	BatchWindow       *int
	MaxChanges        *int
	EventTypes        []string // nil: unchanged; ["*"]: all
	Courses           []string // nil: unchanged; ["*"]: all
	// CreateToken, when given on create, makes a repeated create return the first webhook.
	CreateToken string
}

// URLChecker says why a webhook URL cannot be used as a target, or "" when it can. It is
// given by the caller because it depends on the deployment (https only, private targets).
type URLChecker func(ctx context.Context, rawURL string) string

func (db *DB) applyWebhookInput(ctx context.Context, w *Webhook, in WebhookInput, isNew bool, checkURL URLChecker) (secret *string, basicPass *string, err error) {
	var ve ValidationError
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return strings.TrimSpace(*p)
	}
	if in.PartnerID != nil || isNew {
		id := str(in.PartnerID)
		if id == "" {
			ve.Add("partner_id", "Choose the partner this webhook belongs to.")
		} else if _, err := db.FindPartnerByID(ctx, id); errors.Is(err, ErrNotFound) {
			ve.Add("partner_id", "No such partner.")
		} else if err != nil {
			return nil, nil, err
		}
		w.PartnerID = id
	}
	if in.Name != nil || isNew {
		w.Name = str(in.Name)
		switch {
		case w.Name == "":
			ve.Add("name", "Give the webhook a name the partner will recognise.")
		case len([]rune(w.Name)) > 200:
			ve.Add("name", "Use at most 200 characters.")
		}
	}
	if in.URL != nil || isNew {
		w.URL = str(in.URL)
		if msg := validateURLShape(w.URL); msg != "" {
			ve.Add("url", msg)
		} else if checkURL != nil {
			if msg := checkURL(ctx, w.URL); msg != "" {
				ve.Add("url", msg)
			}
		}
	}
	if in.Description != nil {
		w.Description = str(in.Description)
		if len([]rune(w.Description)) > 2000 {
			ve.Add("description", "Use at most 2,000 characters.")
		}
	}
	if in.Secret != nil || isNew {
		s := str(in.Secret)
		if s == "" && isNew {
			s = GenerateSecret()
		}
		if s != "" {
			if msg := ValidSecret(s); msg != "" {
				ve.Add("secret", msg)
			}
			secret = &s
		}
	}
	if in.Method != nil || isNew {
		w.Method = strings.ToUpper(str(in.Method))
		if w.Method == "" {
			w.Method = "POST"
		}
		if w.Method != "POST" && w.Method != "PUT" {
			ve.Add("method", "Choose POST or PUT.")
		}
	}
	if in.BasicAuthUser != nil {
		w.BasicAuthUser = str(in.BasicAuthUser)
		if len(w.BasicAuthUser) > 200 || strings.Contains(w.BasicAuthUser, ":") {
			ve.Add("basic_auth_user", "Use at most 200 characters and no colon.")
		}
	}
	if in.BasicAuthPassword != nil && *in.BasicAuthPassword != "" {
		p := *in.BasicAuthPassword
		if len(p) > 200 {
			ve.Add("basic_auth_password", "Use at most 200 characters.")
		}
		basicPass = &p
	}
	if w.BasicAuthUser == "" && basicPass == nil && in.BasicAuthUser != nil {
		w.BasicAuthPasswordEnc = nil // clearing the user turns basic auth off
	} else if w.BasicAuthUser != "" && basicPass == nil && w.BasicAuthPasswordEnc == nil {
		ve.Add("basic_auth_password", "Enter the password that goes with this user.")
	}
	if in.Format != nil || isNew {
		w.Format = str(in.Format)
		if w.Format == "" {
			w.Format = FormatBatch
		}
		if w.Format != FormatBatch && w.Format != FormatEvent {
			ve.Add("format", "Choose batch or event.")
		}
	}
	if in.AppendEventType != nil {
		w.AppendEventType = *in.AppendEventType
	}
	if w.AppendEventType && w.Format != FormatEvent {
		ve.Add("append_event_type", "Appending the event type to the URL needs the event format (one event per request).")
	}
	if in.BatchWindow != nil || isNew {
		w.BatchWindowSeconds = DefaultBatchWindow
		if in.BatchWindow != nil {
			w.BatchWindowSeconds = *in.BatchWindow
		}
		if w.BatchWindowSeconds < 0 || w.BatchWindowSeconds > MaxBatchWindow {
			ve.Add("batch_window_seconds", fmt.Sprintf("Choose 0 to %d seconds.", MaxBatchWindow))
		}
	}
	if in.MaxChanges != nil || isNew {
		w.MaxChanges = DefaultMaxChanges
		if in.MaxChanges != nil {
			w.MaxChanges = *in.MaxChanges
		}
		if w.MaxChanges < 1 || w.MaxChanges > MaxMaxChanges {
			ve.Add("max_changes", fmt.Sprintf("Choose 1 to %d changes.", MaxMaxChanges))
		}
	}
	if in.EventTypes != nil || isNew {
		if err := db.applyEventTypes(ctx, w, in.EventTypes, &ve); err != nil {
			return nil, nil, err
		}
	}
	if in.Courses != nil || isNew {
		if err := db.applyCourses(ctx, w, in.Courses, &ve); err != nil {
			return nil, nil, err
		}
	}
	return secret, basicPass, ve.Err()
}

func validateURLShape(raw string) string {
	if raw == "" {
		return "Enter the URL that receives the webhooks."
	}
	if len(raw) > maxWebhookURLLength {
		return fmt.Sprintf("Use at most %d characters.", maxWebhookURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "Enter an absolute http(s) URL, like https://partner.example.com/hooks."
	}
	if u.User != nil {
		return "Put credentials in the basic-auth fields, not in the URL."
	}
	if u.Fragment != "" {
		return "A URL fragment (#...) is never sent; remove it."
	}
	return ""
}

// applyEventTypes sets the webhook's event types. Deprecated types cannot be added, but a
// webhook keeps the ones it already has.
func (db *DB) applyEventTypes(ctx context.Context, w *Webhook, names []string, ve *ValidationError) error {
	if len(names) == 1 && names[0] == "*" {
		w.AllEventTypes, w.EventTypes = true, nil
		return nil
	}
	w.AllEventTypes = false
	names = uniqueNonEmpty(names)
	if len(names) == 0 {
		ve.Add("event_types", "Choose at least one event type, or all of them.")
		return nil
	}
	types, err := db.FindEventTypes(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		i := slices.IndexFunc(types, func(t EventType) bool { return t.Name == n })
		switch {
		case i < 0:
			ve.Add("event_types", fmt.Sprintf("%q is not a catalogued event type.", n))
		case types[i].Deprecated() && !slices.Contains(w.EventTypes, n):
			ve.Add("event_types", fmt.Sprintf("%q is deprecated and cannot be added to a webhook.", n))
		}
	}
	w.EventTypes = names
	return nil
}

func (db *DB) applyCourses(ctx context.Context, w *Webhook, ids []string, ve *ValidationError) error {
	if ids == nil || (len(ids) == 1 && ids[0] == "*") {
		w.AllCourses, w.Courses = true, nil
		return nil
	}
	ids = uniqueNonEmpty(ids)
	if len(ids) == 0 {
		w.AllCourses, w.Courses = true, nil
		return nil
	}
	w.AllCourses = false
	var found []string
	if err := db.Gorm.WithContext(ctx).Model(&Course{}).Where("id IN ?", ids).Pluck("id", &found).Error; err != nil {
		return fmt.Errorf("checking courses: %w", err)
	}
	for _, id := range ids {
		if !slices.Contains(found, id) {
			ve.Add("courses", fmt.Sprintf("No course with id %q.", id))
		}
	}
	w.Courses = ids
	return nil
}

func uniqueNonEmpty(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (db *DB) sealer() (*Sealer, error) {
	if db.Sealer == nil {
		return nil, errors.New("no sealer configured for stored secrets")
	}
	return db.Sealer, nil
}

func webhookNameTaken(err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return &ValidationError{Fields: map[string]string{"name": "This partner already has a webhook with this name."}}
	}
	return nil
}

// CreateWebhook validates and stores a new webhook with its subscriptions.
func (db *DB) CreateWebhook(ctx context.Context, in WebhookInput, checkURL URLChecker) (*Webhook, error) {
	sealer, err := db.sealer()
	if err != nil {
		return nil, err
	}
	if in.CreateToken != "" {
		var existing Webhook
		err := db.Gorm.WithContext(ctx).Where("create_token = ?", in.CreateToken).Take(&existing).Error
		if err == nil {
			return db.FindWebhookByID(ctx, existing.ID)
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, fmt.Errorf("checking create token: %w", err)
		}
	}
	w := &Webhook{ID: NewID("wh_"), State: WebhookActive, StateChangedAt: time.Now()}
	if in.CreateToken != "" {
		w.CreateToken = &in.CreateToken
	}
	secret, pass, err := db.applyWebhookInput(ctx, w, in, true, checkURL)
	if err != nil {
		return nil, err
	}
	w.SecretEnc = sealer.Seal([]byte(*secret))
	if pass != nil {
		w.BasicAuthPasswordEnc = sealer.Seal([]byte(*pass))
	}
	err = db.Gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Omit("Partner").Create(w).Error; err != nil {
			if in.CreateToken != "" && errors.Is(err, gorm.ErrDuplicatedKey) {
				var n int64
				if db.Gorm.WithContext(ctx).Model(&Webhook{}).Where("create_token = ?", in.CreateToken).Count(&n); n > 0 {
					return errDoubleSubmit
				}
			}
			if verr := webhookNameTaken(err); verr != nil {
				return verr
			}
			return fmt.Errorf("creating webhook: %w", err)
		}
		return saveSubscriptions(tx, w)
	})
	if errors.Is(err, errDoubleSubmit) {
		// The same form was submitted twice at once; the other submit made the webhook.
		var existing Webhook
		if err := db.Gorm.WithContext(ctx).Where("create_token = ?", in.CreateToken).Take(&existing).Error; err != nil {
			return nil, fmt.Errorf("finding webhook of a double submit: %w", err)
		}
		return db.FindWebhookByID(ctx, existing.ID)
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

var errDoubleSubmit = errors.New("double submit")

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

// UpdateWebhook validates and saves changes to webhook id. A new secret given here replaces
// the old one at once; use RotateWebhookSecret for an overlap.
func (db *DB) UpdateWebhook(ctx context.Context, id string, in WebhookInput, checkURL URLChecker) (*Webhook, error) {
	sealer, err := db.sealer()
	if err != nil {
		return nil, err
	}
	w, err := db.FindWebhookByID(ctx, id)
	if err != nil {
		return nil, err
	}
	secret, pass, err := db.applyWebhookInput(ctx, w, in, false, checkURL)
	if err != nil {
		return nil, err
	}
	if secret != nil {
		w.SecretEnc = sealer.Seal([]byte(*secret))
	}
	if pass != nil {
		w.BasicAuthPasswordEnc = sealer.Seal([]byte(*pass))
	}
	w.UpdatedAt = time.Now()
	err = db.Gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Only what the form edits: state, failing and rotation change elsewhere, concurrently
		// perhaps, and writing back the values read before would undo that.
		if err := tx.Omit("Partner", "CreatedAt", "State", "StateReason", "StateChangedAt", "FailingSince",
			"PreviousSecretEnc", "PreviousSecretExpiresAt").Save(w).Error; err != nil {
			if verr := webhookNameTaken(err); verr != nil {
				return verr
			}
			return fmt.Errorf("updating webhook %s: %w", id, err)
		}
		return saveSubscriptions(tx, w)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
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
	if err := db.loadSubscriptions(ctx, []*Webhook{&w}); err != nil {
		return nil, err
	}
	return &w, nil
}

func (db *DB) loadSubscriptions(ctx context.Context, ws []*Webhook) error {
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
	rows, err := db.Pool.Query(ctx, `
		SELECT webhook_id, 't', event_type FROM webhook_event_types WHERE webhook_id = ANY($1)
		UNION ALL
		SELECT webhook_id, 'c', course_id FROM webhook_courses WHERE webhook_id = ANY($1)
		ORDER BY 1, 2, 3`, ids)
	if err != nil {
		return fmt.Errorf("loading subscriptions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, kind, v string
		if err := rows.Scan(&id, &kind, &v); err != nil {
			return fmt.Errorf("loading subscriptions: %w", err)
		}
		if kind == "t" {
			byID[id].EventTypes = append(byID[id].EventTypes, v)
		} else {
			byID[id].Courses = append(byID[id].Courses, v)
		}
	}
	return rows.Err()
}

// RevealWebhookSecret returns the webhook's signing secret and, during a rotation overlap, the
// previous one.
func (db *DB) RevealWebhookSecret(ctx context.Context, w *Webhook) (string, *string, error) {
	sealer, err := db.sealer()
	if err != nil {
		return "", nil, err
	}
	cur, err := sealer.Open(w.SecretEnc)
	if err != nil {
		return "", nil, err
	}
	var prev *string
	if w.PreviousSecretEnc != nil && w.PreviousSecretExpiresAt != nil && time.Now().Before(*w.PreviousSecretExpiresAt) {
		p, err := sealer.Open(w.PreviousSecretEnc)
		if err != nil {
			return "", nil, err
		}
		ps := string(p)
		prev = &ps
	}
	return string(cur), prev, nil
}

// RotateWebhookSecret gives the webhook a new secret; the old one keeps signing alongside it
// for RotationOverlap so receivers can switch without losing a message.
func (db *DB) RotateWebhookSecret(ctx context.Context, id string) (string, error) {
	sealer, err := db.sealer()
	if err != nil {
		return "", err
	}
	secret := GenerateSecret()
	res := db.Gorm.WithContext(ctx).Exec(`
		UPDATE webhooks SET previous_secret_enc = secret_enc, previous_secret_expires_at = ?, secret_enc = ?, updated_at = now()
		WHERE id = ?`, time.Now().Add(RotationOverlap), sealer.Seal([]byte(secret)), id)
	if res.Error != nil {
		return "", fmt.Errorf("rotating secret of %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return "", ErrNotFound
	}
	return secret, nil
}

// Backlog choices when a webhook becomes active again.
const (
	BacklogDeliver = "deliver"
	BacklogDrop    = "drop"
)

// SetWebhookState pauses, resumes, disables or re-enables a webhook. Becoming active again
// either delivers the changes that waited (collapsed per object like any batch) or drops them;
// messages already made resume their schedule either way.
func (db *DB) SetWebhookState(ctx context.Context, id, state, reason, backlog string, now time.Time) error {
	if state != WebhookActive && state != WebhookPaused && state != WebhookDisabled {
		return &ValidationError{Fields: map[string]string{"state": "Choose active, paused or disabled."}}
	}
	if backlog == "" {
		backlog = BacklogDeliver
	}
	if backlog != BacklogDeliver && backlog != BacklogDrop {
		return &ValidationError{Fields: map[string]string{"backlog": "Choose deliver or drop."}}
	}
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var old string
		err := tx.QueryRow(ctx, `SELECT state FROM webhooks WHERE id = $1 FOR UPDATE`, id).Scan(&old)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return fmt.Errorf("locking webhook %s: %w", id, err)
		}
		if old == state {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE webhooks SET state = $2, state_reason = $3, state_changed_at = $4, updated_at = $4 WHERE id = $1`,
			id, state, reason, now); err != nil {
			return fmt.Errorf("setting state of webhook %s: %w", id, err)
		}
		if state != WebhookActive {
			return nil
		}
		// Turned back on by a person: earlier failed verification calls no longer count.
		if _, err := tx.Exec(ctx, `UPDATE endpoints SET failures = 0, first_failure_at = NULL WHERE url = (SELECT url FROM webhooks WHERE id = $1)`, id); err != nil {
			return fmt.Errorf("resetting verification streak of %s: %w", id, err)
		}
		if backlog == BacklogDrop {
			if _, err := tx.Exec(ctx, `UPDATE changes SET state = 'dropped' WHERE webhook_id = $1 AND state = 'pending'`, id); err != nil {
				return fmt.Errorf("dropping backlog of %s: %w", id, err)
			}
			return nil
		}
		// The changes that waited have long-closed windows: any instance's batch worker, once
		// woken, flushes them.
		if _, err := tx.Exec(ctx, `SELECT pg_notify('hookrelay_batches', ''), pg_notify('hookrelay_messages', '')`); err != nil {
			return fmt.Errorf("notifying workers: %w", err)
		}
		return nil
	})
}

// DeleteWebhook removes a webhook with its changes, messages and attempts.
func (db *DB) DeleteWebhook(ctx context.Context, id string) error {
	res := db.Gorm.WithContext(ctx).Where("id = ?", id).Delete(&Webhook{})
	if res.Error != nil {
		return fmt.Errorf("deleting webhook %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
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
	if err := db.loadSubscriptions(ctx, ptrs); err != nil {
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
