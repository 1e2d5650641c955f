package web

import (
	"encoding/json"
	"net/http"
	"time"
)

type apiEventType struct {
	Name         string     `json:"name"`
	Description  string     `json:"description"`
	Deprecated   bool       `json:"deprecated"`
	DeprecatedAt *time.Time `json:"deprecated_at"`
	// Replacement is what to use instead of a deprecated type; null when nothing is named.
	Replacement *string         `json:"replacement"`
	Sample      json.RawMessage `json:"sample"`
}

func (s *Server) apiEventTypeList(w http.ResponseWriter, r *http.Request) {
	ts, err := s.db.FindEventTypes(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]apiEventType, 0, len(ts))
	for _, t := range ts {
		e := apiEventType{Name: t.Name, Description: t.Description, Deprecated: t.Deprecated(),
			DeprecatedAt: t.DeprecatedAt, Sample: t.Sample}
		if t.Replacement != "" {
			e.Replacement = &t.Replacement
		}
		out = append(out, e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"event_types": out})
}
