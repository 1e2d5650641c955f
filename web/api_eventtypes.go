package web

import (
	"encoding/json"
	"net/http"
	"time"
)

type apiEventType struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Deprecated   bool            `json:"deprecated"`
	DeprecatedAt *time.Time      `json:"deprecated_at"`
	Sample       json.RawMessage `json:"sample"`
}

func (s *Server) apiEventTypeList(w http.ResponseWriter, r *http.Request) {
	ts, err := s.db.FindEventTypes(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]apiEventType, 0, len(ts))
	for _, t := range ts {
		out = append(out, apiEventType{Name: t.Name, Description: t.Description, Deprecated: t.Deprecated(),
			DeprecatedAt: t.DeprecatedAt, Sample: t.Sample})
	}
	writeJSON(w, http.StatusOK, map[string]any{"event_types": out})
}
