package web

import (
	"net/http"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) webhookList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	u := currentUser(r)
	scope, err := partnerScope(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	f := views.WebhookListFilter{Q: textParam(q.Get("q")), PartnerID: q.Get("partner_id"), State: q.Get("state")}
	if f.State != "" && !models.ValidWebhookState(f.State) {
		f.State = ""
	}
	mf := models.WebhookFilter{Search: f.Q, PartnerID: f.PartnerID, State: f.State}
	if c, ok := models.DecodeCursor(q.Get("cursor")); ok {
		mf.After = &c
	}
	props := views.WebhookListProps{CanEdit: canEditWebhooks(u), Paged: mf.After != nil, OwnOnly: u.Role == models.RolePartner}
	if u.Role == models.RolePartner {
		mf.PartnerID, f.PartnerID = scope, ""
	} else {
		partners, err := s.db.FindPartners(r.Context())
		if err != nil {
			s.error(w, r, err)
			return
		}
		for _, p := range partners {
			props.Partners = append(props.Partners, views.Option{Value: p.ID, Label: p.Name})
		}
	}
	rows, next, err := s.db.FindWebhooks(r.Context(), mf)
	if err != nil {
		s.error(w, r, err)
		return
	}
	props.Filter = f
	if next != nil {
		props.Next = next.Encode()
	}
	for _, row := range rows {
		vr := views.WebhookRow{ID: row.ID, Name: row.Name, URL: row.URL, State: row.State, AllEventTypes: row.AllEventTypes,
			EventTypes: len(row.EventTypes), AllCourses: row.AllCourses, Courses: len(row.Courses),
			LastStatus: row.LastStatus, LastAttemptAt: row.LastAttemptAt}
		if row.LastState != nil {
			vr.LastState = *row.LastState
		}
		if row.Partner != nil {
			vr.PartnerName = row.Partner.Name
		}
		props.Rows = append(props.Rows, vr)
	}
	s.page(w, r, http.StatusOK, "Webhooks", "webhooks", views.WebhookList(props))
}
