package web

import (
	"net/http"
	"strings"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func toEventRowView(e *models.Event) views.EventRowView {
	return views.EventRowView{ID: e.ID, Type: e.Type, Action: e.Action, ObjectID: deref(e.ObjectID), CourseID: deref(e.CourseID),
		OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt}
}

func (s *Server) eventList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := views.EventFilterView{Type: textParam(q.Get("type")), ObjectID: textParam(q.Get("object_id")), CourseID: textParam(q.Get("course_id")),
		From: textParam(q.Get("from")), To: textParam(q.Get("to"))}
	p := views.EventsProps{Filter: f}
	mf := models.EventFilter{Type: f.Type, ObjectID: f.ObjectID, CourseID: f.CourseID}
	var errs []string
	var err error
	if mf.From, err = parseTimeParam("From", f.From); err != nil {
		errs = append(errs, err.Error())
	}
	if mf.To, err = parseTimeParam("To", f.To); err != nil {
		errs = append(errs, err.Error())
	}
	p.FilterError = strings.Join(errs, " ")
	if c, ok := models.DecodeCursor(q.Get("cursor")); ok {
		mf.After, p.Paged = &c, true
	}
	if p.Types, err = s.eventTypeOptions(r); err != nil {
		s.error(w, r, err)
		return
	}
	status := http.StatusOK
	if p.FilterError != "" {
		status = http.StatusUnprocessableEntity
	} else {
		es, next, err := s.db.FindEvents(r.Context(), mf)
		if err != nil {
			s.error(w, r, err)
			return
		}
		for i := range es {
			p.Rows = append(p.Rows, toEventRowView(&es[i]))
		}
		if next != nil {
			p.Next = next.Encode()
		}
	}
	s.page(w, r, status, "Events", "events", views.Events(p))
}

func (s *Server) eventShow(w http.ResponseWriter, r *http.Request) {
	e, err := s.db.FindEventByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	ds, err := s.db.FindEventDeliveries(r.Context(), e.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p := views.EventPageProps{Event: toEventRowView(e), URL: deref(e.URL), Idempotency: deref(e.IdempotencyKey), Data: prettyBytes(e.Data)}
	for _, d := range ds {
		p.Deliveries = append(p.Deliveries, views.EventDeliveryView{WebhookID: d.WebhookID, WebhookName: d.WebhookName, State: d.State,
			MessageID: deref(d.MessageID), MessageState: deref(d.MessageState), SupersededBy: deref(d.SupersededBy)})
	}
	s.page(w, r, http.StatusOK, "Event "+e.ID, "events", views.EventPage(p))
}
