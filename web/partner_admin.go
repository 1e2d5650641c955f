package web

import (
	"net/http"
	"sort"
	"strings"

	"github.com/a-h/templ"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) partnerList(w http.ResponseWriter, r *http.Request) {
	ps, err := s.db.FindPartners(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	counts, err := s.db.CountPartnerChildren(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	rows := make([]views.PartnerRow, 0, len(ps))
	for _, p := range ps {
		c := counts[p.ID]
		rows = append(rows, views.PartnerRow{ID: p.ID, Name: p.Name, Description: p.Description, Webhooks: c.Webhooks, Users: c.Users})
	}
	s.page(w, r, http.StatusOK, "Partners", "partners", views.PartnerList(rows))
}

func (s *Server) partnerNew(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, "New partner", "partners", views.PartnerForm(views.PartnerFormProps{}))
}

// partnerFormInput reads the partner form. Contacts come one per line (commas also separate
// them, as people paste lists); blank lines are ignored.
func partnerFormInput(r *http.Request) (models.PartnerInput, views.PartnerFormProps) {
	v := views.PartnerFormProps{Name: r.PostFormValue("name"), Description: r.PostFormValue("description"),
		ContactEmails: r.PostFormValue("contact_emails")}
	emails := []string{}
	for _, line := range strings.FieldsFunc(v.ContactEmails, func(r rune) bool { return r == '\n' || r == ',' || r == ';' }) {
		if line = strings.TrimSpace(line); line != "" {
			emails = append(emails, line)
		}
	}
	return models.PartnerInput{Name: &v.Name, Description: &v.Description, ContactEmails: &emails}, v
}

// partnerFormErrors shows the messages about single addresses (contact_emails[2]) under the
// one contacts box: each message names its address.
func partnerFormErrors(errs map[string]string) map[string]string {
	out := map[string]string{}
	var contacts []string
	for k, msg := range errs {
		if strings.HasPrefix(k, "contact_emails[") {
			contacts = append(contacts, msg)
			continue
		}
		out[k] = msg
	}
	if len(contacts) > 0 {
		sort.Strings(contacts)
		if msg, ok := out["contact_emails"]; ok {
			contacts = append([]string{msg}, contacts...)
		}
		out["contact_emails"] = strings.Join(contacts, " ")
	}
	return out
}

func (s *Server) partnerCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	in, v := partnerFormInput(r)
	p, err := s.db.CreatePartner(r.Context(), actor(r), in)
	if err != nil {
		s.formError(w, r, err, "New partner", "partners", func(errs map[string]string) (templ.Component, error) {
			v.Errors = partnerFormErrors(errs)
			return views.PartnerForm(v), nil
		})
		return
	}
	s.setFlash(w, r, "success", "Partner '"+p.Name+"' created.")
	http.Redirect(w, r, "/admin/partners/"+p.ID, http.StatusSeeOther)
}

func (s *Server) partnerShow(w http.ResponseWriter, r *http.Request) {
	p, err := s.db.FindPartnerByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	hooks, _, err := s.db.FindWebhooks(r.Context(), models.WebhookFilter{PartnerID: p.ID, Limit: models.MaxPageSize})
	if err != nil {
		s.error(w, r, err)
		return
	}
	users, err := s.db.FindUsersByPartner(r.Context(), p.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	props := views.PartnerPageProps{ID: p.ID, Name: p.Name, Description: p.Description, ContactEmails: p.ContactEmails, MailOn: s.cfg.MailOn}
	for _, h := range hooks {
		props.Webhooks = append(props.Webhooks, views.WebhookRow{ID: h.ID, Name: h.Name, URL: h.URL, State: h.State,
			AllEventTypes: h.AllEventTypes, EventTypes: len(h.EventTypes), AllCourses: h.AllCourses, Courses: len(h.Courses)})
	}
	for _, u := range users {
		props.Users = append(props.Users, views.UserRow{ID: u.ID, Email: u.Email, Name: u.Name, Disabled: u.Disabled()})
	}
	s.page(w, r, http.StatusOK, p.Name, "partners", views.PartnerPage(props))
}

func (s *Server) partnerEdit(w http.ResponseWriter, r *http.Request) {
	p, err := s.db.FindPartnerByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "Edit "+p.Name, "partners", views.PartnerForm(views.PartnerFormProps{ID: p.ID, Name: p.Name, Description: p.Description,
		ContactEmails: strings.Join(p.ContactEmails, "\n")}))
}

func (s *Server) partnerUpdate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	before, err := s.db.FindPartnerByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	in, v := partnerFormInput(r)
	p, err := s.db.UpdatePartner(r.Context(), actor(r), before.ID, in)
	if err != nil {
		s.formError(w, r, err, "Edit "+before.Name, "partners", func(errs map[string]string) (templ.Component, error) {
			v.ID, v.Errors = before.ID, partnerFormErrors(errs)
			return views.PartnerForm(v), nil
		})
		return
	}
	s.setFlash(w, r, "success", "Saved.")
	http.Redirect(w, r, "/admin/partners/"+p.ID, http.StatusSeeOther)
}

func (s *Server) partnerDelete(w http.ResponseWriter, r *http.Request) {
	p, err := s.db.FindPartnerByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.DeletePartner(r.Context(), actor(r), p.ID); models.ErrorCode(err) == models.ECONFLICT {
		s.setFlash(w, r, "error", "Cannot delete '"+p.Name+"': "+models.ErrorMessage(err)+".")
		http.Redirect(w, r, "/admin/partners/"+p.ID, http.StatusSeeOther)
		return
	} else if err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", "Partner '"+p.Name+"' deleted.")
	http.Redirect(w, r, "/admin/partners", http.StatusSeeOther)
}
