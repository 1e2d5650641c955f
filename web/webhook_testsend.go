package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/a-h/templ"
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
	eventType, data := r.PostFormValue("event_type"), r.PostFormValue("data")
	m, res, err := s.db.SendTestNotification(r.Context(), actor(r), h.ID, eventType, data, s.send)
	errs := models.FieldErrors(err)
	if err != nil && errs == nil {
		s.error(w, r, err)
		return
	}
	// The panel again with what was chosen and typed, and each error under its field, or the
	// receiver's answer beneath.
	panel, err := s.testPanel(r, h, eventType, data, errs)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if errs != nil {
		if isHTMX(r) {
			// 200: htmx swaps only what answers 2xx.
			s.fragment(w, r, http.StatusOK, views.TestNotification(panel))
			return
		}
		s.renderWebhookPage(w, r, views.SecretView{}, &panel)
		return
	}
	panel.Result = &views.TestResult{MessageID: m.ID, DurationMs: int(res.Duration.Milliseconds()), Body: string(res.ResponseBody),
		Truncated: res.Truncated, Error: res.Error, Success: res.Success}
	if res.Status != 0 {
		panel.Result.Status = &res.Status
	}
	if isHTMX(r) {
		// With the page's recent deliveries, the test message among them.
		recent, err := s.recentDeliveries(r, h.ID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.fragment(w, r, http.StatusOK, templ.Join(views.TestNotification(panel),
			views.RecentDeliveries(h.ID, recent, currentUser(r).Role == models.RoleAdmin, true)))
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
	s.fragment(w, r, http.StatusOK, views.TestData(prettyBytes(t.Sample), ""))
}
