package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/stretchr/testify/require"
)

// syncBuffer collects a command's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// serveOnce runs `hookrelay serve` as main does, waits until it answers, calls check with its
// URL and its output so far, then stops it like Ctrl-C would.
func serveOnce(t *testing.T, env map[string]string, check func(url, out string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, envOf(env), strings.NewReader(""), out, io.Discard) }()
	re := regexp.MustCompile(`hookrelay is running at (\S+)`)
	var url string
	deadline := time.Now().Add(90 * time.Second)
	for url == "" {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d:\n%s", code, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "serve did not start:\n%s", out.String())
	}
	check(url, out.String())
	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code, "clean shutdown")
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}

func TestServePrivateCluster(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"HOOKRELAY_DATA_DIR": dir, "HOOKRELAY_ADDR": "127.0.0.1:0"}

	var password string
	serveOnce(t, env, func(url, out string) {
		m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
		require.NotNil(t, m, "the first start prints the admin's password:\n%s", out)
		password = m[1]
		resp, err := http.Get(url + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp, err = http.Get(url + "/metrics")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, series := range []string{"hookrelay_backlog_messages 0", "hookrelay_webhooks_disabled 0", "hookrelay_webhooks_failing 0", "hookrelay_attempt_duration_seconds_bucket", "go_goroutines"} {
			require.Contains(t, string(body), series)
		}
	})
	require.NotEmpty(t, password)

	serveOnce(t, env, func(url, out string) {
		require.NotContains(t, out, "password:", "the second start reuses the cluster and prints no new password")
		jar, _ := cookiejar.New(nil)
		resp, err := (&http.Client{Jar: jar}).PostForm(url+"/signin", map[string][]string{"email": {"admin@example.com"}, "password": {password}})
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "signed in")
		require.Equal(t, "/account/password", resp.Request.URL.Path, "the printed password was set by someone else: it must be changed first")
	})

	// The other commands work against the same private cluster.
	var out syncBuffer
	code := run(context.Background(), []string{"apikey", "create", "--name", "LMS", "--scope", "ingest"}, envOf(env), nil, &out, io.Discard)
	require.Equal(t, 0, code, out.String())
	require.Regexp(t, `^hrk_\S+\n$`, out.String())

	out = syncBuffer{}
	code = run(context.Background(), []string{"user", "create", "--email", "staff@example.com", "--role", "staff", "--password-stdin"},
		envOf(env), strings.NewReader("a long enough password\n"), &out, io.Discard)
	require.Equal(t, 0, code, out.String())
	require.Contains(t, out.String(), "created staff user staff@example.com")
	serveOnce(t, env, func(url, out string) {
		jar, _ := cookiejar.New(nil)
		resp, err := (&http.Client{Jar: jar}).PostForm(url+"/signin", map[string][]string{"email": {"staff@example.com"}, "password": {"a long enough password"}})
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "/", resp.Request.URL.Path, "a password given on standard input is the user's own")
	})

	var errOut syncBuffer
	code = run(context.Background(), []string{"user", "create", "--email", "p@example.com", "--role", "partner", "--partner", "Nobody Inc"},
		envOf(env), nil, io.Discard, &errOut)
	require.Equal(t, 1, code)
	require.Contains(t, errOut.String(), `no partner named "Nobody Inc"`)
}

func TestBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"ErrMalformedDatabaseURL", map[string]string{"DATABASE_URL": "postgres://u:hunter2@host:notaport/db", "HOOKRELAY_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}, "DATABASE_URL is not a valid PostgreSQL URL"},
		{"ErrProductionNeedsKey", map[string]string{"DATABASE_URL": "postgres://localhost/db"}, "HOOKRELAY_SECRET_KEY is required in production"},
		{"ErrBadKey", map[string]string{"HOOKRELAY_SECRET_KEY": "c2hvcnQ="}, "HOOKRELAY_SECRET_KEY is not valid"},
		{"ErrBadDuration", map[string]string{"HOOKRELAY_RETRY_BASE": "soon"}, `HOOKRELAY_RETRY_BASE="soon" is not valid`},
		{"ErrBadCount", map[string]string{"HOOKRELAY_RETRY_COUNT": "-1"}, `HOOKRELAY_RETRY_COUNT="-1" is not valid`},
		{"ErrBadEnv", map[string]string{"HOOKRELAY_ENV": "staging"}, `HOOKRELAY_ENV="staging" is not valid`},
		{"ErrBadBool", map[string]string{"HOOKRELAY_ALLOW_PRIVATE_TARGETS": "maybe"}, `HOOKRELAY_ALLOW_PRIVATE_TARGETS="maybe" is not valid`},
		{"ErrBadConcurrency", map[string]string{"HOOKRELAY_WEBHOOK_CONCURRENCY": "0"}, `HOOKRELAY_WEBHOOK_CONCURRENCY="0" is not valid`},
		{"ErrSMTPScheme", map[string]string{"HOOKRELAY_SMTP_URL": "http://u:hunter2@mail.example:25", "HOOKRELAY_MAIL_FROM": "a@example.com"}, `HOOKRELAY_SMTP_URL is not valid: scheme "http": want smtp:// or smtps://`},
		{"ErrSMTPPort", map[string]string{"HOOKRELAY_SMTP_URL": "smtp://u:hunter2@mail.example:99999", "HOOKRELAY_MAIL_FROM": "a@example.com"}, `HOOKRELAY_SMTP_URL is not valid: port "99999"`},
		{"ErrSMTPNotURL", map[string]string{"HOOKRELAY_SMTP_URL": "smtp://u:hunter2@mail example:25", "HOOKRELAY_MAIL_FROM": "a@example.com"}, `HOOKRELAY_SMTP_URL is not valid: not a URL`},
		{"ErrSMTPNeedsFrom", map[string]string{"HOOKRELAY_SMTP_URL": "smtp://u:hunter2@mail.example"}, "HOOKRELAY_MAIL_FROM is required with HOOKRELAY_SMTP_URL"},
		{"ErrBadProxies", map[string]string{"HOOKRELAY_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}, `HOOKRELAY_TRUSTED_PROXIES is not valid: "proxy.internal" is neither an address nor a CIDR range`},
		{"ErrBadMailFrom", map[string]string{"HOOKRELAY_MAIL_FROM": "not an address"}, `HOOKRELAY_MAIL_FROM="not an address" is not valid`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errOut syncBuffer
			code := run(context.Background(), []string{"migrate"}, envOf(tc.env), nil, io.Discard, &errOut)
			require.Equal(t, 2, code)
			require.Contains(t, errOut.String(), tc.want)
			require.NotContains(t, errOut.String(), "hunter2", "passwords stay out of messages")
		})
	}

	t.Run("Defaults", func(t *testing.T) {
		c, err := loadConfig(envOf(nil))
		require.NoError(t, err)
		require.True(t, c.Development)
		require.True(t, c.AllowPrivate)
		require.Equal(t, "127.0.0.1:8080", c.Addr)
		require.Equal(t, 20*time.Second, c.RetryBase)
		require.Equal(t, time.Hour, c.RetryMax)
		require.Equal(t, 10, c.RetryCount)
		require.Equal(t, 15*time.Second, c.DeliveryTimeout)
		require.Equal(t, 8*time.Hour, c.VerifyInterval)
		require.Equal(t, 3, c.VerifyThreshold)
		require.Equal(t, 720*time.Hour, c.Retention)
		require.Equal(t, 20, c.PerWebhook)
		require.Nil(t, c.SMTP, "no mail unless HOOKRELAY_SMTP_URL is set")

		c, err = loadConfig(envOf(map[string]string{"DATABASE_URL": "postgres://localhost/db", "HOOKRELAY_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}))
		require.NoError(t, err)
		require.False(t, c.Development, "production when DATABASE_URL is set")
		require.False(t, c.AllowPrivate)
	})

	t.Run("Mail", func(t *testing.T) {
		c, err := loadConfig(envOf(map[string]string{"HOOKRELAY_SMTP_URL": "smtps://mailer:p%40ss@mail.example", "HOOKRELAY_MAIL_FROM": "hookrelay <noreply@example.com>"}))
		require.NoError(t, err)
		require.Equal(t, jobs.SMTPServer{Host: "mail.example", Port: 465, TLS: true, User: "mailer", Password: "p@ss"}, *c.SMTP)
		require.Equal(t, `"hookrelay" <noreply@example.com>`, c.MailFrom)
		require.Equal(t, "smtps://mailer@mail.example:465", c.SMTP.String(), "the log line leaves the password out")
		c, err = loadConfig(envOf(map[string]string{"HOOKRELAY_SMTP_URL": "smtp://mail.example:2525", "HOOKRELAY_MAIL_FROM": "noreply@example.com"}))
		require.NoError(t, err)
		require.Equal(t, jobs.SMTPServer{Host: "mail.example", Port: 2525}, *c.SMTP)
	})

	t.Run("ErrUnknownCommand", func(t *testing.T) {
		var errOut syncBuffer
		require.Equal(t, 2, run(context.Background(), []string{"frobnicate"}, envOf(nil), nil, io.Discard, &errOut))
		require.Contains(t, errOut.String(), "unknown command")
	})
}
