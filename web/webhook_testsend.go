package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// sendTest sends a test notification of eventType (with its sample data) to the webhook now,
// through the same signing and sending as deliveries, and records it as a test message that
// is never retried.
func (s *Server) sendTest(ctx context.Context, h *models.Webhook, eventType string) (*models.Message, models.AttemptResult, error) {
	var res models.AttemptResult
	if s.cfg.Sender == nil {
		return nil, res, errors.New("no sender configured")
	}
	t, err := s.db.FindEventTypeByName(ctx, eventType)
	if errors.Is(err, models.ErrNotFound) {
		return nil, res, &models.ValidationError{Fields: map[string]string{"event_type": fmt.Sprintf("%q is not a catalogued event type.", eventType)}}
	} else if err != nil {
		return nil, res, err
	}
	now := s.now().UTC()
	ts := now.Truncate(time.Second)
	action := t.Name[lastDot(t.Name)+1:]
	object, objectID := t.Name[:max(0, lastDot(t.Name))], "test-"+models.NewID("")[24:]
	sample := t.Sample
	if len(sample) == 0 {
		sample = json.RawMessage("{}")
	}
	msgID := models.NewID("msg_")
	eventID := models.NewID("evt_test_")
	var payload []byte
	suffix := ""
	if h.Format == models.FormatEvent {
		body := struct {
			models.EventPayload
			Test bool `json:"test"`
		}{models.EventPayload{ID: eventID, Type: t.Name, Timestamp: ts, Action: action, Object: &object, ObjectID: &objectID, OccurredAt: ts, Data: sample}, true}
		payload, err = json.Marshal(body)
		if h.AppendEventType {
			suffix = "/" + t.Name
		}
	} else {
		body := struct {
			ID        string                 `json:"id"`
			Type      string                 `json:"type"`
			Timestamp time.Time              `json:"timestamp"`
			Test      bool                   `json:"test"`
			Changes   []models.ChangePayload `json:"changes"`
		}{msgID, "changes", ts, true, []models.ChangePayload{{EventID: eventID, Type: t.Name, Action: action, Object: &object, ObjectID: &objectID, OccurredAt: ts, Data: sample}}}
		payload, err = json.Marshal(body)
	}
	if err != nil {
		return nil, res, fmt.Errorf("encoding test message: %w", err)
	}
	m, err := s.db.CreateTestMessage(ctx, msgID, h.ID, t.Name, payload, suffix, now)
	if err != nil {
		return nil, res, err
	}
	d := &models.Delivery{MessageID: m.ID, Kind: models.KindTest, Payload: payload, URLSuffix: suffix, Webhook: *h}
	req, err := s.cfg.Sender.RequestFor(d, models.TriggerTest, now)
	if err != nil {
		return nil, res, err
	}
	res = s.cfg.Sender.Send(ctx, req)
	if err := s.db.RecordAttempt(ctx, res, nil); err != nil {
		return nil, res, err
	}
	return m, res, nil
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

func (s *Server) webhookTestSend(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	m, res, err := s.sendTest(r.Context(), h, r.PostFormValue("event_type"))
	if errs := models.FieldErrors(err); errs != nil {
		s.fragment(w, r, http.StatusUnprocessableEntity, views.TestResultView(views.TestResult{Error: errs["event_type"]}))
		return
	} else if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.test_sent", "webhook", h.ID, "Sent a test notification to "+h.Name,
		map[string]any{"message_id": m.ID, "status": res.Status}); err != nil {
		s.error(w, r, err)
		return
	}
	view := views.TestResult{MessageID: m.ID, DurationMs: int(res.Duration.Milliseconds()), Body: string(res.ResponseBody),
		Truncated: res.Truncated, Error: res.Error, Success: res.Success}
	if res.Status != 0 {
		view.Status = &res.Status
	}
	if isHTMX(r) {
		s.fragment(w, r, http.StatusOK, views.TestResultView(view))
		return
	}
	s.setFlash(w, r, map[bool]string{true: "success", false: "error"}[res.Success], testSummary(res))
	http.Redirect(w, r, "/messages/"+m.ID, http.StatusSeeOther)
}

func testSummary(res models.AttemptResult) string {
	if res.Status == 0 {
		return "Test notification sent; no response: " + res.Error
	}
	return fmt.Sprintf("Test notification sent; the receiver answered %d in %d ms.", res.Status, res.Duration.Milliseconds())
}

// webhookSample answers the test panel with the sample data of the chosen event type.
func (s *Server) webhookSample(w http.ResponseWriter, r *http.Request) {
	if _, err := s.findWebhook(r, r.PathValue("id")); err != nil {
		s.error(w, r, err)
		return
	}
	t, err := s.db.FindEventTypeByName(r.Context(), r.URL.Query().Get("event_type"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.fragment(w, r, http.StatusOK, views.SamplePre(prettyBytes(t.Sample)))
}
