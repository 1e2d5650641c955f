package web

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, "Change password", "password", views.PasswordForm(nil, currentUser(r).MustChangePassword))
}

func (s *Server) passwordChange(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	u := currentUser(r)
	c := models.PasswordChange{Current: r.PostFormValue("current"), New: r.PostFormValue("new"), Confirm: r.PostFormValue("confirm")}
	updated, err := s.db.ChangePassword(r.Context(), u, c)
	if err != nil {
		s.formError(w, r, err, "Change password", "password", func(errs map[string]string) (templ.Component, error) {
			return views.PasswordForm(errs, u.MustChangePassword), nil
		})
		return
	}
	// The password change ended every session of this user; keep this one.
	if err := s.startSession(w, r, updated); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", "Password changed. Your other sessions were signed out.")
	if u.MustChangePassword {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account/password", http.StatusSeeOther)
}
