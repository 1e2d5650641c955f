package web

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func toMessageRowView(m *models.MessageRow) views.MessageRowView {
	return views.MessageRowView{ID: m.ID, WebhookID: m.WebhookID, WebhookName: m.WebhookName, Kind: m.Kind, State: m.State,
		EventTypes: m.EventTypes, ObjectIDs: m.ObjectIDs, Changes: m.ChangeCount, Attempts: m.AttemptCount,
		LastStatus: m.LastStatus, LastError: m.LastError, LastAttemptAt: m.LastAttemptAt, NextAttemptAt: m.NextAttemptAt, CreatedAt: m.CreatedAt, LastDurationMs: m.LastDurationMs}
}

// deliveryFilterOptions fills the choices of the log's webhook and partner filters with what
// the user may see: a partner's users choose among its webhooks only, and no partner.
func (s *Server) deliveryFilterOptions(r *http.Request, p *views.DeliveriesProps) error {
	scope, err := partnerScope(r)
	if err != nil {
		return err
	}
	hooks, _, err := s.db.FindWebhooks(r.Context(), models.WebhookFilter{PartnerID: scope, Limit: models.MaxPageSize})
	if err != nil {
		return err
	}
	seen := false
	for _, h := range hooks {
		p.Webhooks = append(p.Webhooks, views.Option{Value: h.ID, Label: h.Name})
		seen = seen || h.ID == p.Filter.WebhookID
	}
	if !seen && p.Filter.WebhookID != "" {
		p.Webhooks = append(p.Webhooks, views.Option{Value: p.Filter.WebhookID, Label: p.Webhook})
	}
	if scope != "" {
		return nil
	}
	partners, err := s.db.FindPartners(r.Context())
	if err != nil {
		return err
	}
	for _, pt := range partners {
		p.Partners = append(p.Partners, views.Option{Value: pt.ID, Label: pt.Name})
	}
	return nil
}

// partnerScope is the partner whose data alone the user may see, or "" for staff and admins.
// It fails closed: a partner user without a partner (which the database's CHECK should make
// impossible) gets errForbidden rather than the unscoped "" that would show everything.
func partnerScope(r *http.Request) (string, error) {
	u := currentUser(r)
	switch {
	case u == nil:
		return "", errForbidden
	case u.Role != models.RolePartner:
		return "", nil
	case u.PartnerID == nil || *u.PartnerID == "":
		return "", errForbidden
	}
	return *u.PartnerID, nil
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
	f := views.DeliveryFilter{WebhookID: textParam(q.Get("webhook_id")), PartnerID: textParam(q.Get("partner_id")), State: q.Get("state"), EventType: textParam(q.Get("event_type")),
		ObjectID: textParam(q.Get("object_id")), CourseID: textParam(q.Get("course_id")), From: textParam(q.Get("from")), To: textParam(q.Get("to")),
		Live: q.Get("live") == "1"}
	scope, err := partnerScope(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if scope != "" {
		f.PartnerID = "" // a partner's users see their own partner's log only
	}
	p := views.DeliveriesProps{Filter: f}
	mf := models.MessageFilter{WebhookID: f.WebhookID, PartnerID: cmp.Or(scope, f.PartnerID), EventType: f.EventType, ObjectID: f.ObjectID, CourseID: f.CourseID}
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
	if err := s.deliveryFilterOptions(r, &p); err != nil {
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
			Error: a.Error, Success: a.Success, NotSent: strings.HasPrefix(a.Error, models.NotSentPrefix)})
	}
	if n := len(attempts); n > 0 && m.State == models.MessageRetrying {
		last := attempts[n-1]
		if last.ResponseStatus != nil {
			var h http.Header
			_ = json.Unmarshal(last.ResponseHeaders, &h)
			if wait, ok := models.RetryAfter(*last.ResponseStatus, h, last.StartedAt.Add(time.Duration(last.DurationMs)*time.Millisecond)); ok {
				p.Delay = fmt.Sprintf("the receiver asked for %d s", int(wait.Round(time.Second).Seconds()))
			}
		}
	}
	if hold, ok, err := s.db.FindHold(r.Context(), m.ID); err != nil {
		s.error(w, r, err)
		return
	} else if ok {
		p.HeldBy, p.HeldFor = hold.MessageID, strings.TrimSpace(hold.Object+" "+hold.ObjectID)
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
	if _, err := s.db.ResendMessage(r.Context(), actor(r), m.ID); models.ErrorCode(err) == models.ECONFLICT {
		s.setFlash(w, r, "error", models.ErrorMessage(err))
		http.Redirect(w, r, "/messages/"+m.ID, http.StatusSeeOther)
		return
	} else if err != nil {
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

// resendFailedRange reads the from/to of a bulk resend; the action checks the range itself.
func resendFailedRange(fromS, toS string) (from, to *time.Time, err error) {
	var ve models.Error
	if from, err = parseTimeParam("From", fromS); err != nil {
		ve.Add("from", err.Error())
	}
	if to, err = parseTimeParam("To", toS); err != nil {
		ve.Add("to", err.Error())
	}
	return from, to, ve.Err()
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
		from, to, err := resendFailedRange(p.From, p.To)
		if err == nil {
			p.Count, err = s.db.CountFailedMessages(r.Context(), h.ID, from, to)
		}
		if errs := models.FieldErrors(err); errs != nil {
			p.Error, status = strings.Join(fieldMessages(errs), " "), http.StatusUnprocessableEntity
		} else if err != nil {
			s.error(w, r, err)
			return
		} else {
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
	p := views.ResendFailedProps{WebhookID: h.ID, WebhookName: h.Name, From: r.PostFormValue("from"), To: r.PostFormValue("to")}
	from, to, err := resendFailedRange(p.From, p.To)
	n := 0
	if err == nil {
		n, err = s.db.ResendFailedMessages(r.Context(), actor(r), h.ID, from, to)
	}
	if err != nil {
		s.formError(w, r, err, "Resend failed messages", "webhooks", func(errs map[string]string) (templ.Component, error) {
			p.Error = strings.Join(fieldMessages(errs), " ")
			return views.ResendFailed(p), nil
		})
		return
	}
	s.setFlash(w, r, "success", fmt.Sprintf("%d failed messages queued for one new attempt each.", n))
	http.Redirect(w, r, "/deliveries?webhook_id="+h.ID, http.StatusSeeOther)
}
