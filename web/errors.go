package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// error answers a browser request that failed: not found and forbidden get their pages, the
// rest is logged once and shown as a plain 500.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, models.ErrNotFound):
		s.errorPage(w, r, http.StatusNotFound, "Not found", "There is nothing here, or it is not yours to see.")
	case errors.Is(err, errForbidden):
		s.errorPage(w, r, http.StatusForbidden, "Not allowed", "Your role does not give access to this page.")
	case models.IsUnavailable(err):
		s.log.Warn("database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		s.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "The database cannot be reached just now. Nothing you saved before is lost; try again in a moment.")
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "The error has been logged. Try again in a moment.")
	}
}

var errForbidden = errors.New("forbidden")

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	if isHTMX(r) {
		s.fragment(w, r, status, views.ErrorPage(status, title, detail))
		return
	}
	s.page(w, r, status, title, "", views.ErrorPage(status, title, detail))
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string         `json:"type,omitempty"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Errors []ProblemField `json:"errors,omitempty"`
}

// ProblemField names one invalid field of a request.
type ProblemField struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// apiError answers an API request that failed, mapping domain errors to status codes.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *models.ValidationError
	switch {
	case errors.As(err, &ve):
		writeProblem(w, Problem{Title: "Invalid request", Status: http.StatusUnprocessableEntity,
			Detail: "One or more fields are invalid.", Errors: problemFields(ve.Fields)})
	case errors.Is(err, models.ErrNotFound):
		writeProblem(w, Problem{Title: "Not found", Status: http.StatusNotFound, Detail: "No such resource."})
	case errors.Is(err, models.ErrConflict):
		writeProblem(w, Problem{Title: "Conflict", Status: http.StatusConflict, Detail: strings.TrimPrefix(err.Error(), "conflict: ")})
	case models.IsUnavailable(err):
		// The platform retries on 503. Whether a write whose connection dropped was committed
		// cannot be known here: an idempotency_key makes the retry safe.
		s.log.Warn("database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeProblem(w, Problem{Title: "Temporarily unavailable", Status: http.StatusServiceUnavailable,
			Detail: "The database cannot be reached just now; retry shortly (with the same idempotency_key, if any)."})
	default:
		s.log.Error("API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, Problem{Title: "Internal error", Status: http.StatusInternalServerError, Detail: "The error has been logged."})
	}
}

func problemFields(m map[string]string) []ProblemField {
	out := make([]ProblemField, 0, len(m))
	for k, v := range m {
		out = append(out, ProblemField{Field: k, Detail: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
