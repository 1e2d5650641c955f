package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
	"github.com/stretchr/testify/require"
)

// TestVerifySnippets runs the code panel of the webhook page: each language's receiver, as
// the page shows it, with the stock Standard Webhooks library of that language, gets a test
// notification that hookrelay signs and sends to it through a webhook; it must answer 204,
// and 400 to the same request with its body changed, with a signature made with another
// secret, with no or a malformed signature, or rightly signed 10 minutes ago; and, during a
// secret rotation, still 204 with the old secret.
//
// Go and Python run everywhere (Python's library is the stock source inside the Go module of
// github.com/standard-webhooks/standard-webhooks/libraries, standard library only, since PyPI
// may be out of reach); Node.js installs standardwebhooks from npm into a temporary directory
// and is skipped without node and npm; PHP uses the stock php/src of the same Go module
// through a composer-style autoloader and is skipped without php, except in CI, where
// .ci/run installs python3 and php-cli and their absence fails the test.
func TestVerifySnippets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	api := newAPI(t, b, models.ScopeAdmin)
	br, u := signedIn(t, b, models.RolePartner)
	shown := mustCreateWebhook(t, b.db, *u.PartnerID, models.WebhookInput{})
	resp, page := br.get("/webhooks/" + shown.ID)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lib := stockLibraries(t)
	staff, _ := signedIn(t, b, models.RoleStaff)
	_, staffPage := staff.get("/webhooks/" + shown.ID)
	for _, s := range views.Snippets() {
		require.Equal(t, s.Code, preText(t, staffPage, "snippet-code-"+s.Key), "staff see the same panel")
	}

	for _, s := range views.Snippets() {
		t.Run(s.Key, func(t *testing.T) {
			t.Parallel()
			code := preText(t, page, "snippet-code-"+s.Key)
			require.Equal(t, s.Code, code, "the page shows the snippet file as it is")
			require.NotRegexp(t, `whsec_[A-Za-z0-9+/]{8}`, code, "no secret in the code")
			require.Contains(t, code, views.SecretVariable)
			install := preText(t, page, "snippet-install-"+s.Key)
			require.Contains(t, page, s.Package)
			require.Contains(t, page, s.Version)

			dir := t.TempDir()
			port := freePort(t)
			cmd := prepareSnippet(t, s.Key, dir, code, install, lib, port)
			secret := newTestSecret(t)
			cmd.Dir = dir
			cmd.Env = append(append(os.Environ(), cmd.Env...), views.SecretVariable+"="+secret, "PORT="+port)
			startReceiver(t, cmd, port)

			rec := &recordingProxy{target: "http://127.0.0.1:" + port}
			proxy := httptest.NewServer(rec)
			t.Cleanup(proxy.Close)
			hook := mustCreateWebhook(t, b.db, *u.PartnerID, models.WebhookInput{URL: ptr(proxy.URL + "/hooks"), Secret: &secret})

			// A real test notification, signed and sent by hookrelay, is accepted.
			require.Equal(t, 204, sendTest(t, api, hook.ID), "the receiver accepts hookrelay's request")
			got := rec.last(t)
			require.Contains(t, string(got.body), `"test":true`)
			require.Equal(t, 204, got.replay(t, nil, nil), "the same request again")

			// The same request tampered with is refused.
			changed := bytes.Replace(got.body, []byte(`"test":true`), []byte(`"test":false`), 1)
			require.Equal(t, 400, got.replay(t, changed, nil), "body changed")
			ts, err := strconv.ParseInt(got.header.Get("webhook-timestamp"), 10, 64)
			require.NoError(t, err)
			wrong, err := jobs.Sign([]string{newTestSecret(t)}, got.header.Get("webhook-id"), time.Unix(ts, 0), got.body)
			require.NoError(t, err)
			require.Equal(t, 400, got.replay(t, nil, map[string]string{"webhook-signature": wrong}), "signed with another secret")
			require.Equal(t, 400, got.replay(t, nil, map[string]string{"webhook-signature": ""}), "no signature")
			require.Equal(t, 400, got.replay(t, nil, map[string]string{"webhook-signature": "garbage"}), "a malformed signature")
			// Rightly signed, but 10 minutes ago: a replayed old request.
			old := time.Now().Add(-10 * time.Minute)
			stale, err := jobs.Sign([]string{secret}, got.header.Get("webhook-id"), old, got.body)
			require.NoError(t, err)
			require.Equal(t, 400, got.replay(t, nil, map[string]string{"webhook-signature": stale, "webhook-timestamp": strconv.FormatInt(old.Unix(), 10)}),
				"signed 10 minutes ago")

			// After a rotation hookrelay signs with both secrets for a day: a receiver that
			// still has the old one accepts.
			status, _ := api.call("POST", "/api/v1/webhooks/"+hook.ID+"/secret/rotate", nil)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, 204, sendTest(t, api, hook.ID), "the old secret during the rotation's overlap")
			require.Len(t, strings.Fields(rec.last(t).header.Get("webhook-signature")), 2)
		})
	}
}

