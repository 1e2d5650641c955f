package web

import (
	"net/http"
	"strings"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

func (s *Server) apiKeyListProps(r *http.Request) (views.APIKeysProps, error) {
	keys, err := s.db.FindAPIKeys(r.Context())
	if err != nil {
		return views.APIKeysProps{}, err
	}
	p := views.APIKeysProps{Scope: models.ScopeIngest}
	for _, k := range keys {
		p.Keys = append(p.Keys, views.APIKeyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scope: k.Scope,
			CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt})
	}
	return p, nil
}

func (s *Server) apiKeyList(w http.ResponseWriter, r *http.Request) {
	p, err := s.apiKeyListProps(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if name, key, ok := strings.Cut(s.takeOnce(w, r, "api-key"), "\x00"); ok {
		p.Created = &views.CreatedKey{Name: name, Key: key}
	}
	s.page(w, r, http.StatusOK, "API keys", "api-keys", views.APIKeys(p))
}
