package static_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/hookrelay/hookrelay/static"
	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	u := static.URL("app.css")
	require.Regexp(t, regexp.MustCompile(`^/static/app\.css\?v=[0-9a-f]{12}$`), u)

	rec := httptest.NewRecorder()
	static.Handler().ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/css")
	require.Contains(t, rec.Header().Get("Cache-Control"), "immutable")

	rec = httptest.NewRecorder()
	static.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/static/app.css?v=old", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.NotContains(t, rec.Header().Get("Cache-Control"), "immutable")

	rec = httptest.NewRecorder()
	static.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/static/../main.go", nil))
	require.Equal(t, http.StatusNotFound, rec.Code)
}
