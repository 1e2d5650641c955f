package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

// tcpProxy stands between hookrelay and PostgreSQL so that a test can cut the database off
// (every connection dropped, new ones refused) and bring it back, as a restart or a network
// failure would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *tcpProxy) pipe(c net.Conn) {
	defer p.forget(c)
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[s] = struct{}{}
	p.mu.Unlock()
	defer p.forget(s)
	go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
	_, _ = io.Copy(c, s)
}

func (p *tcpProxy) forget(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// cut drops every connection; setDown(true) also refuses new ones until setDown(false).
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *tcpProxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cut()
	}
}

// TestDatabaseOutage cuts an instance off from PostgreSQL: the API says 503 (not a hang, not
// a 500), readiness fails, and once the database is back the instance carries on by itself,
// delivering what it accepted before and accepting again.
func TestDatabaseOutage(t *testing.T) {
	ta := newTally()
	rc := httptest.NewServer(ta.handler(0))
	defer rc.Close()
	mustEventWebhook(t, rc.URL)
	key := mustIngestKey(t)

	u, err := url.Parse(dbtest.URL())
	require.NoError(t, err)
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	inst := startInstance(t, "DATABASE_URL="+u.String())

	before := postBatch(inst.url, key, 50, "outage-before")
	require.Len(t, before, 50)
	waitAll(t, ta, before, 30*time.Second)

	proxy.setDown(true)
	client := &http.Client{Timeout: 30 * time.Second}
	req, _ := http.NewRequest("POST", inst.url+"/api/v1/events", bytes.NewReader([]byte(`{"type": "course.completed"}`)))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	require.NoError(t, err, "an answer, not a hang")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	resp, err = client.Get(inst.url + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	proxy.setDown(false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(inst.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		require.True(t, time.Now().Before(deadline), "the instance did not become ready again")
		time.Sleep(50 * time.Millisecond)
	}
	after := postBatch(inst.url, key, 50, "outage-after")
	require.Len(t, after, 50)
	waitAll(t, ta, append(before, after...), 30*time.Second)
}
