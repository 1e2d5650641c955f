package web_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
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

// choose picks value in the select sel as a person would, so that htmx sees the change.
func choose(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	evalUntil(t, ctx, "htmx bound the filters", `document.readyState === "complete" && typeof htmx === "object"`)
	c, cancel := context.WithTimeout(ctx, browserDeadline)
	defer cancel()
	_, err := chromedp.Run(c, chromedp.Evaluate[bool](`(() => { const el = document.querySelector(`+strconv.Quote(sel)+`);
		el.value = `+strconv.Quote(value)+`; el.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`))
	require.NoError(t, err)
}

func TestBrowserDeliveryLogFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bg := context.Background()
	admin, pw := mustCreateUser(t, b.db, models.RoleAdmin, "")
	acme, globex := mustCreatePartner(t, b.db), mustCreatePartner(t, b.db)
	hr := mustCreateWebhook(t, b.db, acme.ID, models.WebhookInput{Name: ptr("Acme HR sync")})
	crm := mustCreateWebhook(t, b.db, globex.ID, models.WebhookInput{Name: ptr("Globex CRM")})
	sent, err := b.db.CreateTestMessage(bg, models.NewID("msg_"), hr.ID, "course.completed", []byte(`{}`), "", time.Now())
	require.NoError(t, err)
	require.NoError(t, b.db.RecordAttempt(bg, models.AttemptResult{MessageID: sent.ID, WebhookID: hr.ID, Trigger: models.TriggerTest,
		StartedAt: time.Now(), URL: hr.URL, Method: "POST", Status: 200, Success: true, Duration: 1234 * time.Millisecond}, nil))
	other, err := b.db.CreateTestMessage(bg, models.NewID("msg_"), crm.ID, "course.completed", []byte(`{}`), "", time.Now())
	require.NoError(t, err)
	// The log shows the newest first, a page at a time, and the package's runner keeps making
	// messages for the other tests' webhooks: these two are made the newest, so that the first
	// page holds them.
	_, err = b.db.Pool.Exec(bg, `UPDATE messages SET created_at = now() + interval '1 minute' WHERE id IN ($1, $2)`, sent.ID, other.ID)
	require.NoError(t, err)
	ctx := chrome(t)
	signInAs(t, ctx, b.srv.URL, admin.Email, pw, `[data-testid="dashboard"]`)

	// Other tests of the package share the database: rows are looked for by id, not counted.
	row := func(id string) string { return `[data-testid="message-` + id + `"]` }
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/deliveries"), chromedp.WaitVisible(chromedp.CSS(row(other.ID))), chromedp.WaitVisible(chromedp.CSS(row(sent.ID))))
	require.Equal(t, "1234 ms", text(t, ctx, row(sent.ID)+` [data-testid="duration"]`))
	require.Equal(t, "—", text(t, ctx, row(other.ID)+` [data-testid="duration"]`))

	// By webhook: the other partner's message goes, the filter is named, with a way back.
	choose(t, ctx, "#f-webhook_id", hr.ID)
	step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="active-filters"]`)), chromedp.WaitNotPresent(chromedp.CSS(row(other.ID))),
		chromedp.WaitVisible(chromedp.CSS(row(sent.ID))))
	require.Contains(t, text(t, ctx, `[data-testid="active-filters"]`), "webhook: Acme HR sync")
	screenshot(t, ctx, "deliveries-filtered")

	// Nothing matches: the page says the filters did it.
	choose(t, ctx, "#f-state", "failed")
	step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="empty"]`)))
	require.Contains(t, text(t, ctx, `[data-testid="empty"]`), "No messages match these filters.")
	screenshot(t, ctx, "deliveries-filtered-empty")

	// Clear brings every message back.
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="clear-filters"]`)), chromedp.WaitVisible(chromedp.CSS(row(other.ID))),
		chromedp.WaitVisible(chromedp.CSS(row(sent.ID))), chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="active-filters"]`)))

	// By partner.
	choose(t, ctx, "#f-partner_id", globex.ID)
	step(t, ctx, chromedp.WaitNotPresent(chromedp.CSS(row(sent.ID))), chromedp.WaitVisible(chromedp.CSS(row(other.ID))))
	require.Contains(t, text(t, ctx, `[data-testid="active-filters"]`), "partner: "+globex.Name)
	screenshot(t, ctx, "deliveries-by-partner")
}

