package web

import (
	"fmt"
	"net/http"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) userSetDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.db.SetUserDisabled(r.Context(), actor(r), r.PathValue("id"), disabled)
		if models.ErrorCode(err) == models.ECONFLICT {
			s.setFlash(w, r, "error", models.ErrorMessage(err))
			http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
			return
		} else if err != nil {
			s.error(w, r, err)
			return
		}
		verb := "enabled"
		if disabled {
			verb = "disabled"
		}
		s.setFlash(w, r, "success", fmt.Sprintf("User %s %s.", u.Email, verb))
		http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
	}
}

// userResetPassword gives a user a new random password, shown once to the admin.
func (s *Server) userResetPassword(w http.ResponseWriter, r *http.Request) {
	u, password, err := s.db.ResetUserPassword(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "Password reset", "users", views.PasswordReset(u.Email, password))
}
