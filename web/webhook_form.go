package web

import (
	"context"
	"crypto/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// webhookInput reads the webhook form into the model's input and, to show it again on error,
// the form's values.
func webhookInput(r *http.Request, isNew bool) (models.WebhookInput, views.WebhookFormValues) {
	f := r.PostForm
	v := views.WebhookFormValues{
		PartnerID: f.Get("partner_id"), Name: f.Get("name"), URL: f.Get("url"), Description: f.Get("description"),
		Secret: f.Get("secret"), Method: f.Get("method"), BasicAuthUser: f.Get("basic_auth_user"),
		AppendEventType: f.Get("append_event_type") == "on", Format: f.Get("format"),
		BatchWindow: f.Get("batch_window_seconds"), MaxChanges: f.Get("max_changes"),
		MaxInFlight: f.Get("max_in_flight"), Ordered: f.Get("ordered") == "on",
		AllEventTypes: f.Get("event_types_mode") == "all", EventTypes: f["event_types"],
		AllCourses: f.Get("courses_mode") != "some",
	}
	in := models.WebhookInput{
		Name: &v.Name, URL: &v.URL, Description: &v.Description, Method: &v.Method,
		BasicAuthUser: &v.BasicAuthUser, AppendEventType: &v.AppendEventType, Format: &v.Format, Ordered: &v.Ordered,
	}
	if isNew {
		in.PartnerID, in.Secret = &v.PartnerID, &v.Secret
		in.CreateToken = f.Get("token")
	}
	if p := f.Get("basic_auth_password"); p != "" {
		in.BasicAuthPassword = &p
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v.BatchWindow)); err == nil {
		in.BatchWindow = &n
	} else if strings.TrimSpace(v.BatchWindow) != "" {
		bad := -1
		in.BatchWindow = &bad
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v.MaxChanges)); err == nil {
		in.MaxChanges = &n
	} else if strings.TrimSpace(v.MaxChanges) != "" {
		bad := -1
		in.MaxChanges = &bad
	}
	// Empty: the instance's default.
	if n, err := strconv.Atoi(strings.TrimSpace(v.MaxInFlight)); err == nil {
		in.MaxInFlight = &n
	} else if strings.TrimSpace(v.MaxInFlight) != "" {
		bad := -1
		in.MaxInFlight = &bad
	} else {
		in.DefaultMaxInFlight = true
	}
	if v.AllEventTypes {
		in.EventTypes = []string{"*"}
	} else {
		in.EventTypes = append([]string{}, v.EventTypes...)
	}
	if v.AllCourses {
		in.Courses = []string{"*"}
	} else {
		in.Courses = append([]string{}, f["courses"]...)
	}
	return in, v
}

// webhookFormProps fills the form's choices: partners and the event-type catalogue grouped by
// object; and the titles of the chosen courses.
func (s *Server) webhookFormProps(ctx context.Context, id string, v views.WebhookFormValues, courseIDs []string, errs map[string]string) (views.WebhookFormProps, error) {
	p := views.WebhookFormProps{ID: id, Values: v, Errors: errs}
	partners, err := s.db.FindPartners(ctx)
	if err != nil {
		return p, err
	}
	for _, pt := range partners {
		p.Partners = append(p.Partners, views.Option{Value: pt.ID, Label: pt.Name})
	}
	types, err := s.db.FindEventTypes(ctx)
	if err != nil {
		return p, err
	}
	p.Groups = groupEventTypes(types)
	cs, err := s.db.FindCoursesByIDs(ctx, courseIDs)
	if err != nil {
		return p, err
	}
	found := map[string]string{}
	for _, c := range cs {
		found[c.ID] = c.Title
	}
	p.Values.Courses = nil
	for _, id := range courseIDs {
		title, ok := found[id]
		if !ok {
			title = "(unknown course)"
		}
		p.Values.Courses = append(p.Values.Courses, views.CourseChip{ID: id, Title: title})
	}
	return p, nil
}

