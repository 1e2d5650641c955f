package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// evalUntil evaluates js until it returns true, failing the test at the deadline.
func evalUntil(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(browserDeadline)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s (%v)", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The webhook form has a field named "method", which shadows form.method: the double-submit
// guard must still run there, without a script error.
func TestBrowserWebhookFormSubmitsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
	mustCreatePartner(t, b.db)
	ctx := chrome(t)
	signInAs(t, ctx, b.srv.URL, u.Email, pw, `[data-testid="dashboard"]`)
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks/new"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-form"]`)))
	evalUntil(t, ctx, "the page loaded", `document.readyState === "complete"`)
	// Errors are collected; the submission is held back after every listener of the page ran,
	// so that the page stays and the button can be looked at.
	c, cancel := context.WithTimeout(ctx, browserDeadline)
	_, err := chromedp.Run(c, chromedp.Evaluate[bool](`window.__errors = [];
		window.addEventListener("error", e => window.__errors.push(e.message));
		window.addEventListener("submit", e => e.preventDefault());
		true`))
	cancel()
	require.NoError(t, err)
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="webhook-submit"]`)))
	evalUntil(t, ctx, "the submit button disabled", `window.__errors.length > 0 || document.querySelector('[data-testid="webhook-submit"]').disabled`)
	c, cancel = context.WithTimeout(ctx, browserDeadline)
	defer cancel()
	errs, err := chromedp.Run(c, chromedp.Evaluate[[]string](`window.__errors`))
	require.NoError(t, err)
	require.Empty(t, errs)
}
