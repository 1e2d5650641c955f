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
