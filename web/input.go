package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/models"
)

// Every path, query and form is checked here against models.TextProblem (valid UTF-8, no NUL,
// a length limit) and every JSON body in readJSONBody against models.JSONTextProblem. Handlers
// only ever see values that passed; everything else gets a 400 (or 413 for a body over its
// limit) naming the field.
const (
	// maxPathBytes bounds the decoded path; ids, names and course ids are far shorter.
	maxPathBytes = 1024
	// maxQueryValueBytes bounds one query parameter; filters are clipped to 200 anyway.
	maxQueryValueBytes = 2048
	// defaultFormBytes is the body limit of a form that does not name its own in formLimits.
	defaultFormBytes = 64 << 10
)

// formLimits are the body limits of the forms that need more than defaultFormBytes, by route
// pattern.
var formLimits = map[string]int64{
	"POST /webhooks":                 256 << 10, // every event type and course ticked
	"POST /webhooks/{id}":            256 << 10,
	"POST /admin/event-types":        128 << 10, // a sample payload of up to 64 KiB, escaped
	"POST /admin/event-types/{name}": 128 << 10,
}

// hasNUL reports whether s holds a NUL character.
func hasNUL(s string) bool { return strings.ContainsRune(s, 0) }

// inputError is a request refused before any handler saw it.
type inputError struct {
	status int
	field  string
	detail string
}

// cleanInput checks the path, the query and (for the browser's forms) the form body of every
// request against the text rules above, so that handlers get only clean values. A form is read
// here, within its route's limit, whatever the capitalisation of its Content-Type and whether
// urlencoded or multipart; API bodies are left alone, since the API reads them as JSON whatever
// their Content-Type says (readJSONBody checks their text).
func (s *Server) cleanInput(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isAPI := strings.HasPrefix(r.URL.Path, "/api/")
		ie := checkPathAndQuery(r)
		if ie == nil && !isAPI && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
			_, pattern := mux.Handler(r)
			limit, ok := formLimits[pattern]
			if !ok {
				limit = defaultFormBytes
			}
			ie = readForm(w, r, limit)
		}
		if ie == nil {
			next.ServeHTTP(w, r)
			return
		}
		if isAPI {
			writeProblem(w, Problem{Title: "Invalid request", Status: ie.status, Detail: ie.field + " " + ie.detail + ".",
				Errors: []ProblemField{{Field: ie.field, Detail: ie.detail}}})
			return
		}
		title := "Invalid request"
		if ie.status == http.StatusRequestEntityTooLarge {
			title = "Form too large"
		}
		s.errorPage(w, r, ie.status, title, fmt.Sprintf("The field %q %s.", ie.field, ie.detail))
	})
}

func checkPathAndQuery(r *http.Request) *inputError {
	if p := models.TextProblem(r.URL.Path, maxPathBytes); p != "" {
		return &inputError{http.StatusBadRequest, "path", p}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return &inputError{http.StatusBadRequest, "query", "is not a valid query string"}
	}
	return checkValues(q, maxQueryValueBytes)
}

// checkValues applies the text rules to every name and value of a query or form, naming the
// first bad one (in name order, so the answer does not vary).
func checkValues(vs url.Values, max int) *inputError {
	names := make([]string, 0, len(vs))
	for k := range vs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if p := models.TextProblem(k, 100); p != "" {
			return &inputError{http.StatusBadRequest, "parameter name", p}
		}
		for _, v := range vs[k] {
			if p := models.TextProblem(v, max); p != "" {
				return &inputError{http.StatusBadRequest, k, p}
			}
		}
	}
	return nil
}

// readForm parses the form body of a browser request within limit bytes and checks its values.
// A body of another content type is left unread: the handler sees an empty form.
func readForm(w http.ResponseWriter, r *http.Request, limit int64) *inputError {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	ct := r.Header.Get("Content-Type")
	var err error
	mt, params, perr := mime.ParseMediaType(ct)
	switch {
	case ct == "":
		err = r.ParseForm()
	case perr != nil:
		return &inputError{http.StatusBadRequest, "Content-Type", "is not a valid media type"}
	case mt == "multipart/form-data":
		// Normalise the spelling so that the standard library recognises it.
		r.Header.Set("Content-Type", mime.FormatMediaType(mt, params))
		err = r.ParseMultipartForm(limit)
		if r.MultipartForm != nil {
			_ = r.MultipartForm.RemoveAll() // no form takes files
		}
	case mt == "application/x-www-form-urlencoded":
		r.Header.Set("Content-Type", mt)
		err = r.ParseForm()
	default:
		err = r.ParseForm() // the query part only
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return &inputError{http.StatusRequestEntityTooLarge, "form", fmt.Sprintf("must be at most %d KiB in all", limit>>10)}
	case err != nil:
		return &inputError{http.StatusBadRequest, "form", "could not be read: it is not a valid form body"}
	}
	return checkValues(r.PostForm, int(limit))
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
