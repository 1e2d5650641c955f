package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hookrelay/hookrelay/models"
)

// TestPartnerWithoutPartnerRefused: a partner user without a partner (only a database CHECK
// prevents one) is refused everywhere rather than scoped to nothing, which meant everything.
func TestPartnerWithoutPartnerRefused(t *testing.T) {
	s := New(Config{Development: true, SecretKey: make([]byte, 32)}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	orphan := &models.User{ID: "usr_orphan", Email: "orphan@example.com", Role: models.RolePartner}
	req := func(path string) *http.Request {
		r := httptest.NewRequest("GET", path, nil)
		return r.WithContext(context.WithValue(r.Context(), userKey, orphan))
	}
	if scope, err := partnerScope(req("/deliveries")); err == nil {
		t.Fatalf("partnerScope gave %q and no error", scope)
	}
	reached := false
	h := s.anyone(func(http.ResponseWriter, *http.Request) { reached = true })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req("/webhooks"))
	if reached || rec.Code != http.StatusForbidden {
		t.Fatalf("the guard answered %d and reached the handler: %v", rec.Code, reached)
	}
	// The handlers refuse too, without the guard in front of them.
	for path, handler := range map[string]http.HandlerFunc{"/webhooks": s.webhookList, "/deliveries": s.deliveries} {
		rec := httptest.NewRecorder()
		handler(rec, req(path))
		if rec.Code != http.StatusForbidden {
			t.Fatalf("%s answered %d", path, rec.Code)
		}
	}
}
