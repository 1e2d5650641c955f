package web

import (
	"net/http"

	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) userList(w http.ResponseWriter, r *http.Request) {
	users, err := s.db.FindUsers(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	rows := make([]views.UserRow, 0, len(users))
	for _, u := range users {
		row := views.UserRow{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, LastSignIn: u.LastSignInAt,
			Disabled: u.Disabled(), Self: u.ID == currentUser(r).ID}
		if u.Partner != nil {
			row.Partner = u.Partner.Name
		}
		rows = append(rows, row)
	}
	s.page(w, r, http.StatusOK, "Users", "users", views.UserList(rows))
}
