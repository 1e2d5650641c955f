package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/hookrelay/hookrelay/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// An idempotency key protects for 24 hours: after that, the same key is a new event, even
// with other content.
func TestIdempotencyKeyExpires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	api := newAPI(t, b, models.ScopeIngest)
	key := uniq("idem")
	status, first := api.call("POST", "/api/v1/events", fmt.Sprintf(`{"type": "course.completed", "object_id": "1", "idempotency_key": %q}`, key))
	require.Equal(t, http.StatusAccepted, status)
	status, _ = api.call("POST", "/api/v1/events", fmt.Sprintf(`{"type": "course.completed", "object_id": "2", "idempotency_key": %q}`, key))
	require.Equal(t, http.StatusConflict, status, "within 24 hours other content conflicts")

	// A day and a minute later (the first event's receipt moved back, as the clock would).
	_, err := b.db.Pool.Exec(ctx, `UPDATE events SET received_at = received_at - interval '24 hours 1 minute' WHERE id = $1`, first["id"])
	require.NoError(t, err)
	status, second := api.call("POST", "/api/v1/events", fmt.Sprintf(`{"type": "course.completed", "object_id": "2", "idempotency_key": %q}`, key))
	require.Equal(t, http.StatusAccepted, status, "the key has expired")
	require.NotEqual(t, first["id"], second["id"], "a new event")
	require.Equal(t, "2", second["object_id"])
	status, again := api.call("POST", "/api/v1/events", fmt.Sprintf(`{"type": "course.completed", "object_id": "2", "idempotency_key": %q}`, key))
	require.Equal(t, http.StatusAccepted, status)
	require.Equal(t, second["id"], again["id"], "and the key now protects the new one")
}

