package views

import (
	"bytes"
	"context"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/stretchr/testify/require"
)

var tags = regexp.MustCompile(`<[^>]*>`)
var spaces = regexp.MustCompile(`\s+`)

// textOf renders c and returns its text as a reader sees it: tags dropped without adding
// spaces (as the DOM's textContent does), runs of white space read as one.
func textOf(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, c.Render(context.Background(), &b))
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(tags.ReplaceAllString(b.String(), "")), " "))
}

var at = time.Date(2026, 12, 2, 4, 37, 12, 0, time.UTC)

func TestLastDeliveryShowsTheTime(t *testing.T) {
	status := 200
	got := textOf(t, lastDelivery(WebhookRow{LastStatus: &status, LastState: "succeeded", LastAttemptAt: &at}))
	require.Equal(t, "200 · 2026-12-02 04:37 UTC", got)
}

func TestWordsAreSpaced(t *testing.T) {
	status := 500
	t.Run("AttemptTrigger", func(t *testing.T) {
		got := textOf(t, attempt(2, AttemptView{At: at, Trigger: "resend", Status: &status, DurationMs: 12, Method: "POST", URL: "http://x"}))
		require.Contains(t, got, "#2 500 · 12 ms · 2026-12-02 04:37:12 UTC resend")
	})
	t.Run("EventMessageBadge", func(t *testing.T) {
		got := textOf(t, EventPage(EventPageProps{Deliveries: []EventDeliveryView{{WebhookID: "wh_1", WebhookName: "Sync", State: "sent", MessageID: "msg_0123456789abcdef", MessageState: "retrying"}}}))
		require.Contains(t, got, "msg_0123…abcdef Retrying")
	})
	t.Run("OneMessage", func(t *testing.T) {
		require.Equal(t, "100.0 % of 1 message in the last 24 h", HealthView{Succeeded: 1}.rate())
		require.Equal(t, "50.0 % of 2 messages in the last 24 h", HealthView{Succeeded: 1, Failed: 1}.rate())
	})
}

// An event's change that went into a message is not "sent" while that message still retries.
func TestEventChangeStateSaysWhereItWent(t *testing.T) {
	got := textOf(t, EventPage(EventPageProps{Deliveries: []EventDeliveryView{{WebhookID: "wh_1", WebhookName: "Sync", State: "sent", MessageID: "msg_0123456789abcdef", MessageState: "retrying"}}}))
	require.NotContains(t, got, "sent")
	require.Contains(t, got, "in message")
}

// The message page shows its newest attempt first, numbered as it was made.
func TestMessagePageNewestAttemptFirst(t *testing.T) {
	bad, good := 500, 200
	got := textOf(t, MessagePage(MessagePageProps{Message: MessageRowView{ID: "msg_1", State: "succeeded"}, Attempts: []AttemptView{
		{At: at, Trigger: "schedule", Status: &bad}, {At: at.Add(time.Minute), Trigger: "resend", Status: &good}}}))
	second, first := strings.Index(got, "#2 200"), strings.Index(got, "#1 500")
	require.True(t, second >= 0 && first > second, "#2 before #1 in %q", got)
}

// The title's state agrees with the failing banner, and a held webhook says what waits.
func TestWebhookPageStateAgrees(t *testing.T) {
	failing := textOf(t, WebhookPage(WebhookDetailProps{Hook: WebhookDetail{ID: "wh_1", Name: "Sync", State: "active", FailingSince: &at}}))
	require.Contains(t, failing, "Failing")
	require.NotContains(t, failing, "Active")
	paused := textOf(t, WebhookPage(WebhookDetailProps{Hook: WebhookDetail{ID: "wh_1", Name: "Sync", State: "paused", StateChangedAt: at},
		Health: HealthView{PendingChanges: 3}}))
	require.Contains(t, paused, "3 changes wait to be delivered.")
	one := textOf(t, WebhookPage(WebhookDetailProps{Hook: WebhookDetail{ID: "wh_1", Name: "Sync", State: "disabled", StateChangedAt: at},
		Health: HealthView{PendingChanges: 1}}))
	require.Contains(t, one, "1 change waits to be delivered.")
}

// With no partner yet, the new-webhook form says what to do first.
func TestWebhookFormWithoutPartners(t *testing.T) {
	got := textOf(t, WebhookForm(WebhookFormProps{Errors: map[string]string{}}))
	require.Contains(t, got, "Create a partner first")
	got = textOf(t, WebhookForm(WebhookFormProps{Errors: map[string]string{}, Partners: []Option{{Value: "ptn_1", Label: "Acme"}}}))
	require.NotContains(t, got, "Create a partner first")
}

// On a webhook's page, or filtered to one webhook, the log does not repeat the webhook.
func TestDeliveryRowsOmitTheirWebhook(t *testing.T) {
	row := MessageRowView{ID: "msg_1", WebhookID: "wh_1", WebhookName: "Acme HR sync", State: "succeeded", CreatedAt: at}
	all := textOf(t, DeliveryRows(DeliveriesProps{Rows: []MessageRowView{row}}))
	require.Contains(t, all, "Acme HR sync")
	for _, p := range []DeliveriesProps{{Rows: []MessageRowView{row}, OnWebhookPage: true}, {Rows: []MessageRowView{row}, Filter: DeliveryFilter{WebhookID: "wh_1"}}} {
		got := textOf(t, DeliveryRows(p))
		require.NotContains(t, got, "Acme HR sync")
		require.NotContains(t, got, "Webhook")
	}
}

func TestCountsReadWithThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1204: "1,204", 1234567: "1,234,567", -1204: "-1,204"} {
		require.Equal(t, want, thousands(n))
	}
	require.Equal(t, "1 logged message", plural(1, "logged message", "logged messages"))
	require.Equal(t, "1,204 logged messages", plural(1204, "logged message", "logged messages"))
}

func TestResendFailedConfirmationCounts(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, ResendFailed(ResendFailedProps{WebhookID: "wh_1", WebhookName: "Acme HR sync", Count: 1204, From: "2026-12-01T10:00", To: "2026-12-02T10:00", Previewed: true}).Render(context.Background(), &b))
	require.Contains(t, html.UnescapeString(b.String()), `data-confirm="Resend 1,204 failed messages to 'Acme HR sync' now? Each gets one more attempt with the same body and webhook-id."`)
}

func TestChartHasARoundYAxis(t *testing.T) {
	for m, want := range map[int64]int64{0: 1, 1: 1, 3: 5, 7: 10, 10: 10, 11: 20, 180: 200, 1204: 2000, 4999: 5000} {
		require.Equal(t, want, chartMax([]HourBar{{Succeeded: m / 2, Failed: m - m/2}}), m)
	}
	hs := make([]HourBar, 24)
	hs[5] = HourBar{Succeeded: 120, Failed: 30}
	var b bytes.Buffer
	require.NoError(t, chart(hs).Render(context.Background(), &b))
	got := b.String()
	// The axis tops at 200 and names 0, 100 and 200; the bar of 150 reaches three quarters up.
	require.Contains(t, got, `data-testid="chart-y"><span class="tick-0">0</span><span class="tick-half">100</span><span class="tick-top">200</span>`)
	require.Contains(t, got, `<rect class="bad" x="21.23%" y="21.50%" width="3.37%" height="12.90%">`)
	require.Contains(t, got, `<rect class="ok" x="21.23%" y="34.40%" width="3.37%" height="51.60%">`)
}
