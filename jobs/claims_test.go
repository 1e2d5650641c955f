package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/jobs"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
)

// The retry policy as a table: the n-th retry's gap, capped, shortened by at most 10 %, and
// none after Count.
func TestRetryPolicyNext(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		policy jobs.RetryPolicy
		n      int
		gap    time.Duration // 0: no retry
	}{
		{"First", jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 10}, 1, 20 * time.Second},
		{"Doubles", jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 10}, 4, 160 * time.Second},
		{"EighthUnderCap", jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 10}, 8, 2560 * time.Second},
		{"Capped", jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 10}, 9, time.Hour},
		{"Last", jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 10}, 10, time.Hour},
		{"UsedUp", jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 10}, 11, 0},
		{"NoRetries", jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 0}, 1, 0},
		{"BaseOverMax", jobs.RetryPolicy{Base: 2 * time.Hour, Max: time.Hour, Count: 3}, 1, time.Hour},
		{"NoOverflow", jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 200}, 100, time.Hour},
		{"ShiftOverflow", jobs.RetryPolicy{Base: 20 * time.Second, Max: time.Hour, Count: 200}, 37, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[time.Time]bool{}
			for range 200 {
				next, ok := tc.policy.Next(tc.n, at)
				if tc.gap == 0 {
					require.False(t, ok)
					return
				}
				require.True(t, ok)
				gap := next.Sub(at)
				require.LessOrEqual(t, gap, tc.gap, "never later than the schedule")
				require.GreaterOrEqual(t, gap, tc.gap*9/10, "at most 10 %% jitter")
				seen[next] = true
			}
			require.Greater(t, len(seen), 1, "jittered, so that retries spread out")
		})
	}
}

// The old secret signs alongside the new one for 24 hours after a rotation, and not after.
func TestRotationOverlapEnds(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{EventTypes: []string{"badge.revoked"}})
	before, err := db.RevealWebhookSecret(ctx, models.System, w.ID)
	require.NoError(t, err)
	start := time.Now()
	rotated, err := db.RotateWebhookSecret(ctx, models.System, w.ID)
	require.NoError(t, err)
	w, err = db.FindWebhookByID(ctx, w.ID)
	require.NoError(t, err)
	require.NotNil(t, w.PreviousSecretExpiresAt)
	until := *w.PreviousSecretExpiresAt
	require.WithinDuration(t, start.Add(24*time.Hour), until, 5*time.Second, "the overlap is 24 hours")

	// What signs a request made at a given time.
	sender := jobs.NewSender(testSealer, "test", time.Second, true)
	d := &models.Delivery{MessageID: "msg_x", Payload: []byte(`{}`), Webhook: *w}
	for _, tc := range []struct {
		at   time.Time
		want []string
	}{
		{start, []string{rotated.Current, before.Current}},
		{until.Add(-time.Second), []string{rotated.Current, before.Current}},
		{until, []string{rotated.Current}},
		{until.Add(time.Hour), []string{rotated.Current}},
	} {
		req, err := sender.RequestFor(d, models.TriggerSchedule, tc.at)
		require.NoError(t, err)
		require.Equal(t, tc.want, req.Secrets, "at %s", tc.at)
	}

	// A real delivery once the overlap has ended carries one signature, by the new secret.
	_, err = db.Pool.Exec(ctx, `UPDATE webhooks SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1`, w.ID)
	require.NoError(t, err)
	startRunner(t, db, jobs.Config{})
	ingest(t, db, event("badge.revoked", "badge", "rot-1", time.Now(), `{}`))
	waitFor(t, "the delivery", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
	got := rc.requests()[0]
	require.Len(t, strings.Fields(got.Header.Get("webhook-signature")), 1)
	fresh, err := standardwebhooks.NewWebhook(rotated.Current)
	require.NoError(t, err)
	require.NoError(t, fresh.Verify(got.Body, got.Header))
	old, err := standardwebhooks.NewWebhook(before.Current)
	require.NoError(t, err)
	require.Error(t, old.Verify(got.Body, got.Header), "the old secret no longer signs")
	revealed, err := db.RevealWebhookSecret(ctx, models.System, w.ID)
	require.NoError(t, err)
	require.Empty(t, revealed.Previous, "nor is it shown")
}

