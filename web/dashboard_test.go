package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
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
	waitFor(t, "the retries to run out", 20*time.Second, func() bool {
		rows, _, err := b.db.FindMessages(ctx, models.MessageFilter{WebhookID: h.ID})
		require.NoError(t, err)
		return len(rows) == 1 && rows[0].State == models.MessageFailed
	})
	// The dashboard lists the 20 latest failures, and the tests running alongside fail
	// webhooks all the time: this one's failure is made the latest, so it must be listed.
	_, err := b.db.Pool.Exec(ctx, `UPDATE messages SET last_attempt_at = now() + interval '1 minute' WHERE webhook_id = $1`, h.ID)
	require.NoError(t, err)

	resp, body := staff.get("/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `data-testid="chart"`)
	require.Contains(t, body, `data-testid="failing-`+name+`"`)
	// The figures say what they count: attempts, where the webhook page counts messages.
	require.Contains(t, body, `<div class="label">Delivery attempts (24 h)</div>`)
	require.Contains(t, body, `<div class="label">Attempts succeeded (24 h)</div>`)
	require.NotContains(t, body, `Deliveries (24 h)`)
	// The figure is the sum of the chart's 24 bars.
	m := regexp.MustCompile(`data-testid="fig-deliveries">(\d+)<`).FindStringSubmatch(body)
	require.NotNil(t, m)
	n, _ := strconv.Atoi(m[1])
	bars := regexp.MustCompile(`UTC: (\d+) succeeded, (\d+) failed</title>`).FindAllStringSubmatch(body, -1)
	require.Len(t, bars, 24)
	sum := 0
	for _, bar := range bars {
		ok, _ := strconv.Atoi(bar[1])
		bad, _ := strconv.Atoi(bar[2])
		sum += ok + bad
	}
	require.Equal(t, sum, n)
	require.Positive(t, n)

	_, body = staff.get("/webhooks/" + h.ID)
	require.Contains(t, body, "0.0 % of 1 message in the last 24 h")
	require.Contains(t, body, "connection refused", "the last failure says why")

	require.NoError(t, b.db.SetWebhookState(ctx, models.System, h.ID, models.StateChange{State: models.WebhookDisabled, Reason: "3 verification calls failed"}))
	_, body = staff.get("/")
	require.Regexp(t, `data-testid="fig-disabled">[1-9]`, body)
	// Disabled webhooks come after the failing ones, and the list stops at 20: the webhooks
	// the other tests keep failing may fill it. Then every row shown must be an active one.
	if !strings.Contains(body, "3 verification calls failed") {
		rows := regexp.MustCompile(`<tr data-testid="failing-[^"]*"><td data-label="State"><span class="status status-(\w+)"`).FindAllStringSubmatch(body, -1)
		require.Len(t, rows, 20, "the disabled webhook is listed unless the list is full")
		for _, r := range rows {
			require.NotEqual(t, "disabled", r[1], "a disabled webhook listed before this one")
		}
	}
}

// TestDashboardHourlyCounts records attempts in an hour no other test of the package uses
// (20 hours ago): its bar counts exactly the deliveries of changes, not test notifications.
func TestDashboardHourlyCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	staff, _ := signedIn(t, b, models.RoleStaff)
	h := mustCreateWebhook(t, b.db, mustCreatePartner(t, b.db).ID, models.WebhookInput{})
	at := time.Now().UTC().Add(-20 * time.Hour).Truncate(time.Hour).Add(7 * time.Minute)
	record := func(kind string, success bool) {
		id := models.NewID("msg_")
		_, err := b.db.Pool.Exec(ctx, `INSERT INTO messages (id, webhook_id, kind, state, payload, next_attempt_at) VALUES ($1, $2, $3, 'delivering', '{}', NULL)`, id, h.ID, kind)
		require.NoError(t, err)
		status := 200
		if !success {
			status = 500
		}
		require.NoError(t, b.db.RecordAttempt(ctx, models.AttemptResult{MessageID: id, WebhookID: h.ID, Trigger: models.TriggerSchedule,
			StartedAt: at, URL: h.URL, Method: "POST", Status: status, Success: success}, nil))
	}
	record(models.KindChanges, true)
	record(models.KindChanges, true)
	record(models.KindChanges, false)
	record(models.KindTest, false)
	record(models.KindVerification, true)

	_, body := staff.get("/")
	require.Contains(t, body, at.Format("15:04")[:3]+"00 UTC: 2 succeeded, 1 failed</title>")
}
