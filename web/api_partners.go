package web

import (
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/models"
)

type apiPartner struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toAPIPartner(p *models.Partner) apiPartner {
	return apiPartner{ID: p.ID, Name: p.Name, Description: p.Description, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (s *Server) apiPartnerList(w http.ResponseWriter, r *http.Request) {
	ps, err := s.db.FindPartners(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]apiPartner, 0, len(ps))
	for i := range ps {
		out = append(out, toAPIPartner(&ps[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}
