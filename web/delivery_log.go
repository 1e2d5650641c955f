package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func toMessageRowView(m *models.MessageRow) views.MessageRowView {
	return views.MessageRowView{ID: m.ID, WebhookID: m.WebhookID, WebhookName: m.WebhookName, Kind: m.Kind, State: m.State,
		EventTypes: m.EventTypes, ObjectIDs: m.ObjectIDs, Changes: m.ChangeCount, Attempts: m.AttemptCount,
		LastStatus: m.LastStatus, LastError: m.LastError, LastAttemptAt: m.LastAttemptAt, NextAttemptAt: m.NextAttemptAt, CreatedAt: m.CreatedAt}
}

// partnerScope is the partner whose data alone the user may see, or "" for staff and admins.
func partnerScope(r *http.Request) string {
	if u := currentUser(r); u != nil && u.Role == models.RolePartner && u.PartnerID != nil {
		return *u.PartnerID
	}
	return ""
}

func (s *Server) eventTypeOptions(r *http.Request) ([]views.Option, error) {
	ts, err := s.db.FindEventTypes(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]views.Option, 0, len(ts))
	for _, t := range ts {
		out = append(out, views.Option{Value: t.Name, Label: t.Name})
	}
	return out, nil
}

func (s *Server) deliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := views.DeliveryFilter{WebhookID: textParam(q.Get("webhook_id")), State: q.Get("state"), EventType: textParam(q.Get("event_type")),
		ObjectID: textParam(q.Get("object_id")), CourseID: textParam(q.Get("course_id")), From: textParam(q.Get("from")), To: textParam(q.Get("to")),
		Live: q.Get("live") == "1"}
	p := views.DeliveriesProps{Filter: f}
	mf := models.MessageFilter{WebhookID: f.WebhookID, PartnerID: partnerScope(r), EventType: f.EventType, ObjectID: f.ObjectID, CourseID: f.CourseID}
	switch f.State {
	case "", models.MessagePending, models.MessageDelivering, models.MessageSucceeded, models.MessageRetrying, models.MessageFailed:
		mf.State = f.State
	default:
		p.FilterError = "Choose a state from the list."
	}
	var errs []string
	from, err := parseTimeParam("From", f.From)
	if err != nil {
		errs = append(errs, err.Error())
	}
	to, err := parseTimeParam("To", f.To)
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		p.FilterError = strings.Join(errs, " ")
	}
	mf.From, mf.To = from, to
	if c, ok := models.DecodeCursor(q.Get("cursor")); ok {
		mf.After = &c
		p.Paged = true
	}
	if f.WebhookID != "" {
		h, err := s.findWebhook(r, f.WebhookID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		p.Webhook = h.Name
	}
	if p.EventTypes, err = s.eventTypeOptions(r); err != nil {
		s.error(w, r, err)
		return
	}
	if p.FilterError == "" {
		rows, next, err := s.db.FindMessages(r.Context(), mf)
		if err != nil {
			s.error(w, r, err)
			return
		}
		for i := range rows {
			p.Rows = append(p.Rows, toMessageRowView(&rows[i]))
		}
		if next != nil {
			p.Next = next.Encode()
		}
	}
	status := http.StatusOK
	if p.FilterError != "" {
		status = http.StatusUnprocessableEntity
	}
	if isHTMX(r) && r.Header.Get("HX-Target") == "delivery-rows" {
		s.fragment(w, r, status, views.DeliveryRows(p))
		return
	}
	s.page(w, r, status, "Deliveries", "deliveries", views.Deliveries(p))
}

