package web

import (
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/models"
)

type apiPartner struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Description   string    `json:"description"`
	ContactEmails []string  `json:"contact_emails"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func toAPIPartner(p *models.Partner) apiPartner {
	emails := []string(p.ContactEmails)
	if emails == nil {
		emails = []string{}
	}
	return apiPartner{ID: p.ID, Name: p.Name, Description: p.Description, ContactEmails: emails, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func (s *Server) apiPartnerList(w http.ResponseWriter, r *http.Request) {
	after, limit, ok := page(w, r)
	if !ok {
		return
	}
	ps, next, err := s.db.FindPartnersPage(r.Context(), after, limit)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]apiPartner, 0, len(ps))
	for i := range ps {
		out = append(out, toAPIPartner(&ps[i]))
	}
	writeJSON(w, http.StatusOK, listResponse{Data: out, NextCursor: nextCursor(next)})
}

func (s *Server) apiPartnerGet(w http.ResponseWriter, r *http.Request) {
	p, err := s.db.FindPartnerByID(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIPartner(p))
}

// apiPartnerInput reads the partner fields of a JSON body, answering a bad body itself.
func (s *Server) apiPartnerInput(w http.ResponseWriter, r *http.Request) (models.PartnerInput, bool) {
	f, ok := readJSONObject(w, r, 64<<10)
	if !ok {
		return models.PartnerInput{}, false
	}
	in := models.PartnerInput{Name: f.str("name"), Description: f.str("description"), ContactEmails: f.stringList("contact_emails")}
	if err := f.ve.Err(); err != nil {
		s.apiError(w, r, err)
		return in, false
	}
	return in, true
}

func (s *Server) apiPartnerCreate(w http.ResponseWriter, r *http.Request) {
	in, ok := s.apiPartnerInput(w, r)
	if !ok {
		return
	}
	p, err := s.db.CreatePartner(r.Context(), actor(r), in)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIPartner(p))
}

func (s *Server) apiPartnerUpdate(w http.ResponseWriter, r *http.Request) {
	in, ok := s.apiPartnerInput(w, r)
	if !ok {
		return
	}
	p, err := s.db.UpdatePartner(r.Context(), actor(r), r.PathValue("id"), in)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIPartner(p))
}

func (s *Server) apiPartnerDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.db.DeletePartner(r.Context(), actor(r), r.PathValue("id")); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
