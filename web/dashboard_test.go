package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

func TestDashboard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	startRunner(t, b.db)
	staff, _ := signedIn(t, b, models.RoleStaff)
	name := uniq("Broken endpoint")
	h := mustCreateWebhook(t, b.db, mustCreatePartner(t, b.db).ID, models.WebhookInput{Name: &name, BatchWindow: ptr(0),
		EventTypes: []string{"badge.revoked"}, URL: ptr("http://127.0.0.1:9/refused")})
	api := newAPI(t, b, models.ScopeIngest)
	status, _ := api.call("POST", "/api/v1/events", `{"type": "badge.revoked", "object_id": "dash-1"}`)
	require.Equal(t, http.StatusAccepted, status)
	waitFor(t, "a failed attempt", 10*time.Second, func() bool {
		rows, _, err := b.db.FindMessages(ctx, models.MessageFilter{WebhookID: h.ID})
		require.NoError(t, err)
		return len(rows) == 1 && rows[0].AttemptCount > 0
	})

	resp, body := staff.get("/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `data-testid="chart"`)
	require.Contains(t, body, `data-testid="failing-`+name+`"`)
	m := regexp.MustCompile(`data-testid="fig-deliveries">(\d+)<`).FindStringSubmatch(body)
	require.NotNil(t, m)
	n, _ := strconv.Atoi(m[1])
	require.Positive(t, n, "the hourly rollup counted the attempt")

	_, body = staff.get("/webhooks/" + h.ID)
	require.Contains(t, body, "0.0 % of 1 messages in the last 24 h")
	require.Contains(t, body, "connection refused", "the last failure says why")

	require.NoError(t, b.db.SetWebhookState(ctx, h.ID, models.WebhookDisabled, "3 verification calls failed", "", time.Now()))
	_, body = staff.get("/")
	require.Contains(t, body, "3 verification calls failed")
	require.Regexp(t, `data-testid="fig-disabled">[1-9]`, body)
}