// stockLibraries is the directory of the Go module github.com/standard-webhooks/standard-webhooks/libraries
// as go.mod pins it, which holds the stock Python and PHP libraries too.
func stockLibraries(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/standard-webhooks/standard-webhooks/libraries").Output()
	require.NoError(t, err, "go mod download")
	var m struct{ Dir, Version string }
	require.NoError(t, json.Unmarshal(out, &m))
	require.Equal(t, "v0.0.1", m.Version)
	require.DirExists(t, m.Dir)
	return m.Dir
}

// needTool skips the test without tool, or fails it in CI when CI must have it.
func needTool(t *testing.T, tool, apt string, inCI bool) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	if inCI && os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; .ci/run should have installed %s", tool, apt)
	}
	t.Skipf("%s is not installed (apt-get install %s): this snippet is not run here", tool, apt)
	return ""
}

// prepareSnippet writes the code into dir with its library as the install line says, and
// returns the command that runs the receiver on port.
func prepareSnippet(t *testing.T, key, dir, code, install, lib, port string) *exec.Cmd {
	t.Helper()
	run := func(name string, args ...string) {
		t.Helper()
		c := exec.Command(name, args...)
		c.Dir = dir
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	}
	write := func(name, text string) {
		t.Helper()
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	switch key {
	case "go":
		// A module of its own, as a user would make it, with the library the install line names.
		write("main.go", code)
		run("go", "mod", "init", "example.com/receiver")
		require.Equal(t, "go get github.com/standard-webhooks/standard-webhooks/libraries@v0.0.1", install)
		run("go", strings.Fields(install)[1:]...)
		run("go", "build", "-o", "receiver", ".")
		return exec.Command(filepath.Join(dir, "receiver"))
	case "node":
		node := needTool(t, "node", "nodejs", false)
		needTool(t, "npm", "npm", false)
		write("receiver.mjs", code)
		require.Equal(t, "npm install standardwebhooks@1.1.1", install)
		run("npm", append(strings.Fields(install)[1:], "--no-audit", "--no-fund", "--loglevel=error")...)
		pkg, err := os.ReadFile(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json"))
		require.NoError(t, err)
		require.Contains(t, string(pkg), `"version": "1.1.1"`)
		return exec.Command(node, "receiver.mjs")
	case "python":
		python := needTool(t, "python3", "python3", true)
		write("receiver.py", code)
		// PyPI may be out of reach: the stock library's source, of the version the install
		// line names, goes on PYTHONPATH instead.
		require.Equal(t, "pip install standardwebhooks==1.0.1", install)
		initPy, err := os.ReadFile(filepath.Join(lib, "python", "standardwebhooks", "__init__.py"))
		require.NoError(t, err)
		require.Contains(t, string(initPy), `__version__ = "1.0.1"`)
		cmd := exec.Command(python, "receiver.py")
		cmd.Env = []string{"PYTHONPATH=" + filepath.Join(lib, "python"), "PYTHONDONTWRITEBYTECODE=1"}
		return cmd
	case "php":
		php := needTool(t, "php", "php-cli", true)
		write("receiver.php", code)
		// The stock source, loaded as composer's autoloader would by the package's composer.json.
		composer, err := os.ReadFile(filepath.Join(lib, "composer.json"))
		require.NoError(t, err)
		var c struct {
			Name     string
			Autoload struct {
				PSR4 map[string]string `json:"psr-4"`
			}
		}
		require.NoError(t, json.Unmarshal(composer, &c))
		require.Equal(t, "composer require "+c.Name, install)
		src := c.Autoload.PSR4[`StandardWebhooks\`]
		require.NotEmpty(t, src)
		write("vendor/autoload.php", fmt.Sprintf(`<?php
spl_autoload_register(function ($class) {
    $prefix = 'StandardWebhooks\\';
    if (strncmp($class, $prefix, strlen($prefix)) === 0) {
        require %q . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    }
});
`, filepath.Join(lib, src)+"/"))
		// Without a php.ini: PHP's built-in defaults print warnings into the answer, which
		// sends the headers early, the harshest setup a receiver may meet.
		return exec.Command(php, "-n", "-S", "127.0.0.1:"+port, "receiver.php")
	}
	t.Fatalf("no way to run the %s snippet", key)
	return nil
}

// startReceiver starts cmd and waits until it accepts connections on port; it is stopped
// when the test ends.
func startReceiver(t *testing.T, cmd *exec.Cmd, port string) {
	t.Helper()
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("receiver output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("the receiver stopped: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver did not listen on %s within 60 s: %s", port, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort finds a port for a receiver to listen on, below the kernel's range of ephemeral
// ports: one from that range could be given to one of the many connections the package's
// other tests open between this look and the receiver's listen (Node's then failed with
// EADDRINUSE in CI).
func freePort(t *testing.T) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				low = n
			}
		}
	}
	span := min(low-1024, 10000)
	for range 100 {
		port := strconv.Itoa(low - 1 - mrand.IntN(span))
		// Every address, as Node's receiver listens.
		if l, err := net.Listen("tcp", ":"+port); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

func newTestSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// sendTest sends a test notification of course.completed through the API and returns what
// the receiver answered.
func sendTest(t *testing.T, api *apiClient, hookID string) int {
	t.Helper()
	status, m := api.call("POST", "/api/v1/webhooks/"+hookID+"/test", map[string]any{"event_type": "course.completed"})
	require.Equal(t, http.StatusOK, status, m)
	a := m["attempt"].(map[string]any)
	got, ok := a["response_status"].(float64)
	require.True(t, ok, "no response: %v", a["error"])
	return int(got)
}

// recordingProxy passes requests on to target and keeps the last one as it came.
type recordingProxy struct {
	target string
	mu     sync.Mutex
	req    *recordedRequest
}

type recordedRequest struct {
	method, url string
	header      http.Header
	body        []byte
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	rec := &recordedRequest{method: r.Method, url: p.target + r.URL.RequestURI(), header: r.Header.Clone(), body: body}
	p.mu.Lock()
	p.req = rec
	p.mu.Unlock()
	status, answer, err := rec.send(r.Context(), body, rec.header)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

func (p *recordingProxy) last(t *testing.T) *recordedRequest {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NotNil(t, p.req, "nothing reached the receiver")
	return p.req
}

func (r *recordedRequest) send(ctx context.Context, body []byte, header http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = header.Clone()
	req.Header.Del("Content-Length")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, answer, err
}

// replay sends the recorded request again straight to the receiver, with body instead of
// its own when given, and the headers given set (an empty value removes the header).
func (r *recordedRequest) replay(t *testing.T, body []byte, set map[string]string) int {
	t.Helper()
	if body == nil {
		body = r.body
	}
	h := r.header.Clone()
	for k, v := range set {
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
	}
	status, _, err := r.send(context.Background(), body, h)
	require.NoError(t, err)
	return status
}
