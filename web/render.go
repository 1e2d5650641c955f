package web

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/a-h/templ"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// isHTMX reports whether the request came from htmx and wants only a fragment.
func isHTMX(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-History-Restore-Request") != "true"
}

func viewUser(u *models.User) *views.CurrentUser {
	if u == nil {
		return nil
	}
	cu := &views.CurrentUser{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role}
	if u.Partner != nil {
		cu.PartnerName = u.Partner.Name
	}
	return cu
}

// page renders body inside the layout with status.
func (s *Server) page(w http.ResponseWriter, r *http.Request, status int, title, active string, body templ.Component) {
	p := views.Page{Title: title, Active: active, User: viewUser(currentUser(r)), Flash: s.takeFlash(w, r)}
	s.render(w, r, status, templ.ComponentFunc(func(ctx context.Context, w2 io.Writer) error {
		return views.Layout(p).Render(templ.WithChildren(ctx, body), w2)
	}))
}

// fragment renders a part of a page, for htmx.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	s.render(w, r, status, c)
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error("rendering page", "path", r.URL.Path, "err", err)
	}
}

// redirect sends the browser to url after a form post; htmx gets told to do a full navigation.
func redirect(w http.ResponseWriter, r *http.Request, url string) {
	if isHTMX(r) {
		w.Header().Set("HX-Redirect", url)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}
