package web

import (
	"net/http"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusOK, "Change password", "password", views.PasswordForm(nil))
}

func (s *Server) passwordChange(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	u := currentUser(r)
	current, next, confirm := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm")
	var ve models.ValidationError
	if !u.CheckPassword(current) {
		ve.Add("current", "This is not your current password.")
	}
	models.ValidatePassword(&ve, "new", next)
	if next != confirm {
		ve.Add("confirm", "The two new passwords differ.")
	}
	if ve.Err() != nil {
		s.page(w, r, http.StatusUnprocessableEntity, "Change password", "password", views.PasswordForm(ve.Fields))
		return
	}
	updated, err := s.db.SetUserPassword(r.Context(), u.ID, next)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "user.password_changed", "user", u.ID, "Changed own password", nil); err != nil {
		s.error(w, r, err)
		return
	}
	// The password change ended every session of this user; keep this one.
	if err := s.startSession(w, r, updated); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", "Password changed. Your other sessions were signed out.")
	http.Redirect(w, r, "/account/password", http.StatusSeeOther)
}
