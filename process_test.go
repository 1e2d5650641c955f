package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/hookrelay/hookrelay/web"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var procKey = []byte("process-test-key-0123456789abcde")

// buildBinary compiles hookrelay once for the tests that run it as a separate process.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hookrelay-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hookrelay")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// instance is hookrelay running as its own process against the test database.
type instance struct {
	cmd *exec.Cmd
	url string
	out *syncBuffer
}

func startInstance(t *testing.T, extraEnv ...string) *instance {
	t.Helper()
	bin, err := buildBinary()
	require.NoError(t, err)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbtest.URL(),
		"HOOKRELAY_SECRET_KEY="+base64.StdEncoding.EncodeToString(procKey),
		"HOOKRELAY_ADDR=127.0.0.1:0",
		"HOOKRELAY_ALLOW_PRIVATE_TARGETS=true",
		"HOOKRELAY_DELIVERY_TIMEOUT=1s",
		"HOOKRELAY_RETRY_BASE=100ms",
		"HOOKRELAY_RETRY_MAX=400ms",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	inst := &instance{cmd: cmd, out: &syncBuffer{}}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = inst.out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	re := regexp.MustCompile(`hookrelay is running at (\S+)`)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			inst.url = m[1]
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	require.NotEmpty(t, inst.url, "instance did not start:\n%s", inst.out.String())
	return inst
}

// tally is a receiver's count of what arrived.
type tally struct {
	mu       sync.Mutex
	events   map[string]int // event id → times received
	webhooks map[string]int // webhook-id → times received
	ids      map[string]string
	under    map[string]map[string]bool // event id → the webhook-ids it came under
	last     time.Time                  // when the latest request arrived
}

func newTally() *tally {
	return &tally{events: map[string]int{}, webhooks: map[string]int{}, ids: map[string]string{}, under: map[string]map[string]bool{}}
}

