package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		Scope      string                      `json:"x-scope"`
		Parameters []struct{ Name, In string } `json:"parameters"`
		Responses  map[string]any              `json:"responses"`
	} `json:"paths"`
}

// TestOpenAPIMatchesRoutes checks the document against the real route table, both ways:
// every route is described with its scope, and every described operation exists.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, err := http.Get(b.srv.URL + "/api/v1/openapi.json")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var doc openAPIDoc
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))

	var documented, routed []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if path == "/api/v1/openapi.json" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path+" "+op.Scope)
			for _, p := range op.Parameters {
				if p.In == "path" {
					require.Contains(t, path, "{"+p.Name+"}", "%s %s", method, path)
				}
			}
			require.Contains(t, op.Responses, "401", "%s %s documents the auth failure", method, path)
		}
	}
	for _, rt := range setupServer(t, b).APIRoutes() {
		routed = append(routed, rt.Method+" "+rt.Pattern+" "+rt.Scope)
	}
	sort.Strings(documented)
	sort.Strings(routed)
	require.Equal(t, routed, documented)

	// The document's paths answer (not the catch-all 404 for unknown API routes).
	api := newAPI(t, b, models.ScopeAdmin)
	for _, rt := range setupServer(t, b).APIRoutes() {
		path := strings.ReplaceAll(rt.Pattern, "{id}", "x_nope")
		var body any
		if rt.Method != "GET" && rt.Method != "DELETE" {
			body = `{}`
		}
		status, m := api.call(rt.Method, path, body)
		require.NotEqual(t, "No such API route.", m["detail"], rt.Pattern)
		require.NotEqual(t, http.StatusMethodNotAllowed, status, rt.Pattern)
	}
}
