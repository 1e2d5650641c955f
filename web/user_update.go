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

func (s *Server) userEditProps(r *http.Request, u *models.User, in views.UserFormValues, errs map[string]string) (views.UserEditProps, error) {
	fp, err := s.userFormProps(r, in, errs)
	if err != nil {
		return views.UserEditProps{}, err
	}
	return views.UserEditProps{ID: u.ID, Email: u.Email, Values: in, Errors: errs, Partners: fp.Partners, Self: u.ID == currentUser(r).ID}, nil
}

func (s *Server) userEdit(w http.ResponseWriter, r *http.Request) {
	u, err := s.db.FindUserByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	in := views.UserFormValues{Email: u.Email, Name: u.Name, Role: u.Role}
	if u.PartnerID != nil {
		in.PartnerID = *u.PartnerID
	}
	p, err := s.userEditProps(r, u, in, nil)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "Edit user", "users", views.UserEditForm(p))
}

func (s *Server) userUpdate(w http.ResponseWriter, r *http.Request) {
	in := views.UserFormValues{Name: r.PostFormValue("name"), Role: r.PostFormValue("role"), PartnerID: r.PostFormValue("partner_id")}
	u, err := s.db.UpdateUser(r.Context(), actor(r), r.PathValue("id"), models.UserChange{Name: in.Name, Role: in.Role, PartnerID: in.PartnerID})
	if errs := models.FieldErrors(err); errs != nil {
		cur, ferr := s.db.FindUserByID(r.Context(), r.PathValue("id"))
		if ferr != nil {
			s.error(w, r, ferr)
			return
		}
		p, perr := s.userEditProps(r, cur, in, errs)
		if perr != nil {
			s.error(w, r, perr)
			return
		}
		s.page(w, r, http.StatusUnprocessableEntity, "Edit user", "users", views.UserEditForm(p))
		return
	} else if err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", fmt.Sprintf("User %s saved.", u.Email))
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}