func (ta *tally) handler(delay time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID string `json:"id"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		time.Sleep(delay) // a receiver that takes a moment, so that deliveries are in flight
		ta.mu.Lock()
		ta.events[body.ID]++
		ta.last = time.Now()
		wid := r.Header.Get("webhook-id")
		if ta.under[body.ID] == nil {
			ta.under[body.ID] = map[string]bool{}
		}
		ta.under[body.ID][wid] = true
		ta.webhooks[wid]++
		if prev, ok := ta.ids[wid]; ok && prev != body.ID {
			ta.ids[wid] = "MISMATCH"
		} else {
			ta.ids[wid] = body.ID
		}
		ta.mu.Unlock()
	})
}

func (ta *tally) counts() (events, deliveries, repeated int, mismatched bool) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	for _, n := range ta.webhooks {
		deliveries += n
		repeated += n - 1
	}
	for _, id := range ta.ids {
		mismatched = mismatched || id == "MISMATCH"
	}
	return len(ta.events), deliveries, repeated, mismatched
}

// newIDs counts the events that came under more than one webhook-id: each is a message made
// twice, which receivers that de-duplicate on webhook-id would process twice.
func (ta *tally) newIDs() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	n := 0
	for _, ids := range ta.under {
		n += len(ids) - 1
	}
	return n
}

func (ta *tally) has(id string) bool {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return ta.events[id] > 0
}

// mustEventWebhook makes a webhook that gets one message per event, so each event id names
// one delivery.
func mustEventWebhook(t *testing.T, url string) string { return mustEventWebhookWindow(t, url, 0) }

// mustEventWebhookWindow is mustEventWebhook with a batch window of window seconds; it returns
// the webhook's id.
func mustEventWebhookWindow(t *testing.T, url string, window int) string {
	t.Helper()
	db := dbtest.DB(t)
	sealer, err := models.NewSealer(web.DeriveKey(procKey, "stored secrets"))
	require.NoError(t, err)
	db.Sealer = sealer
	ctx := context.Background()
	p, err := db.CreatePartner(ctx, models.System, models.PartnerInput{Name: models.Ptr("Partner " + models.NewID(""))})
	require.NoError(t, err)
	name, format := "hook", models.FormatEvent
	w, err := db.CreateWebhook(ctx, models.System, models.WebhookInput{PartnerID: &p.ID, Name: &name, URL: &url, Format: &format,
		BatchWindow: &window, EventTypes: []string{"course.completed"}}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.DeleteWebhook(context.Background(), models.System, w.ID) })
	return w.ID
}

func mustIngestKey(t *testing.T) string {
	_, key, err := dbtest.DB(t).CreateAPIKey(context.Background(), models.System, "load", models.ScopeIngest)
	require.NoError(t, err)
	return key
}

// postBatch posts n events and returns their ids, or nil when the instance did not accept them.
func postBatch(base, key string, n int, tag string) []string {
	objects := make([]string, n)
	for i := range objects {
		objects[i] = fmt.Sprintf("%s-%d", tag, i)
	}
	return postObjects(base, key, objects)
}

// postObjects posts one event for each object id, in one request, and returns their ids, or nil
// when the instance did not accept them.
func postObjects(base, key string, objects []string) []string {
	evs := make([]map[string]any, len(objects))
	for i, o := range objects {
		evs[i] = map[string]any{"type": "course.completed", "object": "enrolment", "object_id": o}
	}
	b, _ := json.Marshal(map[string]any{"events": evs})
	req, _ := http.NewRequest("POST", base+"/api/v1/events", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil
	}
	var out struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil
	}
	ids := make([]string, len(out.Events))
	for i, e := range out.Events {
		ids[i] = e.ID
	}
	return ids
}

func waitAll(t *testing.T, ta *tally, ids []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, id := range ids {
		for !ta.has(id) {
			if time.Now().After(deadline) {
				ev, del, _, _ := ta.counts()
				t.Fatalf("event %s never arrived (%d of %d events arrived, %d deliveries)", id, ev, len(ids), del)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestCrashRecovery kills an instance with SIGKILL in the middle of delivering and checks that
// every accepted event still arrives, repeats carrying the same webhook-id.
func TestCrashRecovery(t *testing.T) {
	total := 3000
	if testing.Short() {
		total = 600
	}
	ta := newTally()
	rc := httptest.NewServer(ta.handler(2 * time.Millisecond))
	defer rc.Close()
	mustEventWebhook(t, rc.URL)
	key := mustIngestKey(t)

	a := startInstance(t)
	var accepted []string
	for i := 0; len(accepted) < total/2; i++ {
		ids := postBatch(a.url, key, 100, fmt.Sprintf("a%d", i))
		require.NotNil(t, ids)
		accepted = append(accepted, ids...)
	}
	// Kill it while it is delivering what it accepted.
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	_ = a.cmd.Wait()
	ev, _, _, _ := ta.counts()
	t.Logf("killed with %d of %d accepted events delivered", ev, len(accepted))

	b := startInstance(t)
	for i := 0; len(accepted) < total; i++ {
		ids := postBatch(b.url, key, 100, fmt.Sprintf("b%d", i))
		require.NotNil(t, ids)
		accepted = append(accepted, ids...)
	}
	waitAll(t, ta, accepted, 90*time.Second)
	events, deliveries, repeated, mismatched := ta.counts()
	require.False(t, mismatched, "a repeated webhook-id always carried the same body")
	require.Equal(t, len(accepted), events)
	require.Zero(t, ta.newIDs(), "no event came under two webhook-ids")
	msg := fmt.Sprintf("crash test: accepted %d, delivered %d distinct events in %d requests, repeated %d (same webhook-id), 0 under a new id", len(accepted), events, deliveries, repeated)
	t.Log(msg)
	fmt.Println(msg)
}

// TestKilledInstanceTakenOver kills an instance while it holds a webhook's whole in-flight cap
// at a receiver that has not answered yet, with the production timeout of 15 s: another
// instance takes the webhook's messages over within seconds (not after the lease, which must
// outlast a slow request), repeating the interrupted ones under their first webhook-id.
func TestKilledInstanceTakenOver(t *testing.T) {
	ta := newTally()
	answer := ta.handler(0)
	var mu sync.Mutex
	held := map[string]string{} // event id → webhook-id of the requests the killed instance made
	holding := true
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hold := holding
		if hold {
			var body struct {
				ID string `json:"id"`
			}
			b, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(b, &body)
			held[body.ID] = r.Header.Get("webhook-id")
		}
		mu.Unlock()
		if hold {
			<-r.Context().Done() // answered by nobody: the instance that asked dies first
			return
		}
		answer.ServeHTTP(w, r)
	}))
	defer rc.Close()
	mustEventWebhook(t, rc.URL)
	key := mustIngestKey(t)

	a := startInstance(t, "HOOKRELAY_DELIVERY_TIMEOUT=15s")
	accepted := postBatch(a.url, key, 100, "takeover")
	require.Len(t, accepted, 100)
	heldCount := func() int { mu.Lock(); defer mu.Unlock(); return len(held) }
	deadline := time.Now().Add(30 * time.Second)
	for heldCount() < 20 {
		require.True(t, time.Now().Before(deadline), "the first instance did not fill the webhook's cap (%d in flight)", heldCount())
		time.Sleep(10 * time.Millisecond)
	}
	b := startInstance(t, "HOOKRELAY_DELIVERY_TIMEOUT=15s")
	_ = b
	mu.Lock()
	require.Len(t, held, 20, "no more than the cap in flight")
	holding = false
	killed := time.Now()
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	mu.Unlock()
	_ = a.cmd.Wait()

	deadline = time.Now().Add(30 * time.Second)
	for {
		ta.mu.Lock()
		first := ta.last
		ta.mu.Unlock()
		if !first.IsZero() {
			took := first.Sub(killed)
			t.Logf("first delivery %s after the kill", took.Round(time.Millisecond))
			require.Less(t, took, 5*time.Second, "taken over within seconds, not after the lease")
			break
		}
		require.True(t, time.Now().Before(deadline), "nothing was delivered after the kill")
		time.Sleep(10 * time.Millisecond)
	}
	waitAll(t, ta, accepted, 60*time.Second)
	_, _, _, mismatched := ta.counts()
	require.False(t, mismatched, "a repeated webhook-id always carried the same body")
	require.Zero(t, ta.newIDs(), "no event came under two webhook-ids")
	ta.mu.Lock()
	defer ta.mu.Unlock()
	for ev, wid := range held {
		require.Equal(t, map[string]bool{wid: true}, ta.under[ev], "event %s was sent again under its first webhook-id", ev)
	}
}

// TestTwoInstances runs two instances against one database, posting to both, with two
// webhooks (batch windows 0 and 1 s) and events that often share an object, so that both
// instances flush the same webhooks at the same moments and collapse changes: every event that
// is not superseded reaches each webhook, under exactly one webhook-id, and no message is made
// twice or delivered twice.
func TestTwoInstances(t *testing.T) {
	total := 4000
	if testing.Short() {
		total = 1000
	}
	ctx := context.Background()
	db := dbtest.DB(t)
	tallies := map[string]*tally{}
	for _, window := range []int{0, 1} {
		ta := newTally()
		rc := httptest.NewServer(ta.handler(0))
		defer rc.Close()
		tallies[mustEventWebhookWindow(t, rc.URL, window)] = ta
	}
	key := mustIngestKey(t)
	a, b := startInstance(t), startInstance(t)
	// Four posters per instance, ten events a post: many small flushes of the same webhooks
	// on both instances at once.
	var wg sync.WaitGroup
	for i := range 8 {
		inst := []*instance{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < total/8/10; j++ {
				objects := make([]string, 10)
				for k := range objects {
					objects[k] = fmt.Sprint("two-", (i*7+j*13+k*31)%400) // 400 objects, each posted about ten times
				}
				if postObjects(inst.url, key, objects) == nil {
					t.Errorf("instance %d did not accept a post", i%2)
					return
				}
			}
		}()
	}
	wg.Wait()
	require.False(t, t.Failed())

	// Settled: nothing pending, nothing waiting or in flight.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var open int
		require.NoError(t, db.Pool.QueryRow(ctx, `
			SELECT (SELECT count(*) FROM changes WHERE state = 'pending') + (SELECT count(*) FROM messages WHERE state <> 'succeeded')`).Scan(&open))
		if open == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d changes and messages still open", open)
		time.Sleep(50 * time.Millisecond)
	}
	for webhookID, ta := range tallies {
		rows, err := db.Pool.Query(ctx, `SELECT event_id, message_id FROM changes WHERE webhook_id = $1 AND state = 'sent'`, webhookID)
		require.NoError(t, err)
		sent := map[string]string{}
		for rows.Next() {
			var ev, msg string
			require.NoError(t, rows.Scan(&ev, &msg))
			sent[ev] = msg
		}
		require.NoError(t, rows.Err())
		var messages int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE webhook_id = $1`, webhookID).Scan(&messages))
		require.Equal(t, len(sent), messages, "one message per kept change, none made twice")
		events, deliveries, repeated, _ := ta.counts()
		require.Zero(t, ta.newIDs(), "no event came under two webhook-ids")
		require.Equal(t, len(sent), events, "every kept change arrived, nothing superseded did")
		for ev, msg := range sent {
			require.Equal(t, map[string]bool{msg: true}, ta.under[ev], "event %s came under its message's webhook-id", ev)
		}
		require.Zero(t, repeated, "no message was delivered twice")
		t.Logf("two instances, webhook %s: %d events posted, %d kept and delivered in %d requests", webhookID, total, events, deliveries)
	}
}

