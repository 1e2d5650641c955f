package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/models"
)

type apiMessage struct {
	ID            string          `json:"id"`
	WebhookID     string          `json:"webhook_id"`
	Kind          string          `json:"kind"`
	State         string          `json:"state"`
	EventTypes    []string        `json:"event_types"`
	ObjectIDs     []string        `json:"object_ids"`
	Changes       int             `json:"change_count"`
	Attempts      int             `json:"attempt_count"`
	LastStatus    *int            `json:"last_status"`
	LastError     string          `json:"last_error"`
	LastAttemptAt *time.Time      `json:"last_attempt_at"`
	NextAttemptAt *time.Time      `json:"next_attempt_at"`
	CreatedAt     time.Time       `json:"created_at"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	AttemptList   []apiAttempt    `json:"attempts,omitempty"`
}

type apiAttempt struct {
	StartedAt         time.Time       `json:"started_at"`
	Trigger           string          `json:"trigger"`
	URL               string          `json:"url"`
	Method            string          `json:"method"`
	RequestHeaders    json.RawMessage `json:"request_headers"`
	ResponseStatus    *int            `json:"response_status"`
	ResponseHeaders   json.RawMessage `json:"response_headers"`
	ResponseBody      string          `json:"response_body"`
	ResponseTruncated bool            `json:"response_truncated"`
	DurationMs        int             `json:"duration_ms"`
	Error             string          `json:"error"`
	Success           bool            `json:"success"`
}

func toAPIMessage(m *models.Message) apiMessage {
	out := apiMessage{ID: m.ID, WebhookID: m.WebhookID, Kind: m.Kind, State: m.State, EventTypes: m.EventTypes, ObjectIDs: m.ObjectIDs,
		Changes: m.ChangeCount, Attempts: m.AttemptCount, LastStatus: m.LastStatus, LastError: m.LastError,
		LastAttemptAt: m.LastAttemptAt, NextAttemptAt: m.NextAttemptAt, CreatedAt: m.CreatedAt}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	if out.ObjectIDs == nil {
		out.ObjectIDs = []string{}
	}
	return out
}

func toAPIAttempt(a *models.Attempt) apiAttempt {
	return apiAttempt{StartedAt: a.StartedAt, Trigger: a.Trigger, URL: a.URL, Method: a.Method, RequestHeaders: a.RequestHeaders,
		ResponseStatus: a.ResponseStatus, ResponseHeaders: a.ResponseHeaders, ResponseBody: string(a.ResponseBody),
		ResponseTruncated: a.ResponseTruncated, DurationMs: a.DurationMs, Error: a.Error, Success: a.Success}
}

func (s *Server) apiWebhookMessages(w http.ResponseWriter, r *http.Request) {
	h, err := s.db.FindWebhookByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	after, limit, ok := page(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := models.MessageFilter{WebhookID: h.ID, State: q.Get("state"), EventType: q.Get("event_type"), ObjectID: q.Get("object_id"), After: after, Limit: limit}
	var ve models.Error
	switch f.State {
	case "", models.MessagePending, models.MessageDelivering, models.MessageSucceeded, models.MessageRetrying, models.MessageFailed:
	default:
		ve.Add("state", "must be pending, delivering, succeeded, retrying or failed")
	}
	if f.From, err = parseTimeParam("from", q.Get("from")); err != nil {
		ve.Add("from", err.Error())
	}
	if f.To, err = parseTimeParam("to", q.Get("to")); err != nil {
		ve.Add("to", err.Error())
	}
	if err := ve.Err(); err != nil {
		s.apiError(w, r, err)
		return
	}
	rows, next, err := s.db.FindMessages(r.Context(), f)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]apiMessage, 0, len(rows))
	for i := range rows {
		out = append(out, toAPIMessage(&rows[i].Message))
	}
	writeJSON(w, http.StatusOK, listResponse{Data: out, NextCursor: nextCursor(next)})
}

func (s *Server) apiMessageGet(w http.ResponseWriter, r *http.Request) {
	m, err := s.db.FindMessageByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	attempts, err := s.db.FindAttempts(r.Context(), m.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := toAPIMessage(m)
	out.Payload = m.Payload
	if !json.Valid(m.Payload) {
		out.Payload = nil
	}
	out.AttemptList = make([]apiAttempt, 0, len(attempts))
	for i := range attempts {
		out.AttemptList = append(out.AttemptList, toAPIAttempt(&attempts[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiMessageResend(w http.ResponseWriter, r *http.Request) {
	m, err := s.db.ResendMessage(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, toAPIMessage(m))
}

func (s *Server) apiResendFailed(w http.ResponseWriter, r *http.Request) {
	f, ok := readJSONObject(w, r, 16<<10)
	if !ok {
		return
	}
	fromS, toS := f.str("from"), f.str("to")
	if err := f.ve.Err(); err != nil {
		s.apiError(w, r, err)
		return
	}
	from, to, err := resendFailedRange(deref(fromS), deref(toS))
	n := 0
	if err == nil {
		n, err = s.db.ResendFailedMessages(r.Context(), actor(r), r.PathValue("id"), from, to)
	}
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"resent": n})
}

func (s *Server) apiWebhookTest(w http.ResponseWriter, r *http.Request) {
	f, ok := readJSONObject(w, r, 128<<10)
	if !ok {
		return
	}
	et := f.str("event_type")
	if err := f.ve.Err(); err != nil {
		s.apiError(w, r, err)
		return
	}
	// data is checked by the action, as the form's is: absent or null sends the sample.
	data := ""
	if raw := f.m["data"]; raw != nil && string(raw) != "null" {
		data = string(raw)
	}
	m, _, err := s.db.SendTestNotification(r.Context(), actor(r), r.PathValue("id"), deref(et), data, s.send)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	attempts, err := s.db.FindAttempts(r.Context(), m.ID)
	if err != nil || len(attempts) == 0 {
		s.apiError(w, r, errors.Join(err, errors.New("test attempt not recorded")))
		return
	}
	out := toAPIAttempt(&attempts[len(attempts)-1])
	writeJSON(w, http.StatusOK, map[string]any{"message_id": m.ID, "attempt": out})
}