// findMessage loads a message the user may see, with its webhook.
func (s *Server) findMessage(r *http.Request, id string) (*models.Message, *models.Webhook, error) {
	m, err := s.db.FindMessageByID(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	h, err := s.findWebhook(r, m.WebhookID)
	if err != nil {
		return nil, nil, err
	}
	return m, h, nil
}

// prettyBytes indents JSON for reading, keeping its keys in the order they were sent.
func prettyBytes(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

func headerList(raw json.RawMessage) []views.Header {
	var m map[string][]string
	_ = json.Unmarshal(raw, &m)
	out := make([]views.Header, 0, len(m))
	for k, vs := range m {
		for _, v := range vs {
			out = append(out, views.Header{Name: k, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) messageShow(w http.ResponseWriter, r *http.Request) {
	m, h, err := s.findMessage(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	attempts, err := s.db.FindAttempts(r.Context(), m.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	carried, superseded, err := s.db.FindMessageChanges(r.Context(), m.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	u := currentUser(r)
	p := views.MessagePageProps{
		Message: toMessageRowView(&models.MessageRow{Message: *m, WebhookName: h.Name}),
		Payload: prettyBytes(m.Payload), CanResend: u.Role == models.RoleAdmin, CanSeeEvents: u.Role != models.RolePartner,
	}
	for _, a := range attempts {
		p.Attempts = append(p.Attempts, views.AttemptView{At: a.StartedAt, Trigger: a.Trigger, URL: a.URL, Method: a.Method,
			Status: a.ResponseStatus, DurationMs: a.DurationMs, RequestHeaders: headerList(a.RequestHeaders),
			ResponseHeaders: headerList(a.ResponseHeaders), ResponseBody: string(a.ResponseBody), Truncated: a.ResponseTruncated,
			Error: a.Error, Success: a.Success})
	}
	for _, c := range carried {
		p.Changes = append(p.Changes, views.ChangeView{EventID: c.EventID, Type: c.Type, ObjectID: deref(c.ObjectID), OccurredAt: c.OccurredAt})
	}
	for _, c := range superseded {
		p.Superseded = append(p.Superseded, views.ChangeView{EventID: c.EventID, Type: c.Type, ObjectID: deref(c.ObjectID), OccurredAt: c.OccurredAt, SupersededBy: deref(c.SupersededBy)})
	}
	s.page(w, r, http.StatusOK, "Message "+m.ID, "deliveries", views.MessagePage(p))
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Server) messageResend(w http.ResponseWriter, r *http.Request) {
	m, h, err := s.findMessage(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.RequestResend(r.Context(), m.ID, s.now()); errors.Is(err, models.ErrConflict) {
		s.setFlash(w, r, "error", "This message is being delivered right now; try again in a moment.")
		http.Redirect(w, r, "/messages/"+m.ID, http.StatusSeeOther)
		return
	} else if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "message.resent", "message", m.ID, "Resent message "+m.ID+" to "+h.Name, nil); err != nil {
		s.error(w, r, err)
		return
	}
	msg := "Resend queued: one new attempt goes out now with the same body and webhook-id."
	if h.State != models.WebhookActive {
		msg = "Resend queued; it goes out when the webhook is active again."
	}
	s.setFlash(w, r, "success", msg)
	http.Redirect(w, r, "/messages/"+m.ID, http.StatusSeeOther)
}

// resendFailedRange reads and checks the from/to of a bulk resend.
func resendFailedRange(fromS, toS string) (from, to time.Time, err error) {
	f, err := parseTimeParam("From", fromS)
	if err != nil {
		return from, to, err
	}
	t, err := parseTimeParam("To", toS)
	if err != nil {
		return from, to, err
	}
	if f == nil || t == nil {
		return from, to, errors.New("Give both a start and an end.")
	}
	if !f.Before(*t) {
		return from, to, errors.New("The start must come before the end.")
	}
	return *f, *t, nil
}

func (s *Server) resendFailedForm(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	q := r.URL.Query()
	p := views.ResendFailedProps{WebhookID: h.ID, WebhookName: h.Name, From: textParam(q.Get("from")), To: textParam(q.Get("to"))}
	status := http.StatusOK
	if p.From != "" || p.To != "" {
		if from, to, err := resendFailedRange(p.From, p.To); err != nil {
			p.Error, status = err.Error(), http.StatusUnprocessableEntity
		} else {
			if p.Count, err = s.db.CountFailedMessages(r.Context(), h.ID, from, to); err != nil {
				s.error(w, r, err)
				return
			}
			p.Previewed = true
		}
	}
	s.page(w, r, status, "Resend failed messages", "webhooks", views.ResendFailed(p))
}

func (s *Server) resendFailed(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	fromS, toS := r.PostFormValue("from"), r.PostFormValue("to")
	from, to, err := resendFailedRange(fromS, toS)
	if err != nil {
		s.page(w, r, http.StatusUnprocessableEntity, "Resend failed messages", "webhooks",
			views.ResendFailed(views.ResendFailedProps{WebhookID: h.ID, WebhookName: h.Name, From: fromS, To: toS, Error: err.Error()}))
		return
	}
	n, err := s.db.ResendFailedMessages(r.Context(), h.ID, from, to, s.now())
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.resent_failed", "webhook", h.ID,
		fmt.Sprintf("Resent %d failed messages of %s made between %s and %s", n, h.Name, from.Format("2006-01-02 15:04"), to.Format("2006-01-02 15:04")),
		map[string]any{"count": n, "from": from, "to": to}); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", fmt.Sprintf("%d failed messages queued for one new attempt each.", n))
	http.Redirect(w, r, "/deliveries?webhook_id="+h.ID, http.StatusSeeOther)
}
