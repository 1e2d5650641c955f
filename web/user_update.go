package web

import (
	"crypto/rand"
	"fmt"
	"net/http"

	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) userSetDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if disabled && id == currentUser(r).ID {
			s.setFlash(w, r, "error", "You cannot disable your own account.")
			http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
			return
		}
		u, err := s.db.FindUserByID(r.Context(), id)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if err := s.db.SetUserDisabled(r.Context(), id, disabled); err != nil {
			s.error(w, r, err)
			return
		}
		action, verb := "user.enabled", "enabled"
		if disabled {
			action, verb = "user.disabled", "disabled"
		}
		if err := s.db.Audit(r.Context(), actor(r), action, "user", id, fmt.Sprintf("%s %s", verb, u.Email), nil); err != nil {
			s.error(w, r, err)
			return
		}
		s.setFlash(w, r, "success", fmt.Sprintf("User %s %s.", u.Email, verb))
		http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
	}
}

// userResetPassword gives a user a new random password, shown once to the admin.
func (s *Server) userResetPassword(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	password := rand.Text()
	u, err := s.db.SetUserPassword(r.Context(), id, password)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "user.password_reset", "user", id, "Reset password of "+u.Email, nil); err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "Password reset", "users", views.PasswordReset(u.Email, password))
}
