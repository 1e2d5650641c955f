package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/models"
)

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs one line per request, and turns a panic into a logged 500.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if rec.status == 0 {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}

// securityHeaders sets the headers that keep pages from being framed, sniffed or fed foreign
// scripts. Pages use no inline script or style, so the policy can be strict. In production
// (https only) browsers are also told never to use plain http for this host for a year.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if !s.cfg.Development {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
			"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses state-changing browser requests from other sites; non-browser clients,
// which send neither Sec-Fetch-Site nor Origin, pass and must authenticate with API keys.
func (s *Server) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeProblem(w, Problem{Title: "Cross-origin request refused", Status: http.StatusForbidden,
				Detail: "Browsers may not call this API from another site."})
			return
		}
		s.errorPage(w, r, http.StatusForbidden, "Request refused", "This form was sent from another site, so it was refused. Go back, reload the page and try again.")
	}))
	return cop.Handler(next)
}

// roles guards a handler: signed-out visitors are sent to sign in, signed-in users of another
// role get 403.
func (s *Server) roles(allowed ...string) func(http.HandlerFunc) http.Handler {
	return func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u := currentUser(r)
			if u == nil {
				q := url.Values{}
				if r.Method == http.MethodGet {
					q.Set("next", r.URL.RequestURI())
				}
				if expired, _ := r.Context().Value(expiredKey).(bool); expired {
					q.Set("expired", "1")
				}
				target := "/signin"
				if len(q) > 0 {
					target += "?" + q.Encode()
				}
				redirect(w, r, target)
				return
			}
			if _, err := partnerScope(r); err != nil {
				s.error(w, r, err) // a partner user without a partner sees nothing at all
				return
			}
			if u.MustChangePassword && r.URL.Path != "/account/password" {
				redirect(w, r, "/account/password")
				return
			}
			if !slices.Contains(allowed, u.Role) {
				s.error(w, r, errForbidden)
				return
			}
			h(w, r)
		})
	}
}

func (s *Server) admin(h http.HandlerFunc) http.Handler { return s.roles(models.RoleAdmin)(h) }
func (s *Server) staff(h http.HandlerFunc) http.Handler {
	return s.roles(models.RoleAdmin, models.RoleStaff)(h)
}
func (s *Server) anyone(h http.HandlerFunc) http.Handler {
	return s.roles(models.RoleAdmin, models.RoleStaff, models.RolePartner)(h)
}

// actor is who is making the request, for the audit log.
func actor(r *http.Request) models.Actor {
	if u := currentUser(r); u != nil {
		return models.UserActor(u)
	}
	if k, ok := r.Context().Value(apiKeyKey).(*models.APIKey); ok {
		return models.KeyActor(k)
	}
	return models.Actor{}
}

// apiKey guards an API handler: it needs a live key of scope (admin keys may call everything).
func (s *Server) apiKey(scope string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookrelay"`)
			writeProblem(w, Problem{Title: "Unauthorized", Status: http.StatusUnauthorized,
				Detail: "Send an API key as 'Authorization: Bearer <key>'."})
			return
		}
		k, err := s.db.FindAPIKeyBySecret(r.Context(), strings.TrimSpace(token))
		if errors.Is(err, models.ErrNotFound) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookrelay", error="invalid_token"`)
			writeProblem(w, Problem{Title: "Unauthorized", Status: http.StatusUnauthorized,
				Detail: "The API key is unknown or has been revoked."})
			return
		} else if err != nil {
			s.apiError(w, r, err)
			return
		}
		if !k.Allows(scope) {
			writeProblem(w, Problem{Title: "Forbidden", Status: http.StatusForbidden,
				Detail: fmt.Sprintf("This call needs an API key of scope %q; this key's scope is %q.", scope, k.Scope)})
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), apiKeyKey, k)))
	})
}
