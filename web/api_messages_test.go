package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

func TestMessageAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	startRunner(t, b.db)
	api := newAPI(t, b, models.ScopeAdmin)
	rc := newFlakyReceiver(t)
	rc.healthy.Store(true)
	h := mustCreateWebhook(t, b.db, mustCreatePartner(t, b.db).ID, models.WebhookInput{URL: ptr(rc.URL), Format: ptr("event"), AppendEventType: ptr(true), EventTypes: []string{"account.created"}})

	status, got := api.call("POST", "/api/v1/webhooks/"+h.ID+"/test", `{"event_type": "badge.awarded"}`)
	require.Equal(t, http.StatusOK, status, got)
	att := got["attempt"].(map[string]any)
	require.EqualValues(t, 200, att["response_status"])
	require.Equal(t, rc.URL+"/badge.awarded", att["url"])
	msgID := got["message_id"].(string)

	status, got = api.call("GET", "/api/v1/webhooks/"+h.ID+"/messages?limit=5", nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, got["data"], 1)

	status, got = api.call("GET", "/api/v1/messages/"+msgID, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "test", got["kind"])
	require.Len(t, got["attempts"], 1)
	require.Equal(t, true, got["payload"].(map[string]any)["test"])

	status, got = api.call("POST", "/api/v1/messages/"+msgID+"/resend", nil)
	require.Equal(t, http.StatusAccepted, status, got)
	waitFor(t, "the resend", 10*time.Second, func() bool {
		as, err := b.db.FindAttempts(ctx, msgID)
		require.NoError(t, err)
		return len(as) == 2
	})

	status, got = api.call("POST", "/api/v1/webhooks/"+h.ID+"/resend-failed", map[string]string{"from": "2026-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"})
	require.Equal(t, http.StatusAccepted, status)
	require.EqualValues(t, 0, got["resent"])

	// The data of one's own, checked by the same action as the form's.
	status, got = api.call("POST", "/api/v1/webhooks/"+h.ID+"/test", `{"event_type": "badge.awarded", "data": {"badge": "Typed by a script"}}`)
	require.Equal(t, http.StatusOK, status, got)
	var sent map[string]any
	require.NoError(t, json.Unmarshal(rc.body.Load().([]byte), &sent))
	require.Equal(t, map[string]any{"badge": "Typed by a script"}, sent["data"])

	t.Run("BadInput", func(t *testing.T) {
		status, got := api.call("POST", "/api/v1/webhooks/"+h.ID+"/test", `{"event_type": "badge.awarded", "data": [1, 2]}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Equal(t, map[string]string{"data": `Enter a JSON object, such as {"title": "New Student Orientation"}.`}, fieldsOf(got))
		status, got = api.call("POST", "/api/v1/webhooks/"+h.ID+"/test", `{}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(got), "event_type")
		status, got = api.call("POST", "/api/v1/webhooks/"+h.ID+"/test", `{"event_type": "no.such"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(got), "event_type")
		status, got = api.call("POST", "/api/v1/webhooks/"+h.ID+"/resend-failed", `{"from": "soon", "to": "later"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(got), "from")
		status, got = api.call("GET", "/api/v1/webhooks/"+h.ID+"/messages?state=lost&from=x", nil)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(got), "state")
		require.Contains(t, fieldsOf(got), "from")
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/messages/msg_nope"}, {"POST", "/api/v1/messages/msg_nope/resend"},
			{"GET", "/api/v1/webhooks/wh_nope/messages"}, {"POST", "/api/v1/webhooks/wh_nope/test"}, {"POST", "/api/v1/webhooks/wh_nope/resend-failed"},
		} {
			status, _ := api.call(c.method, c.path, `{}`)
			require.Equal(t, http.StatusNotFound, status, c.path)
		}
	})
}
