package web

import (
	"net/http"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	if currentUser(r).Role == models.RolePartner {
		http.Redirect(w, r, "/webhooks", http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	total, err := s.db.CountWebhooks(ctx, "")
	if err != nil {
		s.error(w, r, err)
		return
	}
	disabled, err := s.db.CountWebhooks(ctx, models.WebhookDisabled)
	if err != nil {
		s.error(w, r, err)
		return
	}
	hours, err := s.db.DeliveryHours(ctx, s.now())
	if err != nil {
		s.error(w, r, err)
		return
	}
	backlog, err := s.db.FindBacklog(ctx)
	if err != nil {
		s.error(w, r, err)
		return
	}
	failing, err := s.db.FindFailingWebhooks(ctx, s.now(), 20)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := views.DashboardProps{Webhooks: int(total), Disabled: int(disabled), SuccessRate: -1,
		Backlog: int(backlog.PendingChanges + backlog.WaitingMessages), PendingChanges: int(backlog.PendingChanges), WaitingMessages: int(backlog.WaitingMessages)}
	var ok, bad int64
	for _, h := range hours {
		p.Hours = append(p.Hours, views.HourBar{Hour: h.Hour, Succeeded: h.Succeeded, Failed: h.Failed})
		ok, bad = ok+h.Succeeded, bad+h.Failed
	}
	p.Deliveries24h = int(ok + bad)
	if ok+bad > 0 {
		p.SuccessRate = float64(ok) / float64(ok+bad)
	}
	for _, f := range failing {
		p.Failing = append(p.Failing, views.FailingRow{ID: f.ID, Name: f.Name, URL: f.URL, State: f.State, Reason: f.StateReason,
			LastFailureAt: f.LastFailureAt, LastStatus: f.LastStatus, LastError: f.LastError})
	}
	s.page(w, r, http.StatusOK, "Dashboard", "dashboard", views.Dashboard(p))
}
