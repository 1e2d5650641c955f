package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) eventTypeList(w http.ResponseWriter, r *http.Request) {
	ts, err := s.db.FindEventTypes(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	counts, err := s.db.CountEventTypeWebhooks(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	rows := make([]views.EventTypeRow, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, views.EventTypeRow{Name: t.Name, Description: t.Description, Replacement: t.Replacement, Deprecated: t.Deprecated(), Webhooks: counts[t.Name]})
	}
	s.page(w, r, http.StatusOK, "Event types", "event-types", views.EventTypeList(rows))
}

func (s *Server) eventTypeNew(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, "New event type", "event-types", views.EventTypeForm(views.EventTypeFormProps{IsNew: true, Sample: "{\n  \n}"}))
}

func (s *Server) eventTypeCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 128<<10)
	in := models.EventTypeInput{Name: r.PostFormValue("name"), Description: r.PostFormValue("description"), Sample: r.PostFormValue("sample"),
		Replacement: r.PostFormValue("replacement")}
	t, err := s.db.CreateEventType(r.Context(), actor(r), in)
	if err != nil {
		s.formError(w, r, err, "New event type", "event-types", func(errs map[string]string) (templ.Component, error) {
			return views.EventTypeForm(views.EventTypeFormProps{IsNew: true, Name: in.Name, Description: in.Description, Sample: in.Sample,
				Replacement: in.Replacement, Errors: errs}), nil
		})
		return
	}
	s.setFlash(w, r, "success", "Event type "+t.Name+" added.")
	http.Redirect(w, r, "/admin/event-types", http.StatusSeeOther)
}

func (s *Server) eventTypeEdit(w http.ResponseWriter, r *http.Request) {
	t, err := s.db.FindEventTypeByName(r.Context(), r.PathValue("name"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, t.Name, "event-types",
		views.EventTypeForm(views.EventTypeFormProps{Name: t.Name, Description: t.Description, Sample: prettyBytes(t.Sample), Replacement: t.Replacement}))
}

func (s *Server) eventTypeUpdate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 128<<10)
	name := r.PathValue("name")
	in := models.EventTypeInput{Description: r.PostFormValue("description"), Sample: r.PostFormValue("sample"), Replacement: r.PostFormValue("replacement")}
	if _, err := s.db.UpdateEventType(r.Context(), actor(r), name, in); err != nil {
		s.formError(w, r, err, name, "event-types", func(errs map[string]string) (templ.Component, error) {
			return views.EventTypeForm(views.EventTypeFormProps{Name: name, Description: in.Description, Sample: in.Sample,
				Replacement: in.Replacement, Errors: errs}), nil
		})
		return
	}
	s.setFlash(w, r, "success", "Saved.")
	http.Redirect(w, r, "/admin/event-types", http.StatusSeeOther)
}

func (s *Server) eventTypeDeprecate(deprecated bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := s.db.SetEventTypeDeprecated(r.Context(), actor(r), name, deprecated); err != nil {
			s.error(w, r, err)
			return
		}
		msg := name + " is offered for webhooks again."
		if deprecated {
			msg = name + " is deprecated: webhooks that have it keep it; no one can choose it any more."
		}
		s.setFlash(w, r, "success", msg)
		http.Redirect(w, r, "/admin/event-types", http.StatusSeeOther)
	}
}

func (s *Server) courseListProps(r *http.Request) (views.CourseListProps, error) {
	q := r.URL.Query()
	p := views.CourseListProps{Q: textParam(q.Get("q")), Archived: q.Get("archived") == "1"}
	cs, next, err := s.db.FindCourses(r.Context(), models.CourseFilter{Search: p.Q, IncludeArchived: p.Archived, After: q.Get("after")})
	if err != nil {
		return p, err
	}
	p.Next = next
	for _, c := range cs {
		p.Rows = append(p.Rows, views.CourseRow{ID: c.ID, Title: c.Title, Archived: c.ArchivedAt != nil, UpdatedAt: c.UpdatedAt})
	}
	return p, nil
}

func (s *Server) courseList(w http.ResponseWriter, r *http.Request) {
	p, err := s.courseListProps(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "Courses", "courses", views.CourseList(p))
}

func (s *Server) courseCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	id, title := r.PostFormValue("id"), r.PostFormValue("title")
	c, err := s.db.CreateCourse(r.Context(), actor(r), id, title)
	if err != nil {
		s.formError(w, r, err, "Courses", "courses", func(errs map[string]string) (templ.Component, error) {
			p, err := s.courseListProps(r)
			p.NewID, p.NewTitle, p.Errors = id, title, errs
			return views.CourseList(p), err
		})
		return
	}
	s.setFlash(w, r, "success", fmt.Sprintf("Course %q added.", c.Title))
	http.Redirect(w, r, "/admin/courses", http.StatusSeeOther)
}

func (s *Server) courseEdit(w http.ResponseWriter, r *http.Request) {
	c, err := s.db.FindCourseByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "Edit course", "courses", views.CourseEdit(c.ID, c.Title, nil))
}

func (s *Server) courseUpdate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	id, title := r.PathValue("id"), r.PostFormValue("title")
	if _, err := s.db.UpdateCourse(r.Context(), actor(r), id, title); err != nil {
		s.formError(w, r, err, "Edit course", "courses", func(errs map[string]string) (templ.Component, error) {
			return views.CourseEdit(id, title, errs), nil
		})
		return
	}
	s.setFlash(w, r, "success", "Saved.")
	http.Redirect(w, r, "/admin/courses", http.StatusSeeOther)
}

func (s *Server) courseArchive(w http.ResponseWriter, r *http.Request) {
	c, err := s.db.ArchiveCourse(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", fmt.Sprintf("Course %q archived.", c.Title))
	http.Redirect(w, r, "/admin/courses", http.StatusSeeOther)
}

func (s *Server) auditList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := views.AuditFilter{ObjectType: q.Get("object_type"), ObjectID: strings.TrimSpace(q.Get("object_id")), Actor: strings.TrimSpace(q.Get("actor"))}
	es, err := s.db.FindAuditEntries(r.Context(), models.AuditFilter{ObjectType: f.ObjectType, ObjectID: f.ObjectID, ActorEmail: f.Actor, Limit: 200})
	if err != nil {
		s.error(w, r, err)
		return
	}
	rows := make([]views.AuditRow, 0, len(es))
	for _, e := range es {
		rows = append(rows, auditRow(e))
	}
	s.page(w, r, http.StatusOK, "Audit log", "audit", views.AuditList(rows, f))
}
