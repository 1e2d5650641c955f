package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/hookrelay/hookrelay/models"
)

// jsonFields reads a JSON object body field by field, so that each field of the wrong type
// is reported by name rather than the whole body being refused.
type jsonFields struct {
	m  map[string]json.RawMessage
	ve models.Error
}

// readJSONObject reads a JSON object of at most limit bytes; it answers the request itself
// when the body is unusable.
func readJSONObject(w http.ResponseWriter, r *http.Request, limit int64) (*jsonFields, bool) {
	body, ok := readJSONBody(w, r, limit)
	if !ok {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		writeProblem(w, Problem{Title: "Invalid request", Status: http.StatusUnprocessableEntity, Detail: "The body must be a JSON object."})
		return nil, false
	}
	return &jsonFields{m: m}, true
}

func (f *jsonFields) has(name string) bool { _, ok := f.m[name]; return ok }

func (f *jsonFields) str(name string) *string {
	v, ok := f.m[name]
	if !ok {
		return nil
	}
	if string(v) == "null" {
		s := ""
		return &s
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		f.ve.Add(name, "must be a string")
		return nil
	}
	if p := models.TextProblem(s, maxIngestBody); p != "" {
		f.ve.Add(name, p)
		return nil
	}
	return &s
}

func (f *jsonFields) boolean(name string) *bool {
	v, ok := f.m[name]
	if !ok {
		return nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		f.ve.Add(name, "must be true or false")
		return nil
	}
	return &b
}

// null reports whether the body gives name as null.
func (f *jsonFields) null(name string) bool {
	v, ok := f.m[name]
	return ok && string(bytes.TrimSpace(v)) == "null"
}

func (f *jsonFields) integer(name string) *int {
	v, ok := f.m[name]
	if !ok {
		return nil
	}
	var n int
	if err := json.Unmarshal(v, &n); err != nil {
		f.ve.Add(name, "must be a whole number")
		return nil
	}
	return &n
}

func (f *jsonFields) strings(name string) []string {
	v, ok := f.m[name]
	if !ok {
		return nil
	}
	var ss []string
	if err := json.Unmarshal(v, &ss); err != nil {
		f.ve.Add(name, `must be a list of strings, or ["*"] for all`)
		return nil
	}
	for _, s := range ss {
		if p := models.TextProblem(s, maxIngestBody); p != "" {
			f.ve.Add(name, p)
			return nil
		}
	}
	if ss == nil {
		ss = []string{}
	}
	return ss
}

// stringList reads a list of strings that replaces a stored list (null or [] empties it),
// naming each bad entry by its index (contact_emails[2]).
func (f *jsonFields) stringList(name string) *[]string {
	v, ok := f.m[name]
	if !ok {
		return nil
	}
	out := []string{}
	if string(bytes.TrimSpace(v)) == "null" {
		return &out
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		f.ve.Add(name, "must be a list of strings")
		return nil
	}
	bad := false
	for i, r := range raw {
		field := name + "[" + strconv.Itoa(i) + "]"
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			f.ve.Add(field, "must be a string")
			bad = true
			continue
		}
		if p := models.TextProblem(s, maxIngestBody); p != "" {
			f.ve.Add(field, p)
			bad = true
			continue
		}
		out = append(out, s)
	}
	if bad {
		return nil
	}
	return &out
}

// page reads the cursor and limit of a list request, answering bad ones itself.
func page(w http.ResponseWriter, r *http.Request) (*models.Cursor, int, bool) {
	q := r.URL.Query()
	var after *models.Cursor
	if s := q.Get("cursor"); s != "" {
		c, ok := models.DecodeCursor(s)
		if !ok {
			writeProblem(w, Problem{Title: "Invalid request", Status: http.StatusUnprocessableEntity, Detail: "The cursor is not one this API gave out.",
				Errors: []ProblemField{{Field: "cursor", Detail: "is not valid"}}})
			return nil, 0, false
		}
		after = &c
	}
	limit := models.DefaultPageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > models.MaxPageSize {
			writeProblem(w, Problem{Title: "Invalid request", Status: http.StatusUnprocessableEntity, Detail: "limit must be 1 to 200.",
				Errors: []ProblemField{{Field: "limit", Detail: "must be a whole number from 1 to 200"}}})
			return nil, 0, false
		}
		limit = n
	}
	return after, limit, true
}

// listResponse is the envelope of every list: the items and the cursor of the next page.
type listResponse struct {
	Data       any     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func nextCursor(c *models.Cursor) *string {
	if c == nil {
		return nil
	}
	s := c.Encode()
	return &s
}
