package web

import (
	"fmt"
	"net/http"

	"github.com/a-h/templ"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) apiKeyCreate(w http.ResponseWriter, r *http.Request) {
	name, scope := r.PostFormValue("name"), r.PostFormValue("scope")
	k, plain, err := s.db.CreateAPIKey(r.Context(), actor(r), name, scope)
	if err != nil {
		s.formError(w, r, err, "API keys", "api-keys", func(errs map[string]string) (templ.Component, error) {
			p, err := s.apiKeyListProps(r)
			p.Name, p.Scope, p.Errors = name, scope, errs
			return views.APIKeys(p), err
		})
		return
	}
	// Shown once on the page this redirects to, so that a reload neither mints a second key
	// nor shows this one again. (No input holds a NUL, so it can join the two.)
	if err := s.keepOnce(w, r, "api-key", k.Name+"\x00"+plain); err != nil {
		s.error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/api-keys", http.StatusSeeOther)
}

func (s *Server) apiKeyRevoke(w http.ResponseWriter, r *http.Request) {
	k, err := s.db.RevokeAPIKey(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", fmt.Sprintf("Key %q revoked. Calls with it now get 401.", k.Name))
	http.Redirect(w, r, "/admin/api-keys", http.StatusSeeOther)
}