// API keys are stored as the SHA-256 of the key, and nothing else of it but its prefix.
func TestAPIKeyStoredHashed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	k, plain, err := b.db.CreateAPIKey(ctx, models.System, uniq("hashed"), models.ScopeIngest)
	require.NoError(t, err)
	var row string
	var hash []byte
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT hash, row_to_json(k)::text FROM api_keys k WHERE id = $1`, k.ID).Scan(&hash, &row))
	sum := sha256.Sum256([]byte(plain))
	require.Equal(t, sum[:], hash)
	require.NotContains(t, row, plain)
	require.NotContains(t, row, plain[len(k.Prefix):], "no part of the key past its shown prefix")
	require.True(t, strings.HasPrefix(plain, k.Prefix))
	// The hash alone does not authenticate.
	api := &apiClient{t: t, base: b.srv.URL, key: hex.EncodeToString(hash)}
	status, _ := api.call("GET", "/api/v1/event-types", nil)
	require.Equal(t, http.StatusUnauthorized, status)
	api.key = plain
	status, _ = api.call("GET", "/api/v1/event-types", nil)
	require.Equal(t, http.StatusOK, status)
}

// Every answer, page, API or error, carries the headers that keep it from being framed,
// sniffed or fed foreign scripts.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	staff, _ := signedIn(t, b, models.RoleStaff)
	api := newAPI(t, b, models.ScopeIngest)
	check := func(what string, h http.Header) {
		t.Helper()
		csp := h.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'self'"} {
			require.Contains(t, csp, d, what)
		}
		require.NotContains(t, csp, "unsafe-inline", what)
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), what)
		require.Equal(t, "DENY", h.Get("X-Frame-Options"), what)
		require.Equal(t, "same-origin", h.Get("Referrer-Policy"), what)
	}
	resp, _ := newBrowser(t, b).get("/signin")
	check("sign-in page", resp.Header)
	resp, _ = staff.get("/webhooks")
	check("a page", resp.Header)
	resp, _ = staff.get("/webhooks/wh_nope")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	check("an error page", resp.Header)
	r, _ := api.raw("GET", "/api/v1/event-types", nil)
	check("the API", r.Header)
	resp, _ = newBrowser(t, b).get("/static/app.css")
	check("a static file", resp.Header)
}

// Outside development the session cookie is Secure, HttpOnly and SameSite=Lax, and lives at
// most SessionMax: after it, the server refuses the cookie even if a client kept it.
func TestSessionCookieProduction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	max := 3 * time.Second
	s := web.New(web.Config{Development: false, BaseURL: "https://hooks.example.test", SecretKey: testKey, SessionMax: max, SessionIdle: time.Hour},
		b.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest("POST", srv.URL+"/signin", strings.NewReader(url.Values{"email": {u.Email}, "password": {pw}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	signingIn := time.Now()
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	signedIn := time.Now() // the session was made between signingIn and signedIn
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Value != "" && c.MaxAge >= 0 {
			session = c
		}
	}
	require.NotNil(t, session, "a session cookie")
	require.True(t, session.Secure, "Secure outside development")
	require.True(t, session.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, session.SameSite)
	require.Equal(t, int(max.Seconds()), session.MaxAge, "the browser keeps it at most SessionMax")

	get := func() int {
		req, err := http.NewRequest("GET", srv.URL+"/webhooks", nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	if time.Since(signedIn) < max-time.Second {
		require.Equal(t, http.StatusOK, get(), "a fresh session works")
	}
	// Used all along, it still ends at the maximum (its times are kept in whole seconds).
	waitFor(t, "the session to end", 15*time.Second, func() bool {
		sent := time.Since(signedIn)
		code := get()
		if code == http.StatusOK {
			require.Less(t, sent, max+1500*time.Millisecond, "the session outlived its maximum")
		}
		return code == http.StatusSeeOther
	})
	require.GreaterOrEqual(t, time.Since(signingIn), max-time.Second, "ended before its maximum")
}

// The admin routes nothing else reaches: a new event type, deprecating and undeprecating it,
// editing a partner and a course.
func TestAdminEditRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	admin, _ := signedIn(t, b, models.RoleAdmin)
	staff, _ := signedIn(t, b, models.RoleStaff)
	partner := mustCreatePartner(t, b.db)

	t.Run("EventTypeNewDeprecateUndeprecate", func(t *testing.T) {
		resp, body := admin.get("/admin/event-types/new")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="eventtype-form"`)
		name := "probe.t" + models.NewID("")[24:]
		resp, body = admin.post("/admin/event-types", url.Values{"name": {name}, "description": {"A probe."}, "sample": {`{"n": 1}`}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		et, err := b.db.FindEventTypeByName(ctx, name)
		require.NoError(t, err)
		require.JSONEq(t, `{"n": 1}`, string(et.Sample))

		resp, _ = admin.post("/admin/event-types/"+name+"/deprecate", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		et, err = b.db.FindEventTypeByName(ctx, name)
		require.NoError(t, err)
		require.True(t, et.Deprecated())
		f := webhookForm(partner.ID, uniq("probe"))
		f["event_types"] = []string{name}
		resp, body = staff.post("/webhooks", f)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "a deprecated type cannot be chosen")
		require.Contains(t, body, "deprecated")

		resp, _ = admin.post("/admin/event-types/"+name+"/undeprecate", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		et, err = b.db.FindEventTypeByName(ctx, name)
		require.NoError(t, err)
		require.False(t, et.Deprecated())
		resp, body = staff.post("/webhooks", f)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "chosen again once undeprecated: %s", body)

		resp, _ = staff.post("/admin/event-types/"+name+"/deprecate", url.Values{})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "admins only")
	})

	t.Run("PartnerEdit", func(t *testing.T) {
		resp, body := admin.get("/admin/partners/" + partner.ID + "/edit")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `value="`+partner.Name+`"`, "the form holds the current name")
		name := uniq("Renamed")
		resp, body = admin.post("/admin/partners/"+partner.ID, url.Values{"name": {name}, "description": {"Now with a description."}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		require.Equal(t, "/admin/partners/"+partner.ID, resp.Header.Get("Location"))
		p, err := b.db.FindPartnerByID(ctx, partner.ID)
		require.NoError(t, err)
		require.Equal(t, name, p.Name)
		require.Equal(t, "Now with a description.", p.Description)
		resp, body = admin.post("/admin/partners/"+partner.ID, url.Values{"name": {""}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, `data-testid="error-name"`)
		resp, _ = staff.get("/admin/partners/" + partner.ID + "/edit")
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})

	t.Run("CourseEdit", func(t *testing.T) {
		id := uniq("course")
		_, _, err := b.db.UpsertCourse(ctx, models.System, id, "Fire safety")
		require.NoError(t, err)
		resp, body := admin.get("/admin/courses/" + id + "/edit")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `value="Fire safety"`)
		resp, body = admin.post("/admin/courses/"+id, url.Values{"title": {"Fire safety, 2nd edition"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		c, err := b.db.FindCourseByID(ctx, id)
		require.NoError(t, err)
		require.Equal(t, "Fire safety, 2nd edition", c.Title)
		resp, _ = admin.get("/admin/courses/nope-" + id + "/edit")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

// The test panel's sample follows the chosen type; GET /api/v1/webhooks/{id} answers what the
// webhook is, without its secret.
func TestWebhookSampleAndAPIGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	staff, _ := signedIn(t, b, models.RoleStaff)
	h := mustCreateWebhook(t, b.db, mustCreatePartner(t, b.db).ID, models.WebhookInput{Name: ptr(uniq("sampled")), EventTypes: []string{"badge.awarded", "course.completed"},
		Method: ptr("PUT"), BatchWindow: ptr(42)})
	for _, typ := range []string{"badge.awarded", "course.completed"} {
		et, err := b.db.FindEventTypeByName(ctx, typ)
		require.NoError(t, err)
		var key string
		for k := range decodeObject(t, et.Sample) {
			key = k
			break
		}
		require.NotEmpty(t, key, "the catalogue's sample of %s has fields", typ)
		resp, body := staff.do("GET", "/webhooks/"+h.ID+"/sample?event_type="+typ, nil, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "&#34;"+key+"&#34;", "the sample of %s", typ)
		require.NotContains(t, body, "<html", "a fragment")
	}
	resp, _ := staff.get("/webhooks/" + h.ID + "/sample?event_type=no.such")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	api := newAPI(t, b, models.ScopeAdmin)
	status, got := api.call("GET", "/api/v1/webhooks/"+h.ID, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, h.ID, got["id"])
	require.Equal(t, h.PartnerID, got["partner_id"])
	require.Equal(t, h.Name, got["name"])
	require.Equal(t, h.URL, got["url"])
	require.Equal(t, "PUT", got["method"])
	require.EqualValues(t, 42, got["batch_window_seconds"])
	require.ElementsMatch(t, []any{"badge.awarded", "course.completed"}, got["event_types"])
	require.Equal(t, "active", got["state"])
	require.NotContains(t, got, "secret")
	secrets, err := b.db.RevealWebhookSecret(ctx, models.System, h.ID)
	require.NoError(t, err)
	raw, body := api.raw("GET", "/api/v1/webhooks/"+h.ID, nil)
	require.Equal(t, http.StatusOK, raw.StatusCode)
	require.NotContains(t, string(body), secrets.Current)
	status, _ = api.call("GET", "/api/v1/webhooks/wh_nope", nil)
	require.Equal(t, http.StatusNotFound, status)
}

// POST /api/v1/webhooks/{id}/resend-failed resends the failed messages in its range, and only
// those: one attempt each, with the same webhook-id.
func TestAPIResendFailedResends(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	startRunner(t, b.db)
	rc := newFlakyReceiver(t)
	rc.healthy.Store(true)
	h := mustCreateWebhook(t, b.db, mustCreatePartner(t, b.db).ID, models.WebhookInput{URL: ptr(rc.URL)})
	failed := func(at time.Time) string {
		id := models.NewID("msg_")
		_, err := b.db.Pool.Exec(ctx, `INSERT INTO messages (id, webhook_id, kind, state, payload, created_at, next_attempt_at, attempt_count, scheduled_attempts)
			VALUES ($1, $2, 'changes', 'failed', '{"id": "x"}', $3, NULL, 11, 11)`, id, h.ID, at)
		require.NoError(t, err)
		return id
	}
	inRange := failed(time.Now().Add(-time.Hour))
	before := failed(time.Now().Add(-72 * time.Hour))
	api := newAPI(t, b, models.ScopeAdmin)
	status, got := api.call("POST", "/api/v1/webhooks/"+h.ID+"/resend-failed", map[string]string{
		"from": time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339), "to": time.Now().Add(time.Minute).UTC().Format(time.RFC3339)})
	require.Equal(t, http.StatusAccepted, status, got)
	require.EqualValues(t, 1, got["resent"])
	waitFor(t, "the resend", 10*time.Second, func() bool {
		m, err := b.db.FindMessageByID(ctx, inRange)
		require.NoError(t, err)
		return m.State == models.MessageSucceeded
	})
	as, err := b.db.FindAttempts(ctx, inRange)
	require.NoError(t, err)
	require.Len(t, as, 1)
	require.Equal(t, models.TriggerResend, as[0].Trigger)
	require.Equal(t, inRange, rc.last.Load().(http.Header).Get("webhook-id"))
	m, err := b.db.FindMessageByID(ctx, before)
	require.NoError(t, err)
	require.Equal(t, models.MessageFailed, m.State, "outside the range: left alone")
}

func decodeObject(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// /metrics counts the events the API accepted, by type, and only those.
func TestMetricsEventsReceived(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	s := web.New(web.Config{Development: true, SecretKey: testKey, Registry: reg, Metrics: jobs.NewMetrics(reg, b.db)},
		b.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	api := newAPI(t, b, models.ScopeIngest)
	api.base = srv.URL
	status, _ := api.call("POST", "/api/v1/events", `{"events": [{"type": "badge.awarded"}, {"type": "badge.awarded"}, {"type": "course.completed"}]}`)
	require.Equal(t, http.StatusAccepted, status)
	status, _ = api.call("POST", "/api/v1/events", `{"type": "no.such.type"}`)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(body), `hookrelay_events_received_total{type="badge.awarded"} 2`)
	require.Contains(t, string(body), `hookrelay_events_received_total{type="course.completed"} 1`)
	require.NotContains(t, string(body), `no.such.type`, "refused events are not counted")
}

// cutProxy forwards TCP connections to target until cut, after which it refuses new ones and
// drops the ones open: the database, as this instance sees it, is gone.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// With the database out of reach, pages say so with a 503 page and the API with a 503
// problem, both with Retry-After; never a 500.
func TestUnavailablePages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	u, err := url.Parse(dbtest.URL())
	require.NoError(t, err)
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	db, err := models.Open(ctx, u.String(), 4)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	db.Sealer = testSealer
	s := web.New(web.Config{Development: true, SecretKey: testKey}, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	br, _ := signedIn(t, &bundle{db: b.db, srv: srv}, models.RoleStaff)
	api := newAPI(t, b, models.ScopeIngest)
	api.base = srv.URL
	resp, _ := br.get("/webhooks")
	require.Equal(t, http.StatusOK, resp.StatusCode, "up")

	proxy.cut()
	for _, path := range []string{"/webhooks", "/", "/deliveries"} {
		resp, body := br.get(path)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, path)
		require.NotEmpty(t, resp.Header.Get("Retry-After"), path)
		require.Contains(t, body, "The database cannot be reached", path)
	}
	r, body := api.raw("POST", "/api/v1/events", []byte(`{"type": "course.completed"}`))
	require.Equal(t, http.StatusServiceUnavailable, r.StatusCode, string(body))
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	require.EqualValues(t, 503, decodeObject(t, body)["status"])
}
