package models

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// WebhookInput is the editable part of a webhook, as the form and the API give it. Nil
// pointers in an update leave the field as it is.
type WebhookInput struct {
	PartnerID         *string // on create only
	Name              *string
	URL               *string
	Description       *string
	Secret            *string // on create only; empty: generate
	Method            *string
	BasicAuthUser     *string
	BasicAuthPassword *string // empty with a user: keep the stored password
	AppendEventType   *bool
	Format            *string
	BatchWindow       *int
	MaxChanges        *int
	MaxInFlight       *int
	// DefaultMaxInFlight sets max_in_flight back to the instance setting.
	DefaultMaxInFlight bool
	Ordered            *bool
	EventTypes         []string // nil: unchanged; ["*"]: all
	Courses            []string // nil: unchanged; ["*"]: all
	// State is active (the default) or paused on create; active, paused or disabled on update.
	State *string
	// Backlog is what becomes of the changes that waited when an update makes the webhook
	// active again: BacklogDeliver (the default) or BacklogDrop.
	Backlog *string
	// CreateToken, when given on create, makes a repeated create return the first webhook.
	CreateToken string
}

// URLChecker says why a webhook URL cannot be used as a target, or "" when it can. It is
// given by the caller because it depends on the deployment (https only, private targets).
type URLChecker func(ctx context.Context, rawURL string) string

// checkTarget says why in's URL cannot be a target, or "". It resolves names, so actions call
// it before their transaction starts.
func checkTarget(ctx context.Context, in WebhookInput, checkURL URLChecker) string {
	if in.URL == nil || checkURL == nil {
		return ""
	}
	u := strings.TrimSpace(*in.URL)
	if validateURLShape(u) != "" {
		return ""
	}
	return checkURL(ctx, u)
}

// webhookChanges is what applying an input leaves to store beside the row: secrets to seal.
type webhookChanges struct {
	secret, basicPass *string
}

// applyWebhookInput checks in and copies it onto w, reading the catalogue through tx.
// targetProblem is what checkTarget said of the URL.
func applyWebhookInput(tx *gorm.DB, w *Webhook, in WebhookInput, isNew bool, targetProblem string) (webhookChanges, error) {
	var ve Error
	var out webhookChanges
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return strings.TrimSpace(*p)
	}
	switch {
	case isNew:
		id := str(in.PartnerID)
		if id == "" {
			ve.Add("partner_id", "Choose the partner this webhook belongs to.")
		} else if err := tx.Where("id = ?", id).Take(&Partner{}).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			ve.Add("partner_id", "No such partner.")
		} else if err != nil {
			return out, fmt.Errorf("finding partner %s: %w", id, err)
		}
		w.PartnerID = id
	case in.PartnerID != nil:
		ve.Add("partner_id", "Cannot be changed; create the webhook under the other partner.")
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
		} else if targetProblem != "" {
			ve.Add("url", targetProblem)
		}
	}
	if in.Description != nil {
		w.Description = str(in.Description)
		if len([]rune(w.Description)) > 2000 {
			ve.Add("description", "Use at most 2,000 characters.")
		}
	}
	switch {
	case isNew:
		s := str(in.Secret)
		if s == "" {
			s = GenerateSecret()
		}
		if msg := ValidSecret(s); msg != "" {
			ve.Add("secret", msg)
		}
		out.secret = &s
	case in.Secret != nil:
		ve.Add("secret", "Cannot be set here; rotate the secret instead, so the old one keeps signing for a while.")
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
		out.basicPass = &p
	}
	if w.BasicAuthUser == "" && out.basicPass == nil && in.BasicAuthUser != nil {
		w.BasicAuthPasswordEnc = nil // clearing the user turns basic auth off
	} else if w.BasicAuthUser != "" && out.basicPass == nil && w.BasicAuthPasswordEnc == nil {
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
	switch {
	case in.DefaultMaxInFlight:
		w.MaxInFlight = nil
	case in.MaxInFlight != nil:
		n := *in.MaxInFlight
		w.MaxInFlight = &n
		if n < 1 || n > MaxMaxInFlight {
			ve.Add("max_in_flight", fmt.Sprintf("Choose 1 to %d requests at once, or none for the default.", MaxMaxInFlight))
		}
	}
	if in.Ordered != nil {
		w.Ordered = *in.Ordered
	}
	if in.EventTypes != nil || isNew {
		if err := applyEventTypes(tx, w, in.EventTypes, &ve); err != nil {
			return out, err
		}
	}
	if in.Courses != nil || isNew {
		if err := applyCourses(tx, w, in.Courses, &ve); err != nil {
			return out, err
		}
	}
	if in.State != nil {
		if msg := validState(*in.State, isNew); msg != "" {
			ve.Add("state", msg)
		}
	}
	if in.Backlog != nil {
		if msg := validBacklog(*in.Backlog); msg != "" {
			ve.Add("backlog", msg)
		}
	}
	return out, ve.Err()
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
func applyEventTypes(tx *gorm.DB, w *Webhook, names []string, ve *Error) error {
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
	var types []EventType
	if err := tx.Where("name IN ?", names).Find(&types).Error; err != nil {
		return fmt.Errorf("checking event types: %w", err)
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

func applyCourses(tx *gorm.DB, w *Webhook, ids []string, ve *Error) error {
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
	if err := tx.Model(&Course{}).Where("id IN ?", ids).Pluck("id", &found).Error; err != nil {
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
