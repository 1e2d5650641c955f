package web_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/hookrelay/hookrelay/web"
)

// apiRouter finds operations in the served OpenAPI document.
var apiRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromData(web.OpenAPI())
	if err != nil {
		return nil, err
	}
	doc.Servers = nil // match any host: the tests run on random ports
	return legacy.NewRouter(doc)
})

// validatedRequests counts the accepted API requests of the tests that were checked against
// the document, so that the check cannot pass by checking nothing.
var validatedRequests atomic.Int64

// validatedResponses counts the API responses checked against the document.
var validatedResponses atomic.Int64

// codeRecorder passes a response through and keeps its status and body for the check.
type codeRecorder struct {
	http.ResponseWriter
	code int
	body bytes.Buffer
}

func (c *codeRecorder) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeRecorder) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

// validateResponse checks a response against the operation of its request in the document:
// its status must be documented, and its body must match that status's schema.
func validateResponse(in *openapi3filter.RequestValidationInput, code int, header http.Header, body []byte) error {
	return openapi3filter.ValidateResponse(in.Request.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: code, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	})
}

// validatingAPI checks every API request the tests make against the OpenAPI document: a
// request the server accepts must be one the document allows.
func validatingAPI(t *testing.T, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/v1/") || r.URL.Path == "/api/v1/openapi.json" {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		vr := r.Clone(r.Context())
		vr.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) > 0 {
			// The API reads a body as JSON whatever its Content-Type says (SPEC), as the
			// document's application/json.
			vr.Header.Set("Content-Type", "application/json")
		}
		var verr error
		var in *openapi3filter.RequestValidationInput
		router, err := apiRouter()
		if err != nil {
			t.Errorf("loading the OpenAPI document: %v", err)
		} else if route, params, err := router.FindRoute(vr); err != nil {
			verr = err
		} else {
			in = &openapi3filter.RequestValidationInput{
				Request: vr, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			}
			verr = openapi3filter.ValidateRequest(vr.Context(), in)
		}
		rec := &codeRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.code >= 200 && rec.code < 300 {
			if verr != nil {
				t.Errorf("%s %s was accepted with %d but the OpenAPI document does not allow it: %v", r.Method, r.URL.Path, rec.code, verr)
			}
			validatedRequests.Add(1)
		}
		// Every answer to a documented operation, errors included, must be as documented.
		if in != nil {
			if err := validateResponse(in, rec.code, rec.Header(), rec.body.Bytes()); err != nil {
				t.Errorf("%s %s answered %d, which the OpenAPI document does not describe: %v\n%.500s", r.Method, r.URL.Path, rec.code, err, rec.body.String())
			}
			validatedResponses.Add(1)
		}
	})
}

// TestOpenAPIValidatorCatchesMismatch shows the check above is not vacuous: a body the document
// forbids is caught, and one it allows passes.
func TestOpenAPIValidatorCatchesMismatch(t *testing.T) {
	router, err := apiRouter()
	if err != nil {
		t.Fatal(err)
	}
	check := func(method, path, body string) error {
		req, _ := http.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		route, params, err := router.FindRoute(req)
		if err != nil {
			return err
		}
		return openapi3filter.ValidateRequest(req.Context(), &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}})
	}
	if err := check("POST", "/api/v1/webhooks/wh_1/test", `{"event_type": 5}`); err == nil {
		t.Error("a number where the document says string must not validate")
	}
	if err := check("POST", "/api/v1/events", `{"events": []}`); err == nil {
		t.Error("an empty batch must not validate")
	}
	if err := check("POST", "/api/v1/webhooks/wh_1/test", `{"event_type": "course.completed"}`); err != nil {
		t.Errorf("a good body must validate: %v", err)
	}
	if err := check("GET", "/api/v1/nothing", ``); err == nil {
		t.Error("an unknown path must not be found")
	}

	// Responses: the status must be documented and the body must match its schema.
	answer := func(method, path string, code int, body string) error {
		req, _ := http.NewRequest(method, "http://127.0.0.1"+path, nil)
		route, params, err := router.FindRoute(req)
		if err != nil {
			return err
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
		h := http.Header{"Content-Type": {"application/json"}}
		if code >= 400 {
			h.Set("Content-Type", "application/problem+json")
		}
		return validateResponse(in, code, h, []byte(body))
	}
	if err := answer("GET", "/api/v1/events/evt_1", 200, `{"id": 5, "type": "course.completed"}`); err == nil {
		t.Error("an id that is not a string must not validate")
	}
	if err := answer("POST", "/api/v1/events", 202, `{"type": "course.completed"}`); err == nil {
		t.Error("a stored event without its id must not validate")
	}
	if err := answer("GET", "/api/v1/event-types", 418, `{}`); err == nil {
		t.Error("an undocumented status must not validate")
	}
	if err := answer("GET", "/api/v1/events/evt_1", 404, `{"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no such event"}`); err != nil {
		t.Errorf("a documented problem must validate: %v", err)
	}
}
