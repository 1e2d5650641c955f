package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether this instance can do its work: database reachable, schema current, and
// whatever else the Ready hook checks.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		// The detail (a database error names its user, database and address) is for the log;
		// anyone may call this.
		s.log.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": publicReason(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// notReady is a reason for not being ready that may be shown to anyone, wrapping the detail.
type notReady struct {
	public string
	err    error
}

func (e *notReady) Error() string { return e.public + ": " + e.err.Error() }
func (e *notReady) Unwrap() error { return e.err }

func publicReason(err error) string {
	var nr *notReady
	if errors.As(err, &nr) {
		return nr.public
	}
	return "not ready"
}

func (s *Server) ready(ctx context.Context) error {
	if err := s.db.Ping(ctx); err != nil {
		return &notReady{"database unreachable", err}
	}
	n, err := s.db.PendingMigrations(ctx)
	if err != nil {
		return &notReady{"database unreachable", err}
	}
	if n > 0 {
		return &notReady{"migrations not applied", fmt.Errorf("%d migrations not applied", n)}
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(ctx); err != nil {
			return &notReady{"background jobs not running", err}
		}
	}
	return nil
}

// metricsAuth guards /metrics with the bearer token of HOOKRELAY_METRICS_TOKEN when one is set.
func (s *Server) metricsAuth(next http.Handler) http.Handler {
	if s.cfg.MetricsToken == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.MetricsToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookrelay metrics"`)
			http.Error(w, "metrics need Authorization: Bearer <HOOKRELAY_METRICS_TOKEN>", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
