package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
)

// FuzzParseEvent checks the event parser against PostgreSQL itself: whatever it accepts, the
// database must store (text columns for the fields, json for data); whatever it refuses, it
// names a field. Seeds live in testdata/fuzz/FuzzParseEvent.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"type": "course.completed", "object_id": "42", "data": {"a": 1}}`))
	f.Add([]byte(`{"type": "a\u0000b", "data": {"x": "\ud800"}}`))
	f.Add([]byte("{\"type\": \"t\", \"url\": \"\xff\"}"))
	db := dbtest.DB(f)
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return // readJSONBody answers 400 before the parser runs
		}
		if _, p := models.JSONTextProblem(body, true); p != "" {
			return // likewise
		}
		var bad []string
		e := parseEvent(body, now, func(field, msg string) {
			if msg == "" {
				t.Errorf("field %q refused without a reason", field)
			}
			bad = append(bad, field)
		})
		if len(bad) > 0 {
			return
		}
		texts := []string{e.Type, e.Action}
		for _, p := range []*string{e.Object, e.ObjectID, e.CourseID, e.URL, e.IdempotencyKey} {
			if p != nil {
				texts = append(texts, *p)
			}
		}
		for _, s := range texts {
			if _, err := db.Pool.Exec(context.Background(), `SELECT $1::text`, s); err != nil {
				t.Fatalf("accepted %q, which PostgreSQL refuses: %v", s, err)
			}
		}
		if _, err := db.Pool.Exec(context.Background(), `SELECT $1::text::json`, string(e.Data)); err != nil {
			t.Fatalf("accepted data %q, which PostgreSQL refuses: %v", e.Data, err)
		}
	})
}

// FuzzFormAndQuery sends fuzzed queries and form bodies (of any content type) through the input
// check and requires that the handler behind it sees only clean text, and that nothing is
// answered with 500 or more. Seeds live in testdata/fuzz/FuzzFormAndQuery.
func FuzzFormAndQuery(f *testing.F) {
	f.Add("a=1&b=%FF", "application/x-www-form-urlencoded", []byte("name=x%00y"))
	f.Add("%zz=1", "APPLICATION/X-WWW-FORM-URLENCODED", []byte("name=ok"))
	f.Add("", "multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\na\x00b\r\n--X--\r\n"))
	f.Add("q=%C3", "text/plain; =", []byte("x"))
	s := New(Config{Development: true, SecretKey: make([]byte, 32)}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux := s.routes().ServeMux
	f.Fuzz(func(t *testing.T, query, contentType string, body []byte) {
		reached := false
		h := s.cleanInput(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached = true
			for name, vs := range r.URL.Query() {
				checkClean(t, "query name", name)
				for _, v := range vs {
					checkClean(t, "query value", v)
				}
			}
			for name, vs := range r.PostForm {
				checkClean(t, "form name", name)
				for _, v := range vs {
					checkClean(t, "form value", v)
				}
			}
		}))
		req := httptest.NewRequest("POST", "/admin/partners", strings.NewReader(string(body)))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("answered %d", rec.Code)
		}
		if !reached && rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("refused with %d, not 400 or 413", rec.Code)
		}
		if !reached && !strings.Contains(rec.Body.String(), "The field") {
			t.Fatalf("the refusal does not name the field: %s", rec.Body.String())
		}
	})
}

func checkClean(t *testing.T, what, s string) {
	t.Helper()
	if p := models.TextProblem(s, 1<<20); p != "" {
		t.Fatalf("the handler got a %s that %s: %q", what, p, s)
	}
}
