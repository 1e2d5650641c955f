package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/a-h/templ"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) userFormProps(r *http.Request, in views.UserFormValues, errs map[string]string) (views.UserFormProps, error) {
	partners, err := s.db.FindPartners(r.Context())
	if err != nil {
		return views.UserFormProps{}, err
	}
	p := views.UserFormProps{Values: in, Errors: errs}
	for _, pt := range partners {
		p.Partners = append(p.Partners, views.Option{Value: pt.ID, Label: pt.Name})
	}
	return p, nil
}

func (s *Server) userNew(w http.ResponseWriter, r *http.Request) {
	in := views.UserFormValues{Role: models.RoleStaff}
	// From a partner's page: a user of that partner.
	if id := r.URL.Query().Get("partner_id"); id != "" {
		if _, err := s.db.FindPartnerByID(r.Context(), id); err == nil {
			in.Role, in.PartnerID = models.RolePartner, id
		} else if !errors.Is(err, models.ErrNotFound) {
			s.error(w, r, err)
			return
		}
	}
	p, err := s.userFormProps(r, in, nil)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "New user", "users", views.UserForm(p))
}

func (s *Server) userCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	in := views.UserFormValues{
		Email: r.PostFormValue("email"), Name: r.PostFormValue("name"),
		Role: r.PostFormValue("role"), PartnerID: r.PostFormValue("partner_id"),
	}
	partnerID := in.PartnerID
	if in.Role != models.RolePartner {
		partnerID = ""
	}
	u, err := s.db.CreateUser(r.Context(), actor(r), models.NewUser{Email: in.Email, Name: in.Name, Role: in.Role,
		PartnerID: partnerID, Password: r.PostFormValue("password")})
	if err != nil {
		s.formError(w, r, err, "New user", "users", func(errs map[string]string) (templ.Component, error) {
			p, err := s.userFormProps(r, in, errs)
			return views.UserForm(p), err
		})
		return
	}
	s.setFlash(w, r, "success", fmt.Sprintf("User %s created. Give them their password through a safe channel.", u.Email))
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}