// On a phone every entry of the navigation is in sight without scrolling sideways: the current
// page and the admin pages included.
func TestBrowserMobileNavigation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, pw := mustCreateUser(t, b.db, models.RoleAdmin, "")
	ctx := chrome(t)
	signInAs(t, ctx, b.srv.URL, u.Email, pw, `[data-testid="dashboard"]`)
	step(t, ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(b.srv.URL+"/admin/audit"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="nav-audit"]`)))
	c, cancel := context.WithTimeout(ctx, browserDeadline)
	defer cancel()
	hidden, err := chromedp.Run(c, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".nav a")].filter(a => {
		const r = a.getBoundingClientRect(), nav = a.closest(".nav").getBoundingClientRect();
		return r.width === 0 || r.left < 0 || r.right > window.innerWidth || r.left < nav.left || r.right > nav.right; }).map(a => a.textContent)`))
	require.NoError(t, err)
	require.Empty(t, hidden, "entries out of sight at 390 px")
	current, err := chromedp.Run(c, chromedp.Evaluate[string](`document.querySelector('.nav a[aria-current="page"]').textContent`))
	require.NoError(t, err)
	require.Equal(t, "Audit log", current)

	// The delivery filters fold behind a "Filters" button that opens them.
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/deliveries"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="filters-toggle"]`)))
	evalUntil(t, ctx, "the filters folded", `document.readyState === "complete" && !document.querySelector('[data-testid="filter-box"]').open`)
	folded, err := chromedp.Run(c, chromedp.Evaluate[bool](`!document.querySelector("#f-state").checkVisibility()`))
	require.NoError(t, err)
	require.True(t, folded, "the state filter is hidden until Filters is pressed")
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="filters-toggle"]`)), chromedp.WaitVisible(chromedp.CSS("#f-state")))
	step(t, ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(b.srv.URL+"/admin/audit"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="nav-audit"]`)))
	screenshot(t, ctx, "nav-admin")
	// A page loaded on a phone, as the phone shows it: the filters folded.
	step(t, ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(b.srv.URL+"/deliveries"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="filters-toggle"]`)))
	evalUntil(t, ctx, "the filters folded", `document.readyState === "complete" && !document.querySelector('[data-testid="filter-box"]').open`)
	screenshot(t, ctx, "deliveries-phone-folded")
	// Widened past a phone's width (a tablet turned, a window resized), the filters open again:
	// the Filters button is not shown there to open them.
	step(t, ctx, chromedp.EmulateViewport(1280, 800))
	evalUntil(t, ctx, "the filters open again", `document.querySelector('[data-testid="filter-box"]').open && document.querySelector("#f-state").checkVisibility()`)
	step(t, ctx, chromedp.EmulateViewport(390, 844))
	evalUntil(t, ctx, "the filters folded again", `!document.querySelector('[data-testid="filter-box"]').open`)
}

// The first Tab on a page reaches a visible "Skip to content" link, which moves to the page's
// content past the navigation.
func TestBrowserSkipToContent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
	ctx := chrome(t)
	signInAs(t, ctx, b.srv.URL, u.Email, pw, `[data-testid="dashboard"]`)
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks"), chromedp.WaitVisible(chromedp.CSS("h1")))
	evalUntil(t, ctx, "the page loaded", `document.readyState === "complete"`)
	step(t, ctx, chromedp.KeyEvent("\t"))
	evalUntil(t, ctx, "the skip link focused and in sight", `(() => { const a = document.activeElement;
		return a && a.dataset.testid === "skip-link" && a.getBoundingClientRect().left >= 0; })()`)
	screenshot(t, ctx, "skip-link")
	step(t, ctx, chromedp.KeyEvent("\r"))
	evalUntil(t, ctx, "the content focused", `document.activeElement && document.activeElement.id === "main"`)
}

// TestBrowserTimesInViewersZone runs Chromium in New York: times are shown there and say so,
// and the delivery log's time filters are read and typed in New York time while the address
// and the server keep UTC.
func TestBrowserTimesInViewersZone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bg := context.Background()
	admin, pw := mustCreateUser(t, b.db, models.RoleAdmin, "")
	h := mustCreateWebhook(t, b.db, mustCreatePartner(t, b.db).ID, models.WebhookInput{Name: ptr("Zone check")})
	made := time.Date(2026, 12, 1, 15, 30, 0, 0, time.UTC) // 10:30 in New York (EST, UTC-5)
	m, err := b.db.CreateTestMessage(bg, models.NewID("msg_"), h.ID, "course.completed", []byte(`{}`), "", made)
	require.NoError(t, err)
	ctx := chrome(t)
	step(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"})
		return err
	}))
	signInAs(t, ctx, b.srv.URL, admin.Email, pw, `[data-testid="dashboard"]`)

	step(t, ctx, chromedp.Navigate(b.srv.URL+"/messages/"+m.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="message-id"]`)))
	evalUntil(t, ctx, "the time localised", `document.querySelector(".sub time").textContent.includes("EST")`)
	require.Regexp(t, `Dec 1, 2026, 10:30:00\sAM EST`, text(t, ctx, ".sub time"))

	// The address says 15:00 UTC; the field shows 10:00 and says whose time that is.
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/deliveries?webhook_id="+h.ID+"&from=2026-12-01T15:00"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="message-`+m.ID+`"]`)))
	evalUntil(t, ctx, "the filter in the viewer's zone", `document.querySelector("#f-from").value === "2026-12-01T10:00"`)
	require.Equal(t, "From (America/New_York)", text(t, ctx, `label[for="f-from"]`))
	require.Contains(t, text(t, ctx, `[data-testid="active-filters"]`), "from: 2026-12-01T15:00 UTC")

	// 11:00 typed in New York is asked of the server as 16:00 UTC: the 15:30 message is in.
	choose(t, ctx, "#f-to", "2026-12-01T11:00")
	evalUntil(t, ctx, "the filter sent in UTC", `document.querySelector('[data-testid="active-filters"]').textContent.includes("to: 2026-12-01T16:00 UTC")`)
	step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="message-`+m.ID+`"]`)))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, loc, "to=2026-12-01T16%3A00")
	require.Equal(t, "2026-12-01T11:00", mustValue(t, ctx, "#f-to"), "the field keeps the viewer's time")
	screenshot(t, ctx, "deliveries-zone")
}

func mustValue(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`).value`))
	require.NoError(t, err)
	return v
}
