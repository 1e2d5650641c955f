package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var testSealer, _ = models.NewSealer([]byte("0123456789abcdef0123456789abcdef"))

func testDB(t *testing.T) *models.DB {
	db := dbtest.DB(t)
	db.Sealer = testSealer
	return db
}

var quiet = slog.New(slog.NewTextHandler(logOut(), &slog.HandlerOptions{Level: slog.LevelWarn}))

func logOut() io.Writer {
	if os.Getenv("JOBS_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// startRunner runs a Runner with a fast schedule until the test ends. The tests of this
// package do not run in parallel: each runner would deliver the others' messages on its own
// schedule.
func startRunner(t *testing.T, db *models.DB, cfg jobs.Config) *jobs.Runner {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Retry.Base == 0 {
		cfg.Retry = jobs.RetryPolicy{Base: 50 * time.Millisecond, Max: 400 * time.Millisecond, Count: 10}
	}
	cfg.AllowPrivate = true
	cfg.Version = "test"
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	r := jobs.NewRunner(db, testSealer, cfg, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-r.Running()
	return r
}

// received is one request that reached a test receiver.
type received struct {
	At     time.Time
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is a real HTTP server on loopback that records requests and answers with the
// status that status() gives.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status func(n int) int
	notify chan struct{}
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	rc := &receiver{status: status, notify: make(chan struct{}, 1)}
	if rc.status == nil {
		rc.status = func(int) int { return http.StatusOK }
	}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{At: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		n := len(rc.got)
		rc.mu.Unlock()
		select {
		case rc.notify <- struct{}{}:
		default:
		}
		code := rc.status(n)
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustPartner(t *testing.T, db *models.DB) *models.Partner {
	t.Helper()
	p, err := db.CreatePartner(context.Background(), models.System, models.PartnerInput{Name: models.Ptr("Partner " + models.NewID(""))})
	require.NoError(t, err)
	return p
}

func ptr[T any](v T) *T { return &v }

// mustWebhook makes an active webhook to url subscribed to all event types, with a zero batch
// window unless in says otherwise.
func mustWebhook(t *testing.T, db *models.DB, url string, in models.WebhookInput) *models.Webhook {
	t.Helper()
	if in.PartnerID == nil {
		in.PartnerID = &mustPartner(t, db).ID
	}
	in.Name = ptr("hook " + models.NewID(""))
	in.URL = &url
	if in.EventTypes == nil {
		in.EventTypes = []string{"*"}
	}
	if in.BatchWindow == nil {
		in.BatchWindow = ptr(0)
	}
	w, err := db.CreateWebhook(context.Background(), models.System, in, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.DeleteWebhook(context.Background(), models.System, w.ID) })
	return w
}

func event(typ, object, objectID string, at time.Time, data string) models.NewEvent {
	e := models.NewEvent{Type: typ, Action: "update", OccurredAt: at, Data: json.RawMessage(data)}
	if object != "" {
		e.Object = &object
	}
	if objectID != "" {
		e.ObjectID = &objectID
	}
	return e
}

func ingest(t *testing.T, db *models.DB, evs ...models.NewEvent) []models.Event {
	t.Helper()
	out, err := db.IngestEvents(context.Background(), evs, time.Now(), func(i int, f string) string { return f })
	require.NoError(t, err)
	return out
}
