package web_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
)

// flakyReceiver answers 500 until healthy is set, then 200 with a small JSON body.
type flakyReceiver struct {
	*httptest.Server
	healthy atomic.Bool
	hits    atomic.Int64
	last    atomic.Value // http.Header
	body    atomic.Value // []byte
}

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	fr := &flakyReceiver{}
	fr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fr.last.Store(r.Header.Clone())
		fr.body.Store(b)
		fr.hits.Add(1)
		if !fr.healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`<h1>down for maintenance</h1><script>alert(1)</script>`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"received": true}`))
	}))
	t.Cleanup(fr.Close)
	return fr
}

func TestDeliveryLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	startRunner(t, b.db)
	admin, _ := signedIn(t, b, models.RoleAdmin)
	partner := mustCreatePartner(t, b.db)
	rc := newFlakyReceiver(t)
	h := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{URL: ptr(rc.URL + "/in"), BatchWindow: ptr(0), EventTypes: []string{"institute.updated"}})
	api := newAPI(t, b, models.ScopeIngest)

	// An event posted to the API shows up in the log, with its failing attempts.
	status, ev := api.call("POST", "/api/v1/events", `{"type": "institute.updated", "object": "institute", "object_id": "log-1", "course_id": "c-9"}`)
	require.Equal(t, http.StatusAccepted, status)
	var msgID string
	waitFor(t, "the message to be retrying", 10*time.Second, func() bool {
		rows, _, err := b.db.FindMessages(ctx, models.MessageFilter{WebhookID: h.ID, ObjectID: "log-1"})
		require.NoError(t, err)
		if len(rows) == 1 && rows[0].State == models.MessageRetrying {
			msgID = rows[0].ID
			return true
		}
		return false
	})
	// Paused, the webhook's message stays retrying while the filters look for it; the runner
	// would otherwise take it to delivering between one request and the next.
	require.NoError(t, b.db.SetWebhookState(ctx, models.System, h.ID, models.StateChange{State: models.WebhookPaused}))
	waitFor(t, "the message to settle as retrying", 10*time.Second, func() bool {
		m, err := b.db.FindMessageByID(ctx, msgID)
		require.NoError(t, err)
		return m.State == models.MessageRetrying
	})
	_, body := admin.get("/deliveries?webhook_id=" + h.ID + "&object_id=log-1")
	require.Contains(t, body, `data-testid="message-`+msgID+`"`)
	_, body = admin.get("/deliveries?course_id=c-9&state=retrying")
	require.Contains(t, body, msgID)
	_, body = admin.get("/deliveries?event_type=badge.awarded&webhook_id=" + h.ID)
	require.NotContains(t, body, msgID)

	_, body = admin.get("/messages/" + msgID)
	require.Contains(t, body, `data-testid="next-attempt"`)
	require.Contains(t, body, "down for maintenance")
	require.NotContains(t, body, "<script>alert(1)</script>", "the receiver's answer is escaped")
	require.Contains(t, body, ev["id"].(string)[:8])
	require.Contains(t, body, "Webhook-Signature: v1,", "the headers sent are shown")

	// The retries run out: failed. The receiver recovers; the admin resends.
	require.NoError(t, b.db.SetWebhookState(ctx, models.System, h.ID, models.StateChange{State: models.WebhookActive, Backlog: models.BacklogDeliver}))
	waitFor(t, "the message to fail", 20*time.Second, func() bool {
		m, err := b.db.FindMessageByID(ctx, msgID)
		require.NoError(t, err)
		return m.State == models.MessageFailed
	})
	rc.healthy.Store(true)
	resp, _ := admin.post("/messages/"+msgID+"/resend", url.Values{})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	waitFor(t, "the resend to succeed", 10*time.Second, func() bool {
		m, err := b.db.FindMessageByID(ctx, msgID)
		require.NoError(t, err)
		return m.State == models.MessageSucceeded
	})
	require.Equal(t, msgID, rc.last.Load().(http.Header).Get("webhook-id"), "the same webhook-id")
	attempts, err := b.db.FindAttempts(ctx, msgID)
	require.NoError(t, err)
	require.Len(t, attempts, 5, "1 + 3 retries + the resend")
	require.Equal(t, models.TriggerResend, attempts[4].Trigger)
	_, body = admin.get("/messages/" + msgID)
	require.Contains(t, body, `{&#34;received&#34;: true}`)
	entries, err := b.db.FindAuditEntries(ctx, models.AuditFilter{ObjectType: "message", ObjectID: msgID})
	require.NoError(t, err)
	require.Len(t, entries, 1, "resends are audited")

	t.Run("ResendFailedRange", func(t *testing.T) {
		rc.healthy.Store(false)
		_, err := b.db.Pool.Exec(ctx, `UPDATE messages SET state = 'failed', next_attempt_at = NULL WHERE id = $1`, msgID)
		require.NoError(t, err)
		from := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")
		to := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")
		_, body := admin.get("/webhooks/" + h.ID + "/resend-failed?from=" + from + "&to=" + to)
		require.Contains(t, body, `data-testid="resend-count">1<`)
		_, body = admin.get("/webhooks/" + h.ID + "/resend-failed?from=yesterday&to=" + to)
		require.Contains(t, body, "not a time")
		_, body = admin.get("/webhooks/" + h.ID + "/resend-failed?from=" + to + "&to=" + from)
		require.Contains(t, body, "must come before")
		rc.healthy.Store(true)
		resp, _ := admin.post("/webhooks/"+h.ID+"/resend-failed", url.Values{"from": {from}, "to": {to}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		waitFor(t, "the bulk resend", 10*time.Second, func() bool {
			m, err := b.db.FindMessageByID(ctx, msgID)
			require.NoError(t, err)
			return m.State == models.MessageSucceeded
		})
	})

	t.Run("TestNotification", func(t *testing.T) {
		// A failing test notification is recorded as failed, with no next attempt: never
		// retried, and the webhook is not marked failing by it.
		rc.healthy.Store(false)
		before := rc.hits.Load()
		resp, body := admin.do("POST", "/webhooks/"+h.ID+"/test", url.Values{"event_type": {"institute.updated"}}, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="test-status">500<`)
		require.Equal(t, before+1, rc.hits.Load())
		failedID := rc.last.Load().(http.Header).Get("webhook-id")
		m, err := b.db.FindMessageByID(ctx, failedID)
		require.NoError(t, err)
		require.Equal(t, models.KindTest, m.Kind)
		require.Equal(t, models.MessageFailed, m.State, "not retrying")
		require.Nil(t, m.NextAttemptAt)
		hook, err := b.db.FindWebhookByID(ctx, h.ID)
		require.NoError(t, err)
		require.Nil(t, hook.FailingSince, "a test notification does not mark the webhook failing")
		require.Equal(t, models.WebhookActive, hook.State)

		rc.healthy.Store(true)
		resp, body = admin.do("POST", "/webhooks/"+h.ID+"/test", url.Values{"event_type": {"institute.updated"}}, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="test-status">200<`)
		require.Contains(t, body, "received")
		require.Equal(t, before+2, rc.hits.Load(), "the failed one was not sent again meanwhile")
		as, err := b.db.FindAttempts(ctx, failedID)
		require.NoError(t, err)
		require.Len(t, as, 1, "one attempt of the failed test notification")
		secretSecrets, err := b.db.RevealWebhookSecret(ctx, models.System, h.ID)
		require.NoError(t, err)
		secret := secretSecrets.Current
		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(rc.body.Load().([]byte), rc.last.Load().(http.Header)), "signed like any delivery")
		var sent map[string]any
		require.NoError(t, json.Unmarshal(rc.body.Load().([]byte), &sent))
		require.Equal(t, true, sent["test"])
		require.Equal(t, rc.last.Load().(http.Header).Get("webhook-id"), sent["id"])
		rows, _, err := b.db.FindMessages(ctx, models.MessageFilter{WebhookID: h.ID, Kinds: []string{models.KindTest}})
		require.NoError(t, err)
		require.NotEmpty(t, rows)
		require.Equal(t, models.MessageSucceeded, rows[0].State)

		// The answer also brings the page's recent deliveries, the new message first.
		recent := body[strings.Index(body, `id="recent-deliveries"`):]
		require.Contains(t, body, `hx-swap-oob="true"`)
		require.Contains(t, recent, `data-testid="message-`+rows[0].ID+`"`)

		resp, body = admin.do("POST", "/webhooks/"+h.ID+"/test", url.Values{"event_type": {"nope.nope"}}, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusOK, resp.StatusCode, "htmx swaps only what answers 2xx: the form comes back in place")
		require.Contains(t, body, `data-testid="error-event_type">&#34;nope.nope&#34; is not a catalogued event type.<`)

		// Data of one's own goes out instead of the sample; bad JSON is named under its field,
		// with what was typed kept, by htmx and without script alike.
		resp, body = admin.do("POST", "/webhooks/"+h.ID+"/test", url.Values{"event_type": {"institute.updated"}, "data": {`{"name": "Typed by staff"}`}}, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="test-status">200<`)
		require.NoError(t, json.Unmarshal(rc.body.Load().([]byte), &sent))
		require.Equal(t, map[string]any{"name": "Typed by staff"}, sent["changes"].([]any)[0].(map[string]any)["data"])
		hits := rc.hits.Load()
		typed := `{"name": "Typed", }`
		for _, htmx := range []bool{true, false} {
			headers := map[string]string{}
			if htmx {
				headers["HX-Request"] = "true"
			}
			resp, body = admin.do("POST", "/webhooks/"+h.ID+"/test", url.Values{"event_type": {"institute.updated"}, "data": {typed}}, headers)
			require.Equal(t, map[bool]int{true: http.StatusOK, false: http.StatusUnprocessableEntity}[htmx], resp.StatusCode)
			require.Contains(t, body, `data-testid="error-data">This is not valid JSON: invalid character &#39;}&#39; looking for beginning of object key string (at character 19).<`)
			require.Contains(t, body, `>`+html.EscapeString(typed)+`</textarea>`, "the input is kept")
			require.Contains(t, body, `<option value="institute.updated" selected`, "the type is kept")
		}
		require.Equal(t, hits, rc.hits.Load(), "nothing sent")
	})

	t.Run("BadFilters", func(t *testing.T) {
		resp, body := admin.get("/deliveries?from=garbage&to=2026-13-45")
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, `data-testid="filter-error"`)
		require.Contains(t, body, "garbage", "the input is kept")
		resp, body = admin.get("/deliveries?object_id=" + url.QueryEscape("x' OR '1'='1") + "&cursor=not-a-cursor")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "No messages match these filters.")
		resp, body = admin.get("/deliveries?cursor=%%%")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a malformed query string")
		require.Contains(t, body, "not a valid query string")
		resp, _ = admin.get("/deliveries?state=exploded")
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	})

	t.Run("Events", func(t *testing.T) {
		_, body := admin.get("/events?object_id=log-1")
		require.Contains(t, body, ev["id"].(string))
		_, body = admin.get("/events/" + ev["id"].(string))
		require.Contains(t, body, h.Name)
		require.Contains(t, body, msgID[:8])
		resp, _ := admin.get("/events/evt_nope")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, _ = admin.get("/events?from=not-a-date")
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	})

	t.Run("ErrResendDeletedWebhook", func(t *testing.T) {
		gone := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{})
		_, err := b.db.CreateTestMessage(ctx, models.NewID("msg_"), gone.ID, "course.completed", []byte(`{}`), "", time.Now())
		require.NoError(t, err)
		rows, _, err := b.db.FindMessages(ctx, models.MessageFilter{WebhookID: gone.ID})
		require.NoError(t, err)
		require.NoError(t, b.db.DeleteWebhook(ctx, models.System, gone.ID))
		resp, _ := admin.post("/messages/"+rows[0].ID+"/resend", url.Values{})
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

// TestPartnerPortal walks every page and fragment of the delivery log with another
// partner's ids: each must look like it does not exist.
func TestPartnerPortal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	mine, theirs := mustCreatePartner(t, b.db), mustCreatePartner(t, b.db)
	u, pw := mustCreateUser(t, b.db, models.RolePartner, mine.ID)
	br := newBrowser(t, b)
	br.signIn(u.Email, pw)
	own := mustCreateWebhook(t, b.db, mine.ID, models.WebhookInput{Name: ptr("Ours")})
	other := mustCreateWebhook(t, b.db, theirs.ID, models.WebhookInput{Name: ptr("Theirs")})
	ownMsg, err := b.db.CreateTestMessage(ctx, models.NewID("msg_"), own.ID, "course.completed", []byte(`{"ours":1}`), "", time.Now())
	require.NoError(t, err)
	otherMsg, err := b.db.CreateTestMessage(ctx, models.NewID("msg_"), other.ID, "course.completed", []byte(`{"theirs":1}`), "", time.Now())
	require.NoError(t, err)

	_, body := br.get("/deliveries")
	require.Contains(t, body, ownMsg.ID)
	require.NotContains(t, body, otherMsg.ID)
	_, body = br.get("/messages/" + ownMsg.ID)
	require.Contains(t, body, "ours")
	require.NotContains(t, body, `data-testid="resend"`, "partners cannot resend")

	for _, c := range []struct{ method, path string }{
		{"GET", "/webhooks/" + other.ID}, {"GET", "/messages/" + otherMsg.ID}, {"GET", "/deliveries?webhook_id=" + other.ID},
		{"POST", "/webhooks/" + other.ID + "/test"}, {"GET", "/webhooks/" + other.ID + "/sample?event_type=course.completed"},
		{"POST", "/webhooks/" + other.ID + "/secret/reveal"},
	} {
		for _, hx := range []map[string]string{nil, {"HX-Request": "true"}} {
			resp, body := br.do(c.method, c.path, url.Values{"event_type": {"course.completed"}}, hx)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, c.path)
			require.NotContains(t, body, "Theirs")
			require.NotContains(t, body, "theirs")
			require.NotContains(t, body, other.ID, c.path)
			require.NotContains(t, body, otherMsg.ID, c.path)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/messages/" + ownMsg.ID + "/resend"}, {"GET", "/events"}, {"GET", "/webhooks/" + own.ID + "/resend-failed"},
	} {
		resp, _ := br.do(c.method, c.path, url.Values{}, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, c.path)
	}
	// The lists a partner can reach name only their own webhook.
	for _, path := range []string{"/deliveries", "/webhooks"} {
		resp, body := br.get(path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, body, own.ID, path)
		require.NotContains(t, body, other.ID, path)
		require.NotContains(t, body, "Theirs", path)
	}
}
