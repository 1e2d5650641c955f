package web

import (
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/models"
)

type apiWebhook struct {
	ID                 string     `json:"id"`
	PartnerID          string     `json:"partner_id"`
	Name               string     `json:"name"`
	URL                string     `json:"url"`
	Description        string     `json:"description"`
	Method             string     `json:"method"`
	BasicAuthUser      string     `json:"basic_auth_user"`
	HasBasicAuth       bool       `json:"basic_auth"`
	AppendEventType    bool       `json:"append_event_type"`
	Format             string     `json:"format"`
	BatchWindowSeconds int        `json:"batch_window_seconds"`
	MaxChanges         int        `json:"max_changes"`
	EventTypes         []string   `json:"event_types"`
	Courses            []string   `json:"courses"`
	State              string     `json:"state"`
	StateReason        string     `json:"state_reason"`
	StateChangedAt     time.Time  `json:"state_changed_at"`
	FailingSince       *time.Time `json:"failing_since"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

func toAPIWebhook(h *models.Webhook) apiWebhook {
	out := apiWebhook{ID: h.ID, PartnerID: h.PartnerID, Name: h.Name, URL: h.URL, Description: h.Description, Method: h.Method,
		BasicAuthUser: h.BasicAuthUser, HasBasicAuth: h.HasBasicAuth(), AppendEventType: h.AppendEventType, Format: h.Format,
		BatchWindowSeconds: h.BatchWindowSeconds, MaxChanges: h.MaxChanges, EventTypes: h.EventTypes, Courses: h.Courses,
		State: h.State, StateReason: h.StateReason, StateChangedAt: h.StateChangedAt, FailingSince: h.FailingSince, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt}
	if h.AllEventTypes {
		out.EventTypes = []string{"*"}
	}
	if h.AllCourses {
		out.Courses = []string{"*"}
	}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	if out.Courses == nil {
		out.Courses = []string{}
	}
	return out
}

// apiWebhookInput reads the webhook fields of a JSON body; state and backlog are read apart.
func apiWebhookInput(f *jsonFields, isNew bool) models.WebhookInput {
	in := models.WebhookInput{
		Name: f.str("name"), URL: f.str("url"), Description: f.str("description"), Method: f.str("method"),
		BasicAuthUser: f.str("basic_auth_user"), BasicAuthPassword: f.str("basic_auth_password"),
		AppendEventType: f.boolean("append_event_type"), Format: f.str("format"),
		BatchWindow: f.integer("batch_window_seconds"), MaxChanges: f.integer("max_changes"),
		EventTypes: f.strings("event_types"), Courses: f.strings("courses"),
	}
	if isNew {
		in.PartnerID, in.Secret = f.str("partner_id"), f.str("secret")
		if in.EventTypes == nil {
			in.EventTypes = []string{}
		}
	} else {
		if f.has("partner_id") {
			f.ve.Add("partner_id", "cannot be changed; create the webhook under the other partner")
		}
		if f.has("secret") {
			f.ve.Add("secret", "cannot be set here; use POST /api/v1/webhooks/{id}/secret/rotate")
		}
	}
	return in
}

func (s *Server) apiWebhookList(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := models.WebhookFilter{PartnerID: q.Get("partner_id"), State: q.Get("state"), Search: q.Get("q"), After: after, Limit: limit}
	switch f.State {
	case "", models.WebhookActive, models.WebhookPaused, models.WebhookDisabled:
	default:
		s.apiError(w, r, &models.ValidationError{Fields: map[string]string{"state": "must be active, paused or disabled"}})
		return
	}
	rows, next, err := s.db.FindWebhooks(r.Context(), f)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]apiWebhook, 0, len(rows))
	for i := range rows {
		out = append(out, toAPIWebhook(&rows[i].Webhook))
	}
	writeJSON(w, http.StatusOK, listResponse{Data: out, NextCursor: nextCursor(next)})
}

func (s *Server) apiWebhookGet(w http.ResponseWriter, r *http.Request) {
	h, err := s.db.FindWebhookByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIWebhook(h))
}

func (s *Server) apiWebhookCreate(w http.ResponseWriter, r *http.Request) {
	f, ok := readJSONObject(w, r, 256<<10)
	if !ok {
		return
	}
	in := apiWebhookInput(f, true)
	state := f.str("state")
	if state != nil && *state != models.WebhookActive && *state != models.WebhookPaused {
		f.ve.Add("state", "must be active or paused")
	}
	if err := f.ve.Err(); err != nil {
		s.apiError(w, r, err)
		return
	}
	h, err := s.db.CreateWebhook(r.Context(), in, s.cfg.Targets.CheckURL)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if state != nil && *state == models.WebhookPaused {
		if err := s.db.SetWebhookState(r.Context(), h.ID, models.WebhookPaused, "Created paused", "", s.now()); err != nil {
			s.apiError(w, r, err)
			return
		}
		h.State = models.WebhookPaused
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.created", "webhook", h.ID, "Created webhook "+h.Name, webhookAuditDetails(h)); err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIWebhook(h))
}

func (s *Server) apiWebhookUpdate(w http.ResponseWriter, r *http.Request) {
	before, err := s.db.FindWebhookByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	f, ok := readJSONObject(w, r, 256<<10)
	if !ok {
		return
	}
	in := apiWebhookInput(f, false)
	state, backlog := f.str("state"), f.str("backlog")
	if state != nil && *state != models.WebhookActive && *state != models.WebhookPaused && *state != models.WebhookDisabled {
		f.ve.Add("state", "must be active, paused or disabled")
	}
	if backlog != nil && *backlog != models.BacklogDeliver && *backlog != models.BacklogDrop {
		f.ve.Add("backlog", "must be deliver or drop")
	}
	if err := f.ve.Err(); err != nil {
		s.apiError(w, r, err)
		return
	}
	h, err := s.db.UpdateWebhook(r.Context(), before.ID, in, s.cfg.Targets.CheckURL)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	changes := changedFields(webhookAuditDetails(before), webhookAuditDetails(h))
	if state != nil && *state != before.State {
		b := ""
		if backlog != nil {
			b = *backlog
		}
		reason := "Set to " + *state + " through the API"
		if err := s.db.SetWebhookState(r.Context(), h.ID, *state, reason, b, s.now()); err != nil {
			s.apiError(w, r, err)
			return
		}
		changes["state"] = map[string]any{"from": before.State, "to": *state, "backlog": b}
		if h, err = s.db.FindWebhookByID(r.Context(), h.ID); err != nil {
			s.apiError(w, r, err)
			return
		}
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.updated", "webhook", h.ID, "Changed webhook "+h.Name, changes); err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIWebhook(h))
}

func (s *Server) apiWebhookDelete(w http.ResponseWriter, r *http.Request) {
	h, err := s.db.FindWebhookByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if err := s.db.DeleteWebhook(r.Context(), h.ID); err != nil {
		s.apiError(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.deleted", "webhook", h.ID, "Deleted webhook "+h.Name, webhookAuditDetails(h)); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiWebhookSecretReveal(w http.ResponseWriter, r *http.Request) {
	h, err := s.db.FindWebhookByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	cur, prev, err := s.db.RevealWebhookSecret(r.Context(), h)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.secret_revealed", "webhook", h.ID, "Revealed the signing secret of "+h.Name, nil); err != nil {
		s.apiError(w, r, err)
		return
	}
	out := map[string]any{"secret": cur}
	if prev != nil {
		out["previous_secret"] = *prev
		out["previous_secret_expires_at"] = h.PreviousSecretExpiresAt
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiWebhookSecretRotate(w http.ResponseWriter, r *http.Request) {
	h, err := s.db.FindWebhookByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	secret, err := s.db.RotateWebhookSecret(r.Context(), h.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.secret_rotated", "webhook", h.ID, "Rotated the signing secret of "+h.Name, nil); err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"secret": secret})
}
