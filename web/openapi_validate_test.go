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

type codeRecorder struct {
	http.ResponseWriter
	code int
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
	return c.ResponseWriter.Write(b)
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
		router, err := apiRouter()
		if err != nil {
			t.Errorf("loading the OpenAPI document: %v", err)
		} else if route, params, err := router.FindRoute(vr); err != nil {
			verr = err
		} else {
			verr = openapi3filter.ValidateRequest(vr.Context(), &openapi3filter.RequestValidationInput{
				Request: vr, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			})
		}
		rec := &codeRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.code >= 200 && rec.code < 300 {
			if verr != nil {
				t.Errorf("%s %s was accepted with %d but the OpenAPI document does not allow it: %v", r.Method, r.URL.Path, rec.code, verr)
			}
			validatedRequests.Add(1)
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
}