// Each attempt is signed afresh: the same body and webhook-id, a new webhook-timestamp, and a
// signature over that timestamp that a stock library accepts.
func TestFreshTimestampPerAttempt(t *testing.T) {
	db := testDB(t)
	rc := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{EventTypes: []string{"badge.revoked"}})
	secrets, err := db.RevealWebhookSecret(context.Background(), models.System, w.ID)
	require.NoError(t, err)
	// The retry comes more than a second later, so its timestamp (in seconds) must differ.
	startRunner(t, db, jobs.Config{Retry: jobs.RetryPolicy{Base: 1200 * time.Millisecond, Max: 2 * time.Second, Count: 2}})
	ingest(t, db, event("badge.revoked", "badge", "ts-1", time.Now(), `{}`))
	waitFor(t, "the retry", 15*time.Second, func() bool { return len(rc.requests()) == 2 })
	got := rc.requests()
	wh, err := standardwebhooks.NewWebhook(secrets.Current)
	require.NoError(t, err)
	var stamps []int64
	for _, r := range got {
		require.NoError(t, wh.Verify(r.Body, r.Header))
		ts, err := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		require.NoError(t, err)
		require.InDelta(t, r.At.Unix(), ts, 1, "the timestamp is the attempt's")
		stamps = append(stamps, ts)
	}
	require.Equal(t, got[0].Header.Get("webhook-id"), got[1].Header.Get("webhook-id"))
	require.Equal(t, got[0].Body, got[1].Body)
	require.Greater(t, stamps[1], stamps[0])
	require.NotEqual(t, got[0].Header.Get("webhook-signature"), got[1].Header.Get("webhook-signature"))
}

// A disabled webhook keeps collecting changes; re-enabled, it delivers them collapsed.
func TestDisabledWebhookKeepsChanges(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	rc := newReceiver(t, nil)
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{EventTypes: []string{"objective.became_ok"}})
	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookDisabled, Reason: "the endpoint answered 410 Gone"}))
	startRunner(t, db, jobs.Config{})
	for i := range 3 {
		ingest(t, db, event("objective.became_ok", "objective", "same", time.Now().Add(time.Duration(i)*time.Second), fmt.Sprintf(`{"v":%d}`, i)))
	}
	evs := ingest(t, db, event("objective.became_ok", "objective", "other", time.Now(), `{}`))
	ds, err := db.FindEventDeliveries(ctx, evs[0].ID)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, "pending", ds[0].State, "collected while disabled")

	require.NoError(t, db.SetWebhookState(ctx, models.System, w.ID, models.StateChange{State: models.WebhookActive, Backlog: models.BacklogDeliver}))
	waitFor(t, "the backlog", 10*time.Second, func() bool { return len(rc.requests()) == 1 })
	var body models.BatchPayload
	require.NoError(t, json.Unmarshal(rc.requests()[0].Body, &body))
	require.Len(t, body.Changes, 2, "collapsed per object")
	for _, c := range body.Changes {
		if *c.ObjectID == "same" {
			require.JSONEq(t, `{"v":2}`, string(c.Data))
		}
	}
}

