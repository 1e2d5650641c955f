package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// The message page as a person reads it when delivery was held back: the receiver's
// Retry-After, an attempt not sent behind a failing endpoint, and (ordered webhooks) the
// earlier message a message waits for.
func TestBrowserMessageNotices(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	admin, pw := mustCreateUser(t, b.db, models.RoleAdmin, "")
	h := mustCreateWebhook(t, b.db, mustCreatePartner(t, b.db).ID, models.WebhookInput{Name: ptr("LMS sync"),
		State: ptr(models.WebhookPaused), Ordered: ptr(true)})
	first, second := models.NewID("msg_"), models.NewID("msg_")
	now := time.Now()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO messages (id, webhook_id, state, payload, attempt_count, scheduled_attempts, next_attempt_at, last_attempt_at, object_ids, object_keys, created_at)
		  VALUES ($1, $2, 'retrying', '{"id": "evt_1"}', 2, 2, $3, $4, '{345345}', '{"[\"training\",\"345345\"]"}', $5)`,
			[]any{first, h.ID, now.Add(2 * time.Minute), now, now.Add(-time.Hour)}},
		{`INSERT INTO messages (id, webhook_id, state, payload, next_attempt_at, object_ids, object_keys, created_at)
		  VALUES ($1, $2, 'pending', '{"id": "evt_2"}', $3, '{345345}', '{"[\"training\",\"345345\"]"}', $4)`,
			[]any{second, h.ID, now, now.Add(-time.Minute)}},
		{`INSERT INTO attempts (message_id, webhook_id, started_at, url, method, duration_ms, error, success)
		  VALUES ($1, $2, $3, 'http://127.0.0.1:9/hooks', 'POST', 0, $4, false)`,
			[]any{first, h.ID, now.Add(-time.Minute), models.NotSentPrefix + " (msg_01a2…, sent just before, failed); counted as an attempt"}},
		{`INSERT INTO attempts (message_id, webhook_id, started_at, url, method, response_status, response_headers, duration_ms, success)
		  VALUES ($1, $2, $3, 'http://127.0.0.1:9/hooks', 'POST', 503, '{"Retry-After": ["120"]}', 12, false)`,
			[]any{first, h.ID, now}},
	} {
		_, err := b.db.Pool.Exec(ctx, q.sql, q.args...)
		require.NoError(t, err)
	}

	br := chrome(t)
	signInAs(t, br, b.srv.URL, admin.Email, pw, `[data-testid="main"]`)
	step(t, br, chromedp.Navigate(b.srv.URL+"/messages/"+first), chromedp.WaitVisible(chromedp.CSS(`[data-testid="delay-reason"]`)))
	require.Equal(t, "(the receiver asked for 120 s)", text(t, br, `[data-testid="delay-reason"]`))
	require.Equal(t, "not sent", text(t, br, `[data-testid="not-sent"]`))
	screenshot(t, br, "message-delayed")
	step(t, br, chromedp.Navigate(b.srv.URL+"/messages/"+second), chromedp.WaitVisible(chromedp.CSS(`[data-testid="held-by"]`)))
	require.Contains(t, text(t, br, `[data-testid="held-by"]`), "Waiting for "+first+" (same training 345345)")
	screenshot(t, br, "message-held")
}
