package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/web"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a log sink tests can read while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReadyzHidesDatabaseError: anyone may call /readyz, so it says "database unreachable" and
// leaves the error (user, database, address) to the log.
func TestReadyzHidesDatabaseError(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://leaky_user:hunter2@127.0.0.1:1/leaky_database?connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var logs lockedBuffer
	s := web.New(web.Config{Development: true, SecretKey: testKey}, &models.DB{Pool: pool}, slog.New(slog.NewTextHandler(&logs, nil)))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/readyz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.JSONEq(t, `{"status": "unavailable", "error": "database unreachable"}`, string(body))
	require.Contains(t, logs.String(), "leaky_user", "the detail is logged")
}

// TestStrictTransportSecurity: production answers tell browsers to use https only.
func TestStrictTransportSecurity(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, dev := range []bool{false, true} {
		s := web.New(web.Config{Development: dev, SecretKey: testKey}, b.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
		srv := httptest.NewServer(s.Handler())
		for _, p := range []string{"/healthz", "/signin", "/api/v1/event-types"} {
			resp, err := http.Get(srv.URL + p)
			require.NoError(t, err)
			resp.Body.Close()
			if dev {
				require.Empty(t, resp.Header.Get("Strict-Transport-Security"), p)
			} else {
				require.Equal(t, "max-age=31536000", resp.Header.Get("Strict-Transport-Security"), p)
			}
		}
		srv.Close()
	}
}

// TestMetricsToken: with HOOKRELAY_METRICS_TOKEN set, /metrics answers only to that bearer token.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "hookrelay_probe_total", Help: "probe"}))
	get := func(srv *httptest.Server, auth string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	token := "a-long-random-metrics-token"
	s := web.New(web.Config{Development: true, SecretKey: testKey, Registry: reg, MetricsToken: token}, b.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	for _, auth := range []string{"", "Bearer wrong-token-of-some-length", "Bearer " + token + "x", token} {
		status, body := get(srv, auth)
		require.Equal(t, http.StatusUnauthorized, status, auth)
		require.NotContains(t, body, "hookrelay_probe_total", auth)
	}
	status, body := get(srv, "Bearer "+token)
	require.Equal(t, http.StatusOK, status)
	require.True(t, strings.Contains(body, "hookrelay_probe_total 0"), body)

	open := web.New(web.Config{Development: true, SecretKey: testKey, Registry: reg}, b.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	osrv := httptest.NewServer(open.Handler())
	t.Cleanup(osrv.Close)
	status, _ = get(osrv, "")
	require.Equal(t, http.StatusOK, status, "without the setting /metrics is open, as SPEC has it")
}
