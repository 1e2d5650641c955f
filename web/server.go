// Package web serves hookrelay's browser UI and JSON API.
package web

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gorilla/sessions"
	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is what the web layer needs to know about its deployment. main fills it from the
// environment.
type Config struct {
	// Development allows plain-http cookies and friendlier defaults.
	Development bool
	// BaseURL is the public URL used in links.
	BaseURL string
	// SecretKey is the instance's 32-byte key; sessions and stored secrets derive from it.
	SecretKey []byte
	// Version is reported in the User-Agent and the page footer.
	Version string
	// SessionIdle ends a session after this long without a request.
	SessionIdle time.Duration
	// SessionMax ends a session this long after sign-in, however active.
	SessionMax time.Duration
	// Sender makes the requests of test notifications.
	Sender *jobs.Sender
	// Targets decides which webhook URLs may be saved.
	Targets jobs.TargetPolicy
	// Metrics are served at /metrics (nil: not served) and count events received.
	Metrics  *jobs.Metrics
	Registry *prometheus.Registry
	// MetricsToken, when set, is the bearer token /metrics asks for.
	MetricsToken string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed: a request from
	// one of them counts against its client's address, not the proxy's.
	TrustedProxies []netip.Prefix
	// MailOn says whether partner contacts are mailed (HOOKRELAY_SMTP_URL is set); pages say
	// so when they are not.
	MailOn bool
	// Ready reports extra readiness conditions (such as the job system running); nil means ready.
	Ready func(context.Context) error
}

// Server holds the dependencies of every handler.
type Server struct {
	cfg      Config
	db       *models.DB
	log      *slog.Logger
	sessions *sessions.CookieStore
	now      func() time.Time
}

// DeriveKey derives a purpose-specific 32-byte key from the instance key, so that the session
// cookies and the secret encryption never share a key.
func DeriveKey(secret []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "hookrelay "+purpose, 32)
	if err != nil {
		panic(fmt.Sprintf("deriving %s key: %v", purpose, err)) // only on a programming error
	}
	return k
}

// New makes a Server.
func New(cfg Config, db *models.DB, log *slog.Logger) *Server {
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 12 * time.Hour
	}
	if cfg.SessionMax == 0 {
		cfg.SessionMax = 7 * 24 * time.Hour
	}
	store := sessions.NewCookieStore(DeriveKey(cfg.SecretKey, "session auth"), DeriveKey(cfg.SecretKey, "session encryption"))
	store.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(cfg.SessionMax.Seconds()),
		HttpOnly: true,
		Secure:   !cfg.Development,
		SameSite: http.SameSiteLaxMode,
	}
	store.MaxAge(int(cfg.SessionMax.Seconds()))
	return &Server{cfg: cfg, db: db, log: log, sessions: store, now: time.Now}
}
