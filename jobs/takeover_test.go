package jobs_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

// A request that takes many heartbeats stays with the live instance that makes it: the other
// instance does not send the message again while it waits.
func TestLiveInstanceKeepsSlowDelivery(t *testing.T) {
	db := testDB(t)
	var mu sync.Mutex
	var got []string
	release := make(chan struct{})
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a client gone only once the body is read
		mu.Lock()
		got = append(got, r.Header.Get("webhook-id"))
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer rc.Close()
	mustWebhook(t, db, rc.URL, models.WebhookInput{})
	cfg := jobs.Config{InstanceTimeout: time.Second, Timeout: 20 * time.Second}
	startRunner(t, db, cfg)
	startRunner(t, db, cfg)

	ingest(t, db, event("training.updated", "training", "slow", time.Now(), `{}`))
	requests := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	waitFor(t, "the request", 10*time.Second, func() bool { return requests() == 1 })
	// Four instance timeouts pass while the request waits, both instances beating meanwhile.
	ctx := context.Background()
	var t0 time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT now()`).Scan(&t0))
	waitFor(t, "four instance timeouts to pass", 15*time.Second, func() bool {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM instances WHERE seen_at > $1`,
			t0.Add(4*cfg.InstanceTimeout)).Scan(&n))
		return n == 2
	})
	require.Equal(t, 1, requests(), "not taken over while its instance lives")
	close(release)
	var state string
	waitFor(t, "the attempt to be recorded", 10*time.Second, func() bool {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT state FROM messages WHERE id = $1`, got[0]).Scan(&state))
		return state == models.MessageSucceeded
	})
	require.Equal(t, 1, requests())
}

// Messages that an instance was delivering when it died go back in the queue once it has not
// been seen for the instance timeout, and are sent with their webhook-id; a test notification
// that died with its sender is failed (they are never repeated).
func TestDeadInstanceReleased(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{})
	ingest(t, db, event("training.updated", "training", "orphan", time.Now(), `{}`))
	waitFor(t, "the message", 10*time.Second, func() bool {
		_, _, err := db.FlushBatch(ctx, w.ID, time.Now(), nil)
		require.NoError(t, err)
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE webhook_id = $1`, w.ID).Scan(&n))
		return n == 1
	})
	// An instance that claimed it and was last seen a minute ago, with an hour of lease left.
	_, err := db.Pool.Exec(ctx, `INSERT INTO instances (id, seen_at) VALUES ('ins_dead', now() - interval '1 minute')`)
	require.NoError(t, err)
	ds, err := db.ClaimDueMessages(ctx, "ins_dead", time.Now(), 10, 20, time.Hour, nil)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	test, err := db.CreateTestMessage(ctx, models.NewID("msg_"), w.ID, "training.updated", []byte(`{}`), "", time.Now().Add(-time.Hour))
	require.NoError(t, err)

	startRunner(t, db, jobs.Config{InstanceTimeout: 300 * time.Millisecond})
	waitFor(t, "the dead instance's message", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
	require.Equal(t, ds[0].MessageID, rc.requests()[0].Header.Get("webhook-id"))
	m, err := db.FindMessageByID(ctx, test.ID)
	require.NoError(t, err)
	require.Equal(t, models.MessageFailed, m.State)
	require.Contains(t, m.LastError, "interrupted")
	require.Len(t, rc.requests(), 1, "the test notification was not sent again")
}

// A key revoked in one instance stops working at once in every other: each runner listens for
// revocations, so a key kept in memory does not outlive its revocation by the cache's TTL.
func TestRevocationReachesOtherInstances(t *testing.T) {
	ctx := context.Background()
	testDB(t) // migrated
	open := func() *models.DB {
		db, err := models.Open(ctx, dbtest.URL(), 4)
		require.NoError(t, err)
		t.Cleanup(db.Close)
		db.Sealer = testSealer
		db.APIKeyCacheTTL = time.Hour
		return db
	}
	a, b := open(), open()
	r := startRunner(t, a, jobs.Config{})
	<-r.Listening()
	k, secret, err := b.CreateAPIKey(ctx, models.System, "revoked elsewhere", models.ScopeIngest)
	require.NoError(t, err)
	_, err = a.FindAPIKeyBySecret(ctx, secret)
	require.NoError(t, err)
	_, err = b.RevokeAPIKey(ctx, models.System, k.ID)
	require.NoError(t, err)
	waitFor(t, "the other instance to refuse the revoked key", 5*time.Second, func() bool {
		_, err := a.FindAPIKeyBySecret(ctx, secret)
		return errors.Is(err, models.ErrNotFound)
	})
}
