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
	MaxInFlight        *int       `json:"max_in_flight"`
	Ordered            bool       `json:"ordered"`
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
		BatchWindowSeconds: h.BatchWindowSeconds, MaxChanges: h.MaxChanges, MaxInFlight: h.MaxInFlight, Ordered: h.Ordered, EventTypes: h.EventTypes, Courses: h.Courses,
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

// apiWebhookInput reads the webhook fields of a JSON body.
func apiWebhookInput(f *jsonFields) models.WebhookInput {
	return models.WebhookInput{
		PartnerID: f.str("partner_id"), Secret: f.str("secret"),
		Name: f.str("name"), URL: f.str("url"), Description: f.str("description"), Method: f.str("method"),
		BasicAuthUser: f.str("basic_auth_user"), BasicAuthPassword: f.str("basic_auth_password"),
		AppendEventType: f.boolean("append_event_type"), Format: f.str("format"),
		BatchWindow: f.integer("batch_window_seconds"), MaxChanges: f.integer("max_changes"),
		MaxInFlight: maxInFlight(f), DefaultMaxInFlight: f.null("max_in_flight"), Ordered: f.boolean("ordered"),
		EventTypes: f.strings("event_types"), Courses: f.strings("courses"),
		State: f.str("state"), Backlog: f.str("backlog"),
	}
}

// maxInFlight reads max_in_flight, where null (the default) is not a number.
func maxInFlight(f *jsonFields) *int {
	if f.null("max_in_flight") {
		return nil
	}
	return f.integer("max_in_flight")
}

func (s *Server) apiWebhookList(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := models.WebhookFilter{PartnerID: q.Get("partner_id"), State: q.Get("state"), Search: q.Get("q"), After: after, Limit: limit}
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
	in := apiWebhookInput(f)
	if err := f.ve.Err(); err != nil {
		s.apiError(w, r, err)
		return
	}
	h, err := s.db.CreateWebhook(r.Context(), actor(r), in, s.cfg.Targets.CheckURL)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIWebhook(h))
}

func (s *Server) apiWebhookUpdate(w http.ResponseWriter, r *http.Request) {
	f, ok := readJSONObject(w, r, 256<<10)
	if !ok {
		return
	}
	in := apiWebhookInput(f)
	if err := f.ve.Err(); err != nil {
		s.apiError(w, r, err)
		return
	}
	h, err := s.db.UpdateWebhook(r.Context(), actor(r), r.PathValue("id"), in, s.cfg.Targets.CheckURL)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIWebhook(h))
}

func (s *Server) apiWebhookDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.db.DeleteWebhook(r.Context(), actor(r), r.PathValue("id")); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiWebhookSecretReveal(w http.ResponseWriter, r *http.Request) {
	secrets, err := s.db.RevealWebhookSecret(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := map[string]any{"secret": secrets.Current}
	if secrets.Previous != "" {
		out["previous_secret"] = secrets.Previous
		out["previous_secret_expires_at"] = secrets.PreviousUntil
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiWebhookSecretRotate(w http.ResponseWriter, r *http.Request) {
	secrets, err := s.db.RotateWebhookSecret(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"secret": secrets.Current})
}
