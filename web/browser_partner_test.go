package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// TestBrowserEventCatalogue: a partner reaches the catalogue from the navigation and from its
// webhook's subscriptions, and reads a type's sample in both formats and a deprecated type's
// replacement.
func TestBrowserEventCatalogue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	partner := mustCreatePartner(t, b.db)
	u, pw := mustCreateUser(t, b.db, models.RolePartner, partner.ID)
	hook := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{EventTypes: []string{"course.completed", "badge.awarded"}})
	ctx := chrome(t)
	signInAs(t, ctx, b.srv.URL, u.Email, pw, `[data-testid="nav-catalogue"]`)

	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="nav-catalogue"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="catalogue-toc"]`)))
	require.Equal(t, "Event catalogue", text(t, ctx, "h1"))
	batch := text(t, ctx, `[data-testid="batch-course.completed"]`)
	require.Contains(t, batch, `"type": "changes"`)
	require.Contains(t, batch, `"title": "New Student Orientation"`, "the type's sample, as data of the batch body")
	event := text(t, ctx, `[data-testid="event-course.completed"]`)
	require.Contains(t, event, `"type": "course.completed"`)
	require.Contains(t, event, `"external_customer_id": "111222333444"`)
	require.NotContains(t, event, `"changes"`)
	dep := text(t, ctx, `[data-testid="deprecation-question.answered"]`)
	require.Contains(t, dep, "Too chatty for most receivers; use test.completed.")
	require.Contains(t, dep, "can no longer be chosen")
	step(t, ctx, chromedp.ScrollIntoView(chromedp.CSS(`[data-testid="type-objective.became_nok"]`)))
	screenshot(t, ctx, "catalogue")

	// The webhook's subscription list leads to the type's entry.
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks/"+hook.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="catalogue-link-badge.awarded"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="catalogue-link-badge.awarded"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="catalogue-toc"]`)))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(loc, "/event-types#badge.awarded"), loc)
	target, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(":target").dataset.testid`))
	require.NoError(t, err)
	require.Equal(t, "type-badge.awarded", target)
	screenshot(t, ctx, "catalogue-entry")
}

// TestBrowserVerifyCode: the webhook page's code panel shows a receiver for each language,
// one open at a time, and on a phone the code scrolls inside its block rather than the page.
func TestBrowserVerifyCode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	partner := mustCreatePartner(t, b.db)
	u, pw := mustCreateUser(t, b.db, models.RolePartner, partner.ID)
	hook := mustCreateWebhook(t, b.db, partner.ID, models.WebhookInput{})
	ctx := chrome(t)
	signInAs(t, ctx, b.srv.URL, u.Email, pw, `[data-testid="nav-catalogue"]`)
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks/"+hook.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="verify-code"]`)))

	want := map[string][]string{
		"go":     {"Go", "github.com/standard-webhooks/standard-webhooks/libraries v0.0.1", "standardwebhooks.NewWebhook(secret)"},
		"node":   {"Node.js", "standardwebhooks 1.1.1", "webhook.verify(body, req.headers)"},
		"python": {"Python", "standardwebhooks 1.0.1", "webhook.verify(body, dict(self.headers))"},
		"php":    {"PHP", "standard-webhooks/standard-webhooks", "$webhook->verify($body, $headers)"},
	}
	for _, key := range []string{"go", "node", "python", "php"} {
		sel := `[data-testid="snippet-` + key + `"]`
		if key != "go" { // Go is open to begin with
			step(t, ctx, chromedp.Click(chromedp.CSS(sel+" > summary")))
		}
		step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="snippet-code-`+key+`"]`)))
		summary := text(t, ctx, sel+" > summary")
		require.Contains(t, summary, want[key][0])
		require.Contains(t, summary, want[key][1])
		require.Contains(t, text(t, ctx, `[data-testid="snippet-code-`+key+`"]`), want[key][2])
		require.Contains(t, text(t, ctx, `[data-testid="snippet-code-`+key+`"]`), "WEBHOOK_SECRET")
		open, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="verify-code"] details[open]').length`))
		require.NoError(t, err)
		require.Equal(t, 1, open, "one language open at a time")
	}
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="snippet-go"] > summary`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="snippet-code-go"]`)),
		chromedp.ScrollIntoView(chromedp.CSS(`[data-testid="verify-code"]`)))
	screenshot(t, ctx, "webhook-verify-code")

	// At 390 px the page itself does not scroll sideways; the code block does.
	step(t, ctx, chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="snippet-code-go"]`)))
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth,
		document.querySelector('[data-testid="snippet-code-go"]').scrollWidth, document.querySelector('[data-testid="snippet-code-go"]').clientWidth]`))
	require.NoError(t, err)
	require.LessOrEqual(t, fits[0], fits[1], "the page is no wider than the phone")
	require.Greater(t, fits[2], fits[3], "the code scrolls sideways within its block")
	step(t, ctx, chromedp.EmulateViewport(1280, 800))
}
