package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// findWebhook loads a webhook the signed-in user may see: a partner user only its own
// organisation's, and another's looks exactly like one that does not exist.
func (s *Server) findWebhook(r *http.Request, id string) (*models.Webhook, error) {
	h, err := s.db.FindWebhookByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if u := currentUser(r); u != nil && u.Role == models.RolePartner && (u.PartnerID == nil || *u.PartnerID != h.PartnerID) {
		return nil, models.ErrNotFound
	}
	return h, nil
}

func canEditWebhooks(u *models.User) bool {
	return u != nil && (u.Role == models.RoleAdmin || u.Role == models.RoleStaff)
}

func (s *Server) webhookDetail(r *http.Request, h *models.Webhook) (views.WebhookDetail, error) {
	d := views.WebhookDetail{ID: h.ID, Name: h.Name, URL: h.URL, Description: h.Description, PartnerID: h.PartnerID,
		State: h.State, StateReason: h.StateReason, StateChangedAt: h.StateChangedAt, FailingSince: h.FailingSince, Method: h.Method,
		AppendEventType: h.AppendEventType, Format: h.Format, BatchWindow: h.BatchWindowSeconds, MaxChanges: h.MaxChanges, MaxInFlight: h.MaxInFlight, Ordered: h.Ordered,
		BasicAuthUser: h.BasicAuthUser, HasBasicAuth: h.HasBasicAuth(), AllEventTypes: h.AllEventTypes, AllCourses: h.AllCourses,
		CreatedAt: h.CreatedAt}
	if h.Partner != nil {
		d.PartnerName = h.Partner.Name
	}
	if h.PreviousSecretExpiresAt != nil && s.now().Before(*h.PreviousSecretExpiresAt) {
		d.RotationEndsAt = h.PreviousSecretExpiresAt
	}
	types, err := s.db.FindEventTypes(r.Context())
	if err != nil {
		return d, err
	}
	for _, name := range h.EventTypes {
		o := views.EventTypeOption{Name: name}
		for _, t := range types {
			if t.Name == name {
				o.Description, o.Deprecated = t.Description, t.Deprecated()
			}
		}
		d.EventTypes = append(d.EventTypes, o)
	}
	cs, err := s.db.FindCoursesByIDs(r.Context(), h.Courses)
	if err != nil {
		return d, err
	}
	for _, c := range cs {
		d.Courses = append(d.Courses, views.CourseChip{ID: c.ID, Title: c.Title})
	}
	n, err := s.db.CountMessages(r.Context(), h.ID)
	if err != nil {
		return d, err
	}
	d.Messages = n
	return d, nil
}

func (s *Server) webhookShow(w http.ResponseWriter, r *http.Request) {
	var sv views.SecretView
	if cur, prev, ok := strings.Cut(s.takeOnce(w, r, "rotated:"+r.PathValue("id")), "\x00"); ok {
		sv = views.SecretView{Secret: cur, PreviousSecret: prev, JustRotated: true}
	}
	s.renderWebhookPage(w, r, sv, nil)
}

// renderWebhookPage shows the webhook's page; test, when not nil, is the test panel as sent
// back with its errors, and the page answers 422.
func (s *Server) renderWebhookPage(w http.ResponseWriter, r *http.Request, secret views.SecretView, test *views.TestPanel) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	d, err := s.webhookDetail(r, h)
	if err != nil {
		s.error(w, r, err)
		return
	}
	secret.WebhookID, secret.WebhookName = h.ID, h.Name
	if secret.RotationEndsAt == nil {
		secret.RotationEndsAt = d.RotationEndsAt
	}
	u := currentUser(r)
	props := views.WebhookDetailProps{Hook: d, Secret: secret, CanEdit: canEditWebhooks(u), CanResend: u.Role == models.RoleAdmin}
	health, err := s.db.FindWebhookHealth(r.Context(), h, s.now())
	if err != nil {
		s.error(w, r, err)
		return
	}
	props.Health = views.HealthView{Succeeded: health.Succeeded24h, Failed: health.Failed24h, LastFailureAt: health.LastFailureAt,
		LastFailure: health.LastFailure, VerifiedAt: health.VerifiedAt, VerifyFailures: health.VerifyFailures,
		NextVerifyAt: health.NextVerifyAt, LastVerifyResult: health.LastVerifyResult, PendingChanges: health.PendingChanges}
	if props.Recent, err = s.recentDeliveries(r, h.ID); err != nil {
		s.error(w, r, err)
		return
	}
	if props.Mail, err = s.webhookMail(r, h); err != nil {
		s.error(w, r, err)
		return
	}
	status := http.StatusOK
	if test != nil {
		props.Test, status = *test, http.StatusUnprocessableEntity
	} else if props.Test, err = s.testPanel(r, h, "", "", nil); err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, status, h.Name, "webhooks", views.WebhookPage(props))
}

// recentDeliveries are the latest messages of a webhook, for its page.
func (s *Server) recentDeliveries(r *http.Request, webhookID string) ([]views.MessageRowView, error) {
	recent, _, err := s.db.FindMessages(r.Context(), models.MessageFilter{WebhookID: webhookID, Limit: 10})
	if err != nil {
		return nil, err
	}
	rows := make([]views.MessageRowView, len(recent))
	for i := range recent {
		rows[i] = toMessageRowView(&recent[i])
	}
	return rows, nil
}

// testPanel is the test-notification form of webhook h: the types it subscribes to, with
// eventType chosen and data in the box (the first type and its sample when empty).
func (s *Server) testPanel(r *http.Request, h *models.Webhook, eventType, data string, errs map[string]string) (views.TestPanel, error) {
	p := views.TestPanel{WebhookID: h.ID, Type: eventType, Sample: data, Errors: errs}
	types, err := s.db.FindEventTypes(r.Context())
	if err != nil {
		return p, err
	}
	for _, t := range types {
		if h.AllEventTypes || slices.Contains(h.EventTypes, t.Name) {
			p.Types = append(p.Types, views.Option{Value: t.Name, Label: t.Name})
			if p.Type == "" {
				p.Type = t.Name
			}
			if p.Type == t.Name && data == "" {
				p.Sample = prettyBytes(t.Sample)
			}
		}
	}
	return p, nil
}

// webhookMail is what the webhook page says about mail to its partner's contacts.
func (s *Server) webhookMail(r *http.Request, h *models.Webhook) (views.MailView, error) {
	m := views.MailView{On: s.cfg.MailOn}
	if h.Partner != nil {
		m.Contacts = h.Partner.ContactEmails
	}
	if u := currentUser(r); u.Role == models.RoleAdmin {
		m.EditContacts = "/admin/partners/" + h.PartnerID + "/edit"
	}
	if h.State != models.WebhookDisabled {
		return m, nil
	}
	st, ok, err := s.db.FindWebhookMailStatus(r.Context(), h.ID, h.StateChangedAt)
	if err != nil || !ok {
		return m, err
	}
	m.Last = &views.MailStatusView{Kind: st.Kind, Queued: st.Queued, Sent: st.Sent, Failed: st.Failed,
		LastSentAt: st.LastSentAt, LastError: st.LastError, Recipients: st.Recipients}
	if currentUser(r).Role == models.RolePartner {
		m.Last.LastError = "" // it may name the mail server, which is none of a partner's business
	}
	return m, nil
}
