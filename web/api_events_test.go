package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

type apiClient struct {
	t    *testing.T
	base string
	key  string
}

func newAPI(t *testing.T, b *bundle, scope string) *apiClient {
	_, key, err := b.db.CreateAPIKey(context.Background(), models.System, uniq("key"), scope)
	require.NoError(t, err)
	return &apiClient{t: t, base: b.srv.URL, key: key}
}

func (c *apiClient) raw(method, path string, body []byte) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, out
}

func (c *apiClient) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var b []byte
	if s, ok := body.(string); ok {
		b = []byte(s)
	} else if body != nil {
		var err error
		b, err = json.Marshal(body)
		require.NoError(c.t, err)
	}
	resp, out := c.raw(method, path, b)
	var m map[string]any
	if len(out) > 0 {
		require.NoError(c.t, json.Unmarshal(out, &m), string(out))
	}
	if resp.StatusCode >= 400 {
		require.Equal(c.t, "application/problem+json", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, m
}

func fieldsOf(m map[string]any) map[string]string {
	out := map[string]string{}
	errs, _ := m["errors"].([]any)
	for _, e := range errs {
		f := e.(map[string]any)
		out[f["field"].(string)] = f["detail"].(string)
	}
	return out
}

func TestIngestAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	api := newAPI(t, b, models.ScopeIngest)

	t.Run("OneOK", func(t *testing.T) {
		partner := mustCreatePartner(t, b.db)
		wants := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{EventTypes: []string{"training.updated"}, BatchWindow: ptr(3600)})
		other := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{EventTypes: []string{"badge.awarded"}})
		status, m := api.call("POST", "/api/v1/events", `{
			"type": "training.updated", "object": "training", "object_id": "345345",
			"url": "https://api.example.com/trainings/345345", "occurred_at": "2026-11-22T10:00:00Z",
			"data": {"title": "New Student Orientation"}, "whatever": "ignored"}`)
		require.Equal(t, http.StatusAccepted, status, m)
		require.True(t, strings.HasPrefix(m["id"].(string), "evt_"))
		require.Equal(t, "updated", m["action"], "action defaults to the part after the last dot")
		require.Equal(t, "2026-11-22T10:00:00Z", m["occurred_at"])
		require.Equal(t, map[string]any{"title": "New Student Orientation"}, m["data"])

		status, got := api.call("GET", "/api/v1/events/"+m["id"].(string), nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, m["id"], got["id"])
		// Per matched webhook: the subscriber's change waits in its hour-long window; the other
		// webhook is not there at all.
		var mine []map[string]any
		for _, d := range got["deliveries"].([]any) {
			d := d.(map[string]any)
			require.NotEqual(t, other.ID, d["webhook_id"], "a webhook that does not want the type")
			if d["webhook_id"] == wants.ID {
				mine = append(mine, d)
			}
		}
		require.Equal(t, []map[string]any{{"webhook_id": wants.ID, "state": "pending", "message_id": nil, "message_state": nil, "superseded_by": nil}}, mine)
	})

	t.Run("BatchOK", func(t *testing.T) {
		status, m := api.call("POST", "/api/v1/events", `{"events": [{"type": "course.completed", "object_id": 42}, {"type": "badge.awarded", "action": "award"}]}`)
		require.Equal(t, http.StatusAccepted, status, m)
		evs := m["events"].([]any)
		require.Len(t, evs, 2)
		require.Equal(t, "course.completed", evs[0].(map[string]any)["type"], "request order")
		require.Equal(t, "42", evs[0].(map[string]any)["object_id"], "numeric ids keep their text")
		require.Equal(t, "award", evs[1].(map[string]any)["action"])
	})

	t.Run("ErrUnknownType", func(t *testing.T) {
		status, m := api.call("POST", "/api/v1/events", `{"type": "course.exploded"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(m)["type"], "not a catalogued event type")
	})

	t.Run("ErrMissingType", func(t *testing.T) {
		status, m := api.call("POST", "/api/v1/events", `{"object": "training"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(m), "type")
	})

	t.Run("ErrBadFields", func(t *testing.T) {
		status, m := api.call("POST", "/api/v1/events", `{"type": "course.completed", "data": [1,2], "occurred_at": "yesterday", "object_id": {"a": 1}}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		f := fieldsOf(m)
		require.Contains(t, f["data"], "JSON object")
		require.Contains(t, f["occurred_at"], "RFC 3339")
		require.Contains(t, f["object_id"], "string")
	})

	t.Run("NulCharacters", func(t *testing.T) {
		// PostgreSQL text cannot hold NUL: refused by name, not a 500.
		status, m := api.call("POST", "/api/v1/events", `{"type": "course.completed", "object_id": "a\u0000b", "url": "https://x.test/\u0000"}`)
		require.Equal(t, http.StatusUnprocessableEntity, status, m)
		require.Contains(t, fieldsOf(m), "object_id")
		require.Contains(t, fieldsOf(m), "url")
		// Inside data it is just JSON, kept as posted.
		status, m = api.call("POST", "/api/v1/events", `{"type": "course.completed", "data": {"note": "a\u0000b"}}`)
		require.Equal(t, http.StatusAccepted, status, m)
		status, m = api.call("GET", "/api/v1/events/evt_%00", nil)
		require.Equal(t, http.StatusBadRequest, status, m)
	})

	t.Run("ErrBatchRejectedWhole", func(t *testing.T) {
		before := countEvents(t, b.db)
		status, m := api.call("POST", "/api/v1/events", `{"events": [{"type": "course.completed"}, {"type": "course.completed"}, {"type": "course.completed"}, {"type": "nope"}]}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(m), "events[3].type")
		require.Equal(t, before, countEvents(t, b.db), "nothing partial")
	})

	t.Run("ErrTooManyEvents", func(t *testing.T) {
		evs := make([]map[string]string, 1001)
		for i := range evs {
			evs[i] = map[string]string{"type": "course.completed"}
		}
		status, m := api.call("POST", "/api/v1/events", map[string]any{"events": evs})
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(m)["events"], "at most 1000")
	})

	t.Run("ErrTooLarge", func(t *testing.T) {
		big := fmt.Sprintf(`{"type": "course.completed", "data": {"x": %q}}`, strings.Repeat("a", 1<<20))
		status, _ := api.call("POST", "/api/v1/events", big)
		require.Equal(t, http.StatusRequestEntityTooLarge, status)
	})

	t.Run("ErrMalformed", func(t *testing.T) {
		status, m := api.call("POST", "/api/v1/events", `{"type": "course.completed",`)
		require.Equal(t, http.StatusBadRequest, status)
		require.Contains(t, m["detail"], "not valid JSON")
	})

	t.Run("Idempotency", func(t *testing.T) {
		key := uniq("idem")
		body := fmt.Sprintf(`{"type": "course.completed", "object_id": "1", "idempotency_key": %q}`, key)
		status, first := api.call("POST", "/api/v1/events", body)
		require.Equal(t, http.StatusAccepted, status)
		before := countEvents(t, b.db)
		status, again := api.call("POST", "/api/v1/events", strings.ReplaceAll(body, ",", " ,"))
		require.Equal(t, http.StatusAccepted, status)
		require.Equal(t, first["id"], again["id"], "the first event comes back")
		require.Equal(t, before, countEvents(t, b.db), "nothing new stored")

		status, m := api.call("POST", "/api/v1/events", fmt.Sprintf(`{"type": "course.completed", "object_id": "2", "idempotency_key": %q}`, key))
		require.Equal(t, http.StatusConflict, status)
		require.Contains(t, fieldsOf(m), "idempotency_key")

		status, m = api.call("POST", "/api/v1/events", fmt.Sprintf(`{"events": [{"type": "course.completed"}, {"type": "course.completed", "object_id": "3", "idempotency_key": %q}]}`, key))
		require.Equal(t, http.StatusConflict, status)
		require.Contains(t, fieldsOf(m), "events[1].idempotency_key", "the batch conflict names the index")
	})

	t.Run("ErrUnknownEvent", func(t *testing.T) {
		status, _ := api.call("GET", "/api/v1/events/evt_nope", nil)
		require.Equal(t, http.StatusNotFound, status)
	})

	t.Run("Courses", func(t *testing.T) {
		id := uniq("course")
		status, m := api.call("PUT", "/api/v1/courses/"+id, `{"title": "Fire safety"}`)
		require.Equal(t, http.StatusCreated, status)
		require.Equal(t, "Fire safety", m["title"])
		status, m = api.call("PUT", "/api/v1/courses/"+id, `{"title": "Fire safety 2"}`)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "Fire safety 2", m["title"])
		status, m = api.call("DELETE", "/api/v1/courses/"+id, nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, true, m["archived"])
		status, m = api.call("PUT", "/api/v1/courses/"+id, `{"title": ""}`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, fieldsOf(m), "title")
		status, _ = api.call("DELETE", "/api/v1/courses/"+uniq("nope"), nil)
		require.Equal(t, http.StatusNotFound, status)
	})
}

func countEvents(t *testing.T, db *models.DB) int {
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n))
	return n
}