func groupEventTypes(types []models.EventType) []views.EventTypeGroup {
	byObject := map[string][]views.EventTypeOption{}
	for _, t := range types {
		obj := t.Name
		if i := strings.LastIndex(t.Name, "."); i > 0 {
			obj = t.Name[:i]
		}
		byObject[obj] = append(byObject[obj], views.EventTypeOption{Name: t.Name, Description: t.Description, Deprecated: t.Deprecated()})
	}
	groups := make([]views.EventTypeGroup, 0, len(byObject))
	for obj, ts := range byObject {
		groups = append(groups, views.EventTypeGroup{Object: obj, Types: ts})
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Object < groups[j].Object })
	return groups
}

func newFormToken() string { return rand.Text() }

func (s *Server) webhookNew(w http.ResponseWriter, r *http.Request) {
	v := views.WebhookFormValues{Method: "POST", Format: models.FormatBatch, AllCourses: true,
		BatchWindow: strconv.Itoa(models.DefaultBatchWindow), MaxChanges: strconv.Itoa(models.DefaultMaxChanges),
		PartnerID: r.URL.Query().Get("partner_id")}
	p, err := s.webhookFormProps(r.Context(), "", v, nil, nil)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Token = newFormToken()
	s.page(w, r, http.StatusOK, "New webhook", "webhooks", views.WebhookForm(p))
}

func (s *Server) webhookCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		s.error(w, r, err)
		return
	}
	in, v := webhookInput(r, true)
	hook, err := s.db.CreateWebhook(r.Context(), actor(r), in, s.cfg.Targets.CheckURL)
	if err != nil {
		s.formError(w, r, err, "New webhook", "webhooks", func(errs map[string]string) (templ.Component, error) {
			p, err := s.webhookFormProps(r.Context(), "", v, r.PostForm["courses"], errs)
			p.Token = r.PostForm.Get("token")
			return views.WebhookForm(p), err
		})
		return
	}
	s.setFlash(w, r, "success", "Webhook '"+hook.Name+"' created. Reveal its signing secret below and give it to the partner.")
	http.Redirect(w, r, "/webhooks/"+hook.ID, http.StatusSeeOther)
}

func (s *Server) webhookEdit(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	v := views.WebhookFormValues{PartnerID: h.PartnerID, Name: h.Name, URL: h.URL, Description: h.Description, Method: h.Method,
		BasicAuthUser: h.BasicAuthUser, HasBasicAuthPassword: h.BasicAuthPasswordEnc != nil, AppendEventType: h.AppendEventType,
		Format: h.Format, BatchWindow: strconv.Itoa(h.BatchWindowSeconds), MaxChanges: strconv.Itoa(h.MaxChanges),
		MaxInFlight: maxInFlightValue(h.MaxInFlight), Ordered: h.Ordered,
		AllEventTypes: h.AllEventTypes, EventTypes: h.EventTypes, AllCourses: h.AllCourses}
	p, err := s.webhookFormProps(r.Context(), h.ID, v, h.Courses, nil)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "Edit "+h.Name, "webhooks", views.WebhookForm(p))
}

func (s *Server) webhookUpdate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		s.error(w, r, err)
		return
	}
	before, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	in, v := webhookInput(r, false)
	hook, err := s.db.UpdateWebhook(r.Context(), actor(r), before.ID, in, s.cfg.Targets.CheckURL)
	if err != nil {
		s.formError(w, r, err, "Edit "+before.Name, "webhooks", func(errs map[string]string) (templ.Component, error) {
			v.HasBasicAuthPassword = before.BasicAuthPasswordEnc != nil
			p, err := s.webhookFormProps(r.Context(), before.ID, v, r.PostForm["courses"], errs)
			return views.WebhookForm(p), err
		})
		return
	}
	s.setFlash(w, r, "success", "Saved.")
	http.Redirect(w, r, "/webhooks/"+hook.ID, http.StatusSeeOther)
}

func maxInFlightValue(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}