// A resend makes exactly one attempt, whatever its outcome: a message that succeeded, resent
// to a receiver that now fails, is failed after that one attempt, although its schedule has
// retries left.
func TestResendOneAttempt(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	var failing atomic.Bool
	rc := newReceiver(t, func(int) int {
		if failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	w := mustWebhook(t, db, rc.URL, models.WebhookInput{EventTypes: []string{"institute.imported"}})
	startRunner(t, db, jobs.Config{Retry: jobs.RetryPolicy{Base: 50 * time.Millisecond, Max: 100 * time.Millisecond, Count: 5}})
	ingest(t, db, event("institute.imported", "institute", "resend-1", time.Now(), `{}`))
	var msgID string
	waitFor(t, "the message to succeed", 10*time.Second, func() bool {
		ms, _, err := db.FindMessages(ctx, models.MessageFilter{WebhookID: w.ID})
		require.NoError(t, err)
		if len(ms) == 1 && ms[0].State == models.MessageSucceeded {
			msgID = ms[0].ID
			return true
		}
		return false
	})

	failing.Store(true)
	_, err := db.ResendMessage(ctx, models.System, msgID)
	require.NoError(t, err)
	waitFor(t, "the resend to be recorded", 10*time.Second, func() bool {
		m, err := db.FindMessageByID(ctx, msgID)
		require.NoError(t, err)
		return m.AttemptCount == 2
	})
	m, err := db.FindMessageByID(ctx, msgID)
	require.NoError(t, err)
	require.Equal(t, models.MessageFailed, m.State, "failed, not retrying")
	require.Nil(t, m.NextAttemptAt)
	as, err := db.FindAttempts(ctx, msgID)
	require.NoError(t, err)
	require.Len(t, as, 2)
	triggers := []string{as[0].Trigger, as[1].Trigger}
	require.ElementsMatch(t, []string{models.TriggerSchedule, models.TriggerResend}, triggers)
	reqs := rc.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, reqs[0].Header.Get("webhook-id"), reqs[1].Header.Get("webhook-id"))
	require.Equal(t, reqs[0].Body, reqs[1].Body)
}

// The retention loop, as the runner runs it: data past retention goes, what is still needed
// stays, without anyone calling RetentionBatch.
func TestRetentionLoop(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	w := mustWebhook(t, db, "http://127.0.0.1:9/retention-loop", models.WebhookInput{EventTypes: []string{"training.imported"}})
	old := time.Now().Add(-40 * 24 * time.Hour)
	finished, err := db.CreateTestMessage(ctx, models.NewID("msg_"), w.ID, "training.imported", []byte(`{}`), "", old)
	require.NoError(t, err)
	require.NoError(t, db.RecordAttempt(ctx, models.AttemptResult{MessageID: finished.ID, WebhookID: w.ID, Trigger: models.TriggerTest,
		StartedAt: old, URL: w.URL, Method: "POST", Success: true, Status: 200}, nil))
	recent, err := db.CreateTestMessage(ctx, models.NewID("msg_"), w.ID, "training.imported", []byte(`{}`), "", time.Now())
	require.NoError(t, err)
	require.NoError(t, db.RecordAttempt(ctx, models.AttemptResult{MessageID: recent.ID, WebhookID: w.ID, Trigger: models.TriggerTest,
		StartedAt: time.Now(), URL: w.URL, Method: "POST", Success: true, Status: 200}, nil))
	var oldMail, queuedMail, recentMail int64
	for _, m := range []struct {
		id    *int64
		state string
		at    time.Time
	}{{&oldMail, "sent", old}, {&queuedMail, "queued", old}, {&recentMail, "sent", time.Now()}} {
		require.NoError(t, db.Pool.QueryRow(ctx, `
			INSERT INTO mails (kind, partner_id, webhook_id, webhook_name, since, recipient, state, created_at, next_attempt_at)
			VALUES ('webhook.disabled', $1, $2, 'x', $3, 'ops@example.com', $4, $3, now() + interval '1 day') RETURNING id`,
			w.PartnerID, w.ID, m.at, m.state).Scan(m.id))
	}
	// A fresh schedule: the first look finds the clean-up due.
	_, err = db.Pool.Exec(ctx, `DELETE FROM schedules WHERE name = 'retention'`)
	require.NoError(t, err)

	startRunner(t, db, jobs.Config{Retention: 30 * 24 * time.Hour, RetentionEvery: 24 * time.Hour})
	waitFor(t, "the old message and the old mail to go", 10*time.Second, func() bool {
		_, err := db.FindMessageByID(ctx, finished.ID)
		var mails int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM mails WHERE id = $1`, oldMail).Scan(&mails))
		return err != nil && mails == 0
	})
	_, err = db.FindMessageByID(ctx, finished.ID)
	require.ErrorIs(t, err, models.ErrNotFound)
	as, err := db.FindAttempts(ctx, finished.ID)
	require.NoError(t, err)
	require.Empty(t, as, "its attempts go with it")
	_, err = db.FindMessageByID(ctx, recent.ID)
	require.NoError(t, err, "recent messages stay")
	var left []int64
	rows, err := db.Pool.Query(ctx, `SELECT id FROM mails WHERE id = ANY($1) ORDER BY id`, []int64{oldMail, queuedMail, recentMail})
	require.NoError(t, err)
	left, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.Equal(t, []int64{queuedMail, recentMail}, left, "an old sent mail goes; one still queued, and a recent one, stay")
}

// The delivery counters move with each attempt, by outcome, and the gauges read the database.
func TestMetricsMove(t *testing.T) {
	db := testDB(t)
	reg := prometheus.NewRegistry()
	m := jobs.NewMetrics(reg, db)
	rc := newReceiver(t, func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	mustWebhook(t, db, rc.URL, models.WebhookInput{EventTypes: []string{"group_member.added"}})
	ingest(t, db, event("group_member.added", "member", "m-1", time.Now(), `{}`))
	// Before any runner: the change waits, and the gauge reads the database's figure.
	backlog, err := db.FindBacklog(context.Background())
	require.NoError(t, err)
	require.GreaterOrEqual(t, backlog.PendingChanges, int64(1))
	require.Equal(t, float64(backlog.PendingChanges), metric(t, reg, "hookrelay_backlog_changes", ""))
	startRunner(t, db, jobs.Config{Metrics: m})
	waitFor(t, "the retry to succeed", 10*time.Second, func() bool { return metric(t, reg, "hookrelay_deliveries_total", "succeeded") == 1 })
	require.Equal(t, 1.0, metric(t, reg, "hookrelay_deliveries_total", "failed"))
	require.Equal(t, 0.0, metric(t, reg, "hookrelay_deliveries_total", "error"))
	require.Equal(t, 2.0, metric(t, reg, "hookrelay_attempt_duration_seconds", ""), "both attempts timed")
	// The gauge reads the whole database (other tests' messages included): the same figure, once
	// the last attempt is recorded (the counter moves when the answer comes, before that).
	waitFor(t, "the gauge to read the backlog", 5*time.Second, func() bool {
		backlog, err := db.FindBacklog(context.Background())
		require.NoError(t, err)
		return backlog.WaitingMessages == 0 && metric(t, reg, "hookrelay_backlog_messages", "") == 0
	})
}

// metric reads a series of reg: a counter or gauge's value, a histogram's count; label, when
// set, is the value of the series' one label.
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// Test notifications do not count towards disabling: successful ones between failed
// verification calls do not spare the endpoint as real deliveries would.
func TestTestNotificationsDoNotSpare(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	vr := newVerifyReceiver(t, func(int) bool { return false })
	w := mustWebhook(t, db, vr.URL+"/tests-only", models.WebhookInput{EventTypes: []string{"account.created"}})
	sender := jobs.NewSender(testSealer, "test", time.Second, true)
	startRunner(t, db, jobs.Config{VerifyInterval: 300 * time.Millisecond, VerifyThreshold: 3})
	sent := 0
	waitFor(t, "the webhook to be disabled", 20*time.Second, func() bool {
		// A test notification, sent and recorded as the test panel does, after each call.
		if n := finishedVerifications(t, db, w.ID); n > sent {
			sent = n
			m, err := db.CreateTestMessage(ctx, models.NewID("msg_"), w.ID, "account.created", []byte(`{}`), "", time.Now())
			require.NoError(t, err)
			req, err := sender.RequestFor(&models.Delivery{MessageID: m.ID, Kind: models.KindTest, Payload: m.Payload, Webhook: *w}, models.TriggerTest, time.Now())
			require.NoError(t, err)
			res := sender.Send(ctx, req)
			require.True(t, res.Success, "the receiver accepts what is not a verification call")
			require.NoError(t, db.RecordAttempt(ctx, res, nil))
		}
		h, err := db.FindWebhookByID(ctx, w.ID)
		require.NoError(t, err)
		return h.State == models.WebhookDisabled
	})
	require.GreaterOrEqual(t, sent, 2, "test notifications went out between the failed calls")
	require.Equal(t, 3, finishedVerifications(t, db, w.ID), "disabled at the third failed call, as if no test had been sent")
}

// The pool's series tell how full it is, and how often and how long work waited because no
// connection was idle.
func TestPoolMetrics(t *testing.T) {
	ctx := context.Background()
	testDB(t) // migrated
	db, err := models.Open(ctx, dbtest.URL(), 2)
	require.NoError(t, err)
	defer db.Close()
	reg := prometheus.NewRegistry()
	jobs.RegisterPoolMetrics(reg, db)
	db.Pool.Reset() // Open checked the database on a connection: start from none
	acquires, empties := metric(t, reg, "hookrelay_db_acquires_total", ""), metric(t, reg, "hookrelay_db_empty_acquires_total", "")

	a, err := db.Pool.Acquire(ctx) // none idle: opens one
	require.NoError(t, err)
	defer a.Release()              // a second release does nothing; a failing test must not leave Close waiting
	b, err := db.Pool.Acquire(ctx) // and another
	require.NoError(t, err)
	defer b.Release()
	require.Equal(t, 2.0, metric(t, reg, "hookrelay_db_connections", "acquired"))
	require.Equal(t, 0.0, metric(t, reg, "hookrelay_db_connections", "idle"))
	require.Equal(t, 2.0, metric(t, reg, "hookrelay_db_max_connections", ""))
	a.Release()
	c, err := db.Pool.Acquire(ctx) // the idle one: no wait
	require.NoError(t, err)
	defer c.Release()
	b.Release()
	c.Release()

	require.Equal(t, acquires+3, metric(t, reg, "hookrelay_db_acquires_total", ""))
	require.Equal(t, empties+2, metric(t, reg, "hookrelay_db_empty_acquires_total", ""), "the two that opened a connection")
	wait := metric(t, reg, "hookrelay_db_empty_acquire_wait_seconds_total", "")
	require.Greater(t, wait, 0.0)
	require.Equal(t, db.Pool.Stat().EmptyAcquireWaitTime().Seconds(), wait)
	require.Equal(t, 2.0, metric(t, reg, "hookrelay_db_connections", "idle"), "both back in the pool")
	require.Equal(t, 0.0, metric(t, reg, "hookrelay_db_connections", "acquired"))
}
