package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/a-h/templ"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// error answers a browser request that failed, by the domain error's code: not found,
// forbidden, conflicts and invalid input get their pages with the domain's message; the rest
// is logged once and shown as a plain 500. (Forms show invalid input next to the fields
// instead: see formError.)
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case models.ErrorCode(err) == models.ENOTFOUND:
		s.errorPage(w, r, http.StatusNotFound, "Not found", "There is nothing here, or it is not yours to see.")
	case errors.Is(err, errForbidden):
		s.errorPage(w, r, http.StatusForbidden, "Not allowed", "Your role does not give access to this page.")
	case models.ErrorCode(err) == models.ECONFLICT:
		s.errorPage(w, r, http.StatusConflict, "Not done", models.ErrorMessage(err))
	case models.ErrorCode(err) == models.EINVALID:
		s.errorPage(w, r, http.StatusUnprocessableEntity, "Invalid request", strings.Join(fieldMessages(models.FieldErrors(err)), " "))
	case models.IsUnavailable(err):
		s.log.Warn("database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		s.errorPage(w, r, http.StatusServiceUnavailable, "Temporarily unavailable", "The database cannot be reached just now. Nothing you saved before is lost; try again in a moment.")
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "The error has been logged. Try again in a moment.")
	}
}

// formError answers a form post whose action failed: invalid input shows the page titled
// title again with the form that form makes (the input kept, the domain's message next to each
// field) and a 422; anything else goes to error.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, err error, title, active string, form func(errs map[string]string) (templ.Component, error)) {
	errs := models.FieldErrors(err)
	if errs == nil {
		s.error(w, r, err)
		return
	}
	c, err := form(errs)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.page(w, r, http.StatusUnprocessableEntity, title, active, c)
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

// apiError answers an API request that failed, mapping the domain error's code to a status
// and its messages to problem+json (invalid fields under errors, with the same wording the
// forms show).
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case models.ErrorCode(err) == models.EINVALID:
		writeProblem(w, Problem{Title: "Invalid request", Status: http.StatusUnprocessableEntity,
			Detail: "One or more fields are invalid.", Errors: problemFields(models.FieldErrors(err))})
	case models.ErrorCode(err) == models.ENOTFOUND:
		writeProblem(w, Problem{Title: "Not found", Status: http.StatusNotFound, Detail: "No such resource."})
	case models.ErrorCode(err) == models.ECONFLICT:
		writeProblem(w, Problem{Title: "Conflict", Status: http.StatusConflict, Detail: models.ErrorMessage(err),
			Errors: problemFields(models.FieldErrors(err))})
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

// fieldMessages lists the messages of errs in the order of their fields.
func fieldMessages(errs map[string]string) []string {
	var out []string
	for _, f := range problemFields(errs) {
		out = append(out, f.Detail)
	}
	return out
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
