package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/hookrelay/hookrelay/models"
)

// Ingestion limits (SPEC "Ingestion API").
const (
	maxIngestBody   = 1 << 20
	maxIngestEvents = 1000
)

type apiEvent struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	Object         *string         `json:"object"`
	ObjectID       *string         `json:"object_id"`
	Action         string          `json:"action"`
	CourseID       *string         `json:"course_id"`
	URL            *string         `json:"url"`
	OccurredAt     time.Time       `json:"occurred_at"`
	ReceivedAt     time.Time       `json:"received_at"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey *string         `json:"idempotency_key"`
}

func toAPIEvent(e *models.Event) apiEvent {
	return apiEvent{ID: e.ID, Type: e.Type, Object: e.Object, ObjectID: e.ObjectID, Action: e.Action, CourseID: e.CourseID,
		URL: e.URL, OccurredAt: e.OccurredAt.UTC(), ReceivedAt: e.ReceivedAt.UTC(), Data: e.Data, IdempotencyKey: e.IdempotencyKey}
}

// readJSONBody reads at most limit bytes of a JSON request body, answering 413 or 400 itself.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) (json.RawMessage, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeProblem(w, Problem{Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("The body may be at most %d bytes.", limit)})
		return nil, false
	} else if err != nil {
		writeProblem(w, Problem{Title: "Unreadable request body", Status: http.StatusBadRequest, Detail: err.Error()})
		return nil, false
	}
	if !json.Valid(body) {
		writeProblem(w, Problem{Title: "Malformed JSON", Status: http.StatusBadRequest, Detail: jsonErrorDetail(body)})
		return nil, false
	}
	if field, p := models.JSONTextProblem(body, true); p != "" {
		writeProblem(w, Problem{Title: "Malformed JSON", Status: http.StatusBadRequest, Detail: field + " " + p + ".",
			Errors: []ProblemField{{Field: field, Detail: p}}})
		return nil, false
	}
	return body, true
}

func jsonErrorDetail(body []byte) string {
	var v any
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("The body is not valid JSON: %v (at byte %d).", se, se.Offset)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "The body is empty; send a JSON object."
	}
	return "The body is not valid JSON."
}

func (s *Server) apiEventCreate(w http.ResponseWriter, r *http.Request) {
	body, ok := readJSONBody(w, r, maxIngestBody)
	if !ok {
		return
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		writeProblem(w, Problem{Title: "Invalid request", Status: http.StatusUnprocessableEntity,
			Detail: "Send one event as a JSON object, or {\"events\": [...]}.", Errors: []ProblemField{{Field: "", Detail: "must be a JSON object"}}})
		return
	}
	raws := []json.RawMessage{body}
	_, isBatch := top["events"]
	field := func(i int, f string) string { return f }
	if isBatch {
		field = func(i int, f string) string { return fmt.Sprintf("events[%d].%s", i, f) }
		if err := json.Unmarshal(top["events"], &raws); err != nil {
			s.apiError(w, r, models.Invalid("events", "must be an array of event objects"))
			return
		}
		switch {
		case len(raws) == 0:
			s.apiError(w, r, models.Invalid("events", "must hold at least one event"))
			return
		case len(raws) > maxIngestEvents:
			s.apiError(w, r, models.Invalid("events", fmt.Sprintf("may hold at most %d events; this request has %d", maxIngestEvents, len(raws))))
			return
		}
	}
	now := s.now().UTC()
	evs := make([]models.NewEvent, len(raws))
	var ve models.Error
	for i, raw := range raws {
		evs[i] = parseEvent(raw, now, func(f, msg string) { ve.Add(field(i, f), msg) })
	}
	if err := ve.Err(); err != nil {
		s.apiError(w, r, err)
		return
	}
	stored, err := s.db.IngestEvents(r.Context(), evs, now, field)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if s.cfg.Metrics != nil {
		for i := range stored {
			s.cfg.Metrics.EventsReceived.WithLabelValues(stored[i].Type).Inc()
		}
	}
	if !isBatch {
		writeJSON(w, http.StatusAccepted, toAPIEvent(&stored[0]))
		return
	}
	out := make([]apiEvent, len(stored))
	for i := range stored {
		out[i] = toAPIEvent(&stored[i])
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"events": out})
}

// parseEvent reads one posted event, reporting each bad field through bad. Unknown fields are
// ignored.
func parseEvent(raw json.RawMessage, now time.Time, bad func(field, msg string)) models.NewEvent {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		bad("", "must be a JSON object")
		return models.NewEvent{}
	}
	var e models.NewEvent
	text := func(name string, max int) *string {
		v, ok := m[name]
		if !ok || string(v) == "null" {
			return nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			// Numeric ids are common in the platform's payloads; keep their literal text.
			var n json.Number
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if dec.Decode(&n) != nil {
				bad(name, "must be a string")
				return nil
			}
			s = n.String()
		}
		if p := models.TextProblem(s, max); p != "" {
			bad(name, p)
			return nil
		}
		return &s
	}
	if t := text("type", 200); t == nil || *t == "" {
		bad("type", "is required: name a catalogued event type")
	} else {
		e.Type = *t
	}
	e.Object = text("object", 200)
	e.ObjectID = text("object_id", 200)
	e.CourseID = text("course_id", 200)
	e.URL = text("url", 2048)
	e.IdempotencyKey = text("idempotency_key", 255)
	if a := text("action", 100); a != nil {
		e.Action = *a // empty: the domain's default
	}
	e.OccurredAt = now
	if v, ok := m["occurred_at"]; ok && string(v) != "null" {
		var s string
		t, err := time.Time{}, json.Unmarshal(v, &s)
		if err == nil {
			t, err = time.Parse(time.RFC3339Nano, s)
		}
		if err != nil {
			bad("occurred_at", "must be an RFC 3339 date-time such as 2026-11-22T10:00:00Z")
		} else {
			e.OccurredAt = t.UTC()
		}
	}
	e.Data = json.RawMessage("{}")
	if v, ok := m["data"]; ok && string(v) != "null" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); err != nil || obj == nil {
			bad("data", "must be a JSON object")
		} else {
			var buf bytes.Buffer
			_ = json.Compact(&buf, v)
			e.Data = buf.Bytes()
		}
	}
	e.ContentHash = contentHash(m)
	return e
}

// contentHash identifies what was posted, whitespace aside, over the fields the API knows.
func contentHash(m map[string]json.RawMessage) []byte {
	names := []string{"type", "object", "object_id", "action", "course_id", "url", "occurred_at", "data", "idempotency_key"}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		var buf bytes.Buffer
		if v, ok := m[n]; ok {
			_ = json.Compact(&buf, v)
		}
		fmt.Fprintf(h, "%s=%d:%s;", n, buf.Len(), buf.Bytes())
	}
	return h.Sum(nil)
}

type apiDelivery struct {
	WebhookID    string  `json:"webhook_id"`
	State        string  `json:"state"`
	MessageID    *string `json:"message_id"`
	MessageState *string `json:"message_state"`
	SupersededBy *string `json:"superseded_by"`
}

func (s *Server) apiEventGet(w http.ResponseWriter, r *http.Request) {
	e, err := s.db.FindEventByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	ds, err := s.db.FindEventDeliveries(r.Context(), e.ID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := struct {
		apiEvent
		Deliveries []apiDelivery `json:"deliveries"`
	}{apiEvent: toAPIEvent(e), Deliveries: make([]apiDelivery, 0, len(ds))}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, apiDelivery{WebhookID: d.WebhookID, State: d.State, MessageID: d.MessageID,
			MessageState: d.MessageState, SupersededBy: d.SupersededBy})
	}
	writeJSON(w, http.StatusOK, out)
}
