package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// send makes one attempt of a delivery now through the configured sender: how test
// notifications go out, signed and sent like every delivery.
func (s *Server) send(ctx context.Context, d *models.Delivery, trigger string, now time.Time) (models.AttemptResult, error) {
	if s.cfg.Sender == nil {
		return models.AttemptResult{}, errors.New("no sender configured")
	}
	req, err := s.cfg.Sender.RequestFor(d, trigger, now)
	if err != nil {
		return models.AttemptResult{}, err
	}
	return s.cfg.Sender.Send(ctx, req), nil
}

func (s *Server) webhookTestSend(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	m, res, err := s.db.SendTestNotification(r.Context(), actor(r), h.ID, r.PostFormValue("event_type"), s.send)
	if errs := models.FieldErrors(err); errs != nil {
		s.fragment(w, r, http.StatusUnprocessableEntity, views.TestResultView(views.TestResult{Error: errs["event_type"]}))
		return
	} else if err != nil {
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
