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
	p := views.DashboardProps{Webhooks: int(total), Disabled: int(disabled), SuccessRate: -1}
	s.page(w, r, http.StatusOK, "Dashboard", "dashboard", views.Dashboard(p))
}
