package web

import (
	"fmt"
	"net/http"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) apiKeyCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	name, scope := r.PostFormValue("name"), r.PostFormValue("scope")
	u := currentUser(r)
	k, plain, err := s.db.CreateAPIKey(r.Context(), name, scope, &u.ID)
	if errs := models.FieldErrors(err); errs != nil {
		p, perr := s.apiKeyListProps(r)
		if perr != nil {
			s.error(w, r, perr)
			return
		}
		p.Name, p.Scope, p.Errors = name, scope, errs
		s.page(w, r, http.StatusUnprocessableEntity, "API keys", "api-keys", views.APIKeys(p))
		return
	} else if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "api_key.created", "api_key", k.ID,
		fmt.Sprintf("Created %s key %q (%s)", k.Scope, k.Name, k.Prefix), map[string]any{"name": k.Name, "scope": k.Scope}); err != nil {
		s.error(w, r, err)
		return
	}
	p, err := s.apiKeyListProps(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	p.Created = &views.CreatedKey{Name: k.Name, Key: plain}
	s.page(w, r, http.StatusCreated, "API keys", "api-keys", views.APIKeys(p))
}

func (s *Server) apiKeyRevoke(w http.ResponseWriter, r *http.Request) {
	k, err := s.db.RevokeAPIKey(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "api_key.revoked", "api_key", k.ID,
		fmt.Sprintf("Revoked key %q (%s)", k.Name, k.Prefix), nil); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", fmt.Sprintf("Key %q revoked. Calls with it now get 401.", k.Name))
	http.Redirect(w, r, "/admin/api-keys", http.StatusSeeOther)
}
