package web_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/hookrelay/hookrelay/web"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	os.Exit(dbtest.Main(&checkedM{m}))
}

// checkedM fails the run when the API tests made no request that the OpenAPI document check saw.
type checkedM struct{ *testing.M }

func (c *checkedM) Run() int {
	code := c.M.Run()
	if code == 0 && (validatedRequests.Load() == 0 || validatedResponses.Load() == 0) && !testing.Short() && runAll() {
		println("no API request or response was checked against the OpenAPI document")
		return 1
	}
	return code
}

// runAll reports whether the whole package ran (no -run filter), when the count must be above 0.
func runAll() bool {
	f := flag.Lookup("test.run")
	return f == nil || f.Value.String() == ""
}

// testKey is a fixed instance key for tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

type bundle struct {
	db  *models.DB
	srv *httptest.Server
}

var testSealer, _ = models.NewSealer(web.DeriveKey(testKey, "stored secrets"))

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{db: dbtest.DB(t)}
	b.db.Sealer = testSealer
	srv := httptest.NewServer(validatingAPI(t, setupServer(t, b).Handler()))
	t.Cleanup(srv.Close)
	b.srv = srv
	return b
}

// setupServer makes the Server of the tests on b's database.
func setupServer(t *testing.T, b *bundle) *web.Server {
	t.Helper()
	db := b.db
	return web.New(web.Config{Development: true, BaseURL: "http://example.test", SecretKey: testKey, Version: "test",
		Targets: jobs.TargetPolicy{AllowPrivate: true}, Sender: jobs.NewSender(testSealer, "test", 2*time.Second, true)},
		db, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// uniq makes names unique across the tests of this package, which share one database.
func uniq(prefix string) string {
	return prefix + "-" + models.NewID("")[20:]
}

func mustCreateUser(t *testing.T, db *models.DB, role, partnerID string) (*models.User, string) {
	t.Helper()
	password := "correct horse battery"
	u, err := db.CreateUser(context.Background(), models.System, models.NewUser{Email: uniq(role) + "@example.com", Role: role, PartnerID: partnerID, Password: password, OwnPassword: true})
	require.NoError(t, err)
	return u, password
}

func mustCreatePartner(t *testing.T, db *models.DB) *models.Partner {
	t.Helper()
	p, err := db.CreatePartner(context.Background(), models.System, models.PartnerInput{Name: models.Ptr(uniq("Partner"))})
	require.NoError(t, err)
	return p
}

// browser is an HTTP client that keeps cookies and does not follow redirects, and sends the
// Sec-Fetch-Site header a real browser sends for same-origin form posts.
type browser struct {
	t    *testing.T
	base string
	addr string // the loopback address it connects from
	c    *http.Client
}

func newBrowser(t *testing.T, b *bundle) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	// Each browser comes from its own loopback address, as people do from their own machines:
	// failed sign-ins are throttled per client address too, and the tests make many.
	n := browserAddrs.Add(1)
	local := &net.TCPAddr{IP: net.IPv4(127, byte(1+n/62500), byte(n/250%250), byte(2+n%250))}
	transport := &http.Transport{DialContext: (&net.Dialer{LocalAddr: local}).DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	return &browser{t: t, base: b.srv.URL, addr: local.IP.String(), c: &http.Client{Jar: jar, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var browserAddrs atomic.Int64

func (br *browser) do(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	br.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, br.base+path, body)
	require.NoError(br.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := br.c.Do(req)
	require.NoError(br.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(br.t, err)
	return resp, string(b)
}

func (br *browser) get(path string) (*http.Response, string) { return br.do("GET", path, nil, nil) }

func (br *browser) post(path string, form url.Values) (*http.Response, string) {
	return br.do("POST", path, form, nil)
}

func (br *browser) signIn(email, password string) {
	br.t.Helper()
	resp, body := br.post("/signin", url.Values{"email": {email}, "password": {password}})
	require.Equal(br.t, http.StatusSeeOther, resp.StatusCode, body)
}

func signedIn(t *testing.T, b *bundle, role string) (*browser, *models.User) {
	t.Helper()
	partnerID := ""
	if role == models.RolePartner {
		partnerID = mustCreatePartner(t, b.db).ID
	}
	u, pw := mustCreateUser(t, b.db, role, partnerID)
	br := newBrowser(t, b)
	br.signIn(u.Email, pw)
	return br, u
}

func ptr[T any](v T) *T { return &v }

// mustCreateWebhook makes a webhook of partnerID to a URL nobody listens on.
func mustCreateWebhook(t *testing.T, db *models.DB, partnerID string, in models.WebhookInput) *models.Webhook {
	t.Helper()
	in.PartnerID = &partnerID
	if in.Name == nil {
		in.Name = ptr(uniq("hook"))
	}
	if in.URL == nil {
		in.URL = ptr("http://127.0.0.1:9/hooks")
	}
	if in.EventTypes == nil {
		in.EventTypes = []string{"*"}
	}
	h, err := db.CreateWebhook(context.Background(), models.System, in, nil)
	require.NoError(t, err)
	return h
}

// strictServer serves the same database with production's target rules.
func strictServer(t *testing.T, b *bundle) *browser {
	s := web.New(web.Config{Development: true, SecretKey: testKey, Targets: jobs.TargetPolicy{RequireHTTPS: true}},
		b.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	sb := &bundle{db: b.db, srv: srv}
	br, _ := signedIn(t, sb, models.RoleStaff)
	return br
}

var runnerOnce sync.Once

// startRunner runs one delivery runner for the whole package, with a fast retry schedule; the
// tests' webhooks share it as instances would.
func startRunner(t *testing.T, db *models.DB) {
	runnerOnce.Do(func() {
		r := jobs.NewRunner(db, testSealer, jobs.Config{Workers: 20, Timeout: 2 * time.Second, AllowPrivate: true, Version: "test",
			Retry: jobs.RetryPolicy{Base: 300 * time.Millisecond, Max: time.Second, Count: 3}, PollInterval: 200 * time.Millisecond},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		go func() { r.Run(context.Background()) }()
		<-r.Running()
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// doRaw sends a body of any content type, as a same-origin browser would.
func (br *browser) doRaw(method, path, contentType string, body []byte) (*http.Response, string) {
	br.t.Helper()
	req, err := http.NewRequest(method, br.base+path, bytes.NewReader(body))
	require.NoError(br.t, err)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := br.c.Do(req)
	require.NoError(br.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(br.t, err)
	return resp, string(b)
}
