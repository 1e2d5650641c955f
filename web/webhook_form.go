package web

import (
	"context"
	"crypto/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"

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
		AllEventTypes: f.Get("event_types_mode") == "all", EventTypes: f["event_types"],
		AllCourses: f.Get("courses_mode") != "some",
	}
	in := models.WebhookInput{
		Name: &v.Name, URL: &v.URL, Description: &v.Description, Method: &v.Method,
		BasicAuthUser: &v.BasicAuthUser, AppendEventType: &v.AppendEventType, Format: &v.Format,
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
	hook, err := s.db.CreateWebhook(r.Context(), in, s.cfg.Targets.CheckURL)
	if errs := models.FieldErrors(err); errs != nil {
		p, perr := s.webhookFormProps(r.Context(), "", v, r.PostForm["courses"], errs)
		if perr != nil {
			s.error(w, r, perr)
			return
		}
		p.Token = r.PostForm.Get("token")
		s.page(w, r, http.StatusUnprocessableEntity, "New webhook", "webhooks", views.WebhookForm(p))
		return
	} else if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.created", "webhook", hook.ID, "Created webhook "+hook.Name,
		webhookAuditDetails(hook)); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", "Webhook '"+hook.Name+"' created. Reveal its signing secret below and give it to the partner.")
	http.Redirect(w, r, "/webhooks/"+hook.ID, http.StatusSeeOther)
}

// webhookAuditDetails is what the audit log keeps of a webhook: never its secrets.
func webhookAuditDetails(h *models.Webhook) map[string]any {
	return map[string]any{
		"partner_id": h.PartnerID, "name": h.Name, "url": h.URL, "method": h.Method, "format": h.Format,
		"append_event_type": h.AppendEventType, "batch_window_seconds": h.BatchWindowSeconds, "max_changes": h.MaxChanges,
		"all_event_types": h.AllEventTypes, "event_types": h.EventTypes, "all_courses": h.AllCourses, "courses": h.Courses,
		"basic_auth_user": h.BasicAuthUser, "description": h.Description,
	}
}

// changedFields lists what differs between two audit detail maps.
func changedFields(before, after map[string]any) map[string]any {
	out := map[string]any{}
	for k, a := range after {
		b := before[k]
		if !equalJSONish(a, b) {
			out[k] = map[string]any{"from": b, "to": a}
		}
	}
	return out
}

func equalJSONish(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok || bok {
		return strings.Join(as, "\x00") == strings.Join(bs, "\x00")
	}
	return a == b
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
	hook, err := s.db.UpdateWebhook(r.Context(), before.ID, in, s.cfg.Targets.CheckURL)
	if errs := models.FieldErrors(err); errs != nil {
		v.HasBasicAuthPassword = before.BasicAuthPasswordEnc != nil
		p, perr := s.webhookFormProps(r.Context(), before.ID, v, r.PostForm["courses"], errs)
		if perr != nil {
			s.error(w, r, perr)
			return
		}
		s.page(w, r, http.StatusUnprocessableEntity, "Edit "+before.Name, "webhooks", views.WebhookForm(p))
		return
	} else if err != nil {
		s.error(w, r, err)
		return
	}
	changes := changedFields(webhookAuditDetails(before), webhookAuditDetails(hook))
	if in.BasicAuthPassword != nil {
		changes["basic_auth_password"] = "changed"
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.updated", "webhook", hook.ID, "Changed webhook "+hook.Name, changes); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", "Saved.")
	http.Redirect(w, r, "/webhooks/"+hook.ID, http.StatusSeeOther)
}