// TestGracefulShutdown stops an instance with SIGTERM while deliveries are in flight: it waits
// for them and records their outcome before it exits, hands back what it had not started, and
// the next instance delivers the rest without repeating any.
func TestGracefulShutdown(t *testing.T) {
	ta := newTally()
	started := make(chan struct{}, 1000)
	slow := ta.handler(300 * time.Millisecond)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		slow.ServeHTTP(w, r)
	}))
	defer rc.Close()
	mustEventWebhook(t, rc.URL)
	key := mustIngestKey(t)

	a := startInstance(t, "HOOKRELAY_DELIVERY_TIMEOUT=5s")
	accepted := postBatch(a.url, key, 200, "graceful")
	require.Len(t, accepted, 200)
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery started")
	}
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	exited := make(chan error, 1)
	go func() { exited <- a.cmd.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "a clean exit:\n%s", a.out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("instance did not stop within 30 s of SIGTERM")
	}

	_, deliveries, _, _ := ta.counts()
	require.Positive(t, deliveries)
	require.Less(t, deliveries, len(accepted), "the test stopped it midway")
	db := dbtest.DB(t)
	var recorded, delivering int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM attempts a JOIN messages m ON m.id = a.message_id WHERE a.success AND m.url_suffix = '' AND convert_from(m.payload, 'UTF8') LIKE '%graceful-%'),
		       (SELECT count(*) FROM messages WHERE state = 'delivering')`).Scan(&recorded, &delivering))
	require.Equal(t, deliveries, recorded, "every request that went out has its attempt recorded")
	require.Zero(t, delivering, "nothing left claimed")

	startInstance(t)
	waitAll(t, ta, accepted, 60*time.Second)
	events, deliveries, repeated, _ := ta.counts()
	require.Equal(t, len(accepted), events)
	require.Zero(t, repeated, "nothing in flight at shutdown was sent again")
	t.Logf("graceful shutdown: %d events, %d deliveries, none repeated", events, deliveries)
}

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
