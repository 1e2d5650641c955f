package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// The message page says why the next attempt comes later than the schedule (the receiver's
// Retry-After) and shows an attempt that made no request behind a failing endpoint as such.
func TestMessagePageExplainsDelays(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	br, _ := signedIn(t, b, models.RoleAdmin)
	h := mustCreateWebhook(t, b.db, mustCreatePartner(t, b.db).ID, models.WebhookInput{State: ptr(models.WebhookPaused)})
	id := models.NewID("msg_")
	now := time.Now()
	_, err := b.db.Pool.Exec(ctx, `
		INSERT INTO messages (id, webhook_id, state, payload, attempt_count, scheduled_attempts, next_attempt_at, last_attempt_at)
		VALUES ($1, $2, 'retrying', '{}', 2, 2, $3, $4)`, id, h.ID, now.Add(2*time.Minute), now)
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `
		INSERT INTO attempts (message_id, webhook_id, started_at, url, method, duration_ms, error, success)
		VALUES ($1, $2, $3, 'http://127.0.0.1:9/hooks', 'POST', 0, $4, false)`, id, h.ID, now.Add(-time.Minute), models.NotSentPrefix+" (msg_x, sent just before, failed); counted as an attempt")
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `
		INSERT INTO attempts (message_id, webhook_id, started_at, url, method, response_status, response_headers, duration_ms, success)
		VALUES ($1, $2, $3, 'http://127.0.0.1:9/hooks', 'POST', 503, '{"Retry-After": ["120"]}', 12, false)`, id, h.ID, now)
	require.NoError(t, err)

	resp, body := br.get("/messages/" + id)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `data-testid="delay-reason">(the receiver asked for 120 s)`)
	require.Equal(t, 1, strings.Count(body, `data-testid="not-sent"`), "the attempt behind the failing endpoint reads 'not sent'")
}
