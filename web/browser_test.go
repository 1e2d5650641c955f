package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hookrelay/hookrelay/models"
	"github.com/stretchr/testify/require"
)

// chrome starts headless Chromium for one test. Without Chromium the test is skipped, except
// in CI, where .ci/run installs it and its absence is a failure.
func chrome(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium is not installed; .ci/run should have installed it")
		}
		t.Skip("Chromium is not installed (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx)) // start the browser now, without a deadline
	return ctx
}

// browserDeadline bounds one step. Generous: a passing step takes well under a second, but
// Chromium on a machine busy with other test packages has been seen to need more than 20 s.
const browserDeadline = 60 * time.Second

// step runs browser actions with a deadline.
func step(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, browserDeadline)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		// Say where the browser was, so that a failure on a busy machine can be told from a bug.
		d, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(d, chromedp.Location())
		body, _ := chromedp.Run(d, chromedp.Text(chromedp.CSS("#main")))
		t.Fatalf("browser step failed: %v\nat %s\npage text: %.1500s", err, loc, body)
	}
}

// signInAs signs in through the form and waits for the page it leads to. It watches the
// address change before looking for ready, rather than one wait across the form's redirect,
// which on a machine busy with other test packages has been seen to hang until the deadline.
func signInAs(t *testing.T, ctx context.Context, base, email, password, ready string) {
	t.Helper()
	step(t, ctx, chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`[data-testid="signin-submit"]`)))
	deadline := time.Now().Add(browserDeadline)
	for {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		loc, err := chromedp.Run(c, chromedp.Location())
		cancel()
		if err == nil && !strings.Contains(loc, "/signin") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still at %s %s after signing in (%v)", loc, browserDeadline, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	step(t, ctx, chromedp.WaitVisible(chromedp.CSS(ready)))
}

// clickFor clicks sel once and waits for want to show. It clicks only once htmx has bound the
// element (a click before that would post the form without htmx and leave the page), and
// traces the click and its htmx events, so a failure says whether the request left, came
// back, or never started.
//
// Why a click can be lost without an error: chromedp.Click reads the element's position
// (DOM.getContentQuads) and then sends mousePressed and mouseReleased at that point, three
// round trips apart. If the layout moves in between (app.js rewrites the <time> texts every
// 30 s, an htmx answer is swapped in), press and release land on whatever is there now:
// the button gets no click, and chromedp reports success. The pointer events in the trace
// say where they landed, so such a failure shows as pointerdown/up on another element.
func clickFor(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	waitBound(t, ctx, sel)
	tc, tcancel := context.WithTimeout(ctx, browserDeadline)
	_, err := chromedp.Run(tc, chromedp.Evaluate[bool](`(() => { window.__trace = []; const t0 = performance.now();
		for (const n of ["pointerdown", "pointerup", "click", "submit", "htmx:beforeRequest", "htmx:afterRequest", "htmx:sendError", "htmx:responseError", "htmx:swapError", "htmx:afterSwap", "htmx:abort", "htmx:timeout"])
			document.addEventListener(n, e => window.__trace.push(n + " " + Math.round(performance.now() - t0) + "ms" + (e.detail && e.detail.xhr ? " " + e.detail.xhr.status : "") +
				(n.startsWith("pointer") || n === "click" ? " on " + e.target.tagName + (e.target.dataset && e.target.dataset.testid ? "[" + e.target.dataset.testid + "]" : "") + " at " + Math.round(e.clientX) + "," + Math.round(e.clientY) : "") +
				(e.detail && e.detail.pathInfo ? " " + e.detail.pathInfo.requestPath : "")), true);
		return true; })()`))
	tcancel()
	require.NoError(t, err)
	c, cancel := context.WithTimeout(ctx, browserDeadline)
	defer cancel()
	if err := chromedp.Do(c, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(want))); err != nil {
		d, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		trace, _ := chromedp.Run(d, chromedp.Evaluate[[]string](`window.__trace || []`))
		t.Fatalf("nothing showed %s after clicking %s: %v\nevents: %v", want, sel, err, trace)
	}
}

// waitBound waits until htmx has bound the element that sel's requests come from (sel itself,
// the closest element with hx-post or hx-get, or its form): an event before that goes
// unheard, or posts the form without htmx.
func waitBound(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	bound := `(() => { const el = document.querySelector(` + strconv.Quote(sel) + `);
		const owner = el && (el.closest("[hx-post],[hx-get]") || el.form);
		return document.readyState === "complete" && typeof htmx === "object" && !!owner && !!owner["htmx-internal-data"]; })()`
	deadline := time.Now().Add(browserDeadline)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](bound))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("htmx never bound %s (%v)", sel, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// discard makes an action that yields a value a step that yields none.
func discard[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, browserDeadline)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err)
	return s
}

// screenshot saves the page at desktop and phone widths when HOOKRELAY_SCREENSHOTS names a
// directory, so that a person can look at what the tests saw.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("HOOKRELAY_SCREENSHOTS")
	if dir == "" {
		return
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, size := range []struct {
		label string
		w, h  int64
	}{{"1280", 1280, 800}, {"390", 390, 844}} {
		c, cancel := context.WithTimeout(ctx, browserDeadline)
		err := chromedp.Do(c, chromedp.EmulateViewport(size.w, size.h))
		var png []byte
		if err == nil {
			png, err = chromedp.Run(c, chromedp.FullScreenshot(100))
		}
		cancel()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+"-"+size.label+".png"), png, 0o644))
	}
	step(t, ctx, chromedp.EmulateViewport(1280, 800))
}

func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, pw := mustCreateUser(t, b.db, models.RoleAdmin, "")
	ctx := chrome(t)

	step(t, ctx, chromedp.Navigate(b.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#email")))
	screenshot(t, ctx, "signin")
	step(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#email"), u.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), "wrong password"),
		chromedp.Click(chromedp.CSS(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="signin-error"]`)),
	)
	require.Contains(t, text(t, ctx, `[data-testid="signin-error"]`), "do not match")
	screenshot(t, ctx, "signin-error")

	step(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS(`[data-testid="signin-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="dashboard"]`)),
	)
	require.Contains(t, text(t, ctx, `[data-testid="current-user"]`), u.Email)
	require.True(t, strings.Contains(text(t, ctx, "h1"), "Dashboard"))
	screenshot(t, ctx, "dashboard")

	step(t, ctx, chromedp.Navigate(b.srv.URL+"/admin/api-keys"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="apikey-form"]`)))
	screenshot(t, ctx, "apikeys")
}

// acceptConfirms makes window.confirm say yes, as a person clicking OK would.
func acceptConfirms(t *testing.T, ctx context.Context) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Run(c, chromedp.Evaluate[bool](`window.confirm = () => true; true`))
	require.NoError(t, err)
}

func TestBrowserWebhookFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
	partner := mustCreatePartner(t, b.db)
	courseID := uniq("course")
	_, _, err := b.db.UpsertCourse(context.Background(), models.System, courseID, "Ladder Safety Basics")
	require.NoError(t, err)
	ctx := chrome(t)

	signInAs(t, ctx, b.srv.URL, u.Email, pw, `[data-testid="dashboard"]`)

	// A first try with mistakes: errors sit under their fields and the input stays.
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks/new"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-form"]`)),
		chromedp.SendKeys(chromedp.CSS("#f-url"), "ftp://nope"),
		chromedp.SetValue(chromedp.CSS("#f-batch_window_seconds"), "99999"),
		chromedp.Click(chromedp.CSS(`[data-testid="webhook-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-errors"]`)))
	require.Contains(t, text(t, ctx, `[data-testid="error-url"]`), "absolute http(s) URL")
	require.Contains(t, text(t, ctx, `[data-testid="error-name"]`), "name")
	require.Contains(t, text(t, ctx, `[data-testid="error-batch_window_seconds"]`), "0 to 3600")
	screenshot(t, ctx, "webhook-form-errors")

	// Now properly: two event types and one course through the type-ahead.
	step(t, ctx,
		chromedp.SetValue(chromedp.CSS("#f-url"), "http://localhost:9/hooks"),
		chromedp.SetValue(chromedp.CSS("#f-partner_id"), partner.ID),
		chromedp.SendKeys(chromedp.CSS("#f-name"), "LMS sync"),
		chromedp.SetValue(chromedp.CSS("#f-batch_window_seconds"), "5"),
		chromedp.Click(chromedp.CSS("#et-some")),
		chromedp.Click(chromedp.CSS(`[id="et-course.completed"]`)),
		chromedp.Click(chromedp.CSS(`[id="et-badge.awarded"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="course-search"]`), "ladder"),
		chromedp.WaitVisible(chromedp.CSS(`#course-results [data-testid="chip-`+courseID+`"]`)),
		chromedp.Click(chromedp.CSS(`#course-results [data-testid="chip-`+courseID+`"] input`)),
		chromedp.WaitVisible(chromedp.CSS(`#course-chips [data-testid="chip-`+courseID+`"]`)),
	)
	screenshot(t, ctx, "webhook-form")
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="webhook-submit"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-name"]`)))
	require.Equal(t, "LMS sync", text(t, ctx, `[data-testid="webhook-name"]`))
	require.Contains(t, text(t, ctx, `[data-testid="courses"]`), "Ladder Safety Basics")
	et := text(t, ctx, `[data-testid="event-types"]`)
	require.Contains(t, et, "course.completed")
	require.Contains(t, et, "badge.awarded")

	// It is in the list.
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks?q=LMS"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-row-LMS sync"]`)))
	require.Contains(t, text(t, ctx, `[data-testid="webhook-row-LMS sync"]`), "2 event types · 1 course")
	screenshot(t, ctx, "webhook-list")

	// Edit it.
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="webhook-row-LMS sync"] a`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="edit"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="edit"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-form"]`)),
		chromedp.SetValue(chromedp.CSS("#f-name"), "LMS sync (prod)"),
		chromedp.Click(chromedp.CSS(`[data-testid="webhook-submit"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"]`)))
	require.Equal(t, "LMS sync (prod)", text(t, ctx, `[data-testid="webhook-name"]`))

	// Reveal (htmx, in place), then rotate: old and new are shown.
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="reveal"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="secret-value"]`)))
	old := text(t, ctx, `[data-testid="secret-value"]`)
	require.True(t, strings.HasPrefix(old, "whsec_"))
	acceptConfirms(t, ctx)
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="rotate"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="previous-secret"]`)))
	require.Equal(t, old, text(t, ctx, `[data-testid="previous-secret"]`))
	require.NotEqual(t, old, text(t, ctx, `[data-testid="secret-value"]`))
	screenshot(t, ctx, "webhook-detail")

	// Pause it.
	acceptConfirms(t, ctx)
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="pause"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="resume-form"]`)))
	require.Contains(t, text(t, ctx, `[data-testid="state-card"]`), "Paused")
	screenshot(t, ctx, "webhook-paused")
}

func TestBrowserAdminPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, pw := mustCreateUser(t, b.db, models.RoleAdmin, "")
	p := mustCreatePartner(t, b.db)
	mustCreateWebhook(t, b.db, p.ID, models.WebhookInput{Name: ptr("Nightly export")})
	other, _ := mustCreateUser(t, b.db, models.RoleStaff, "")
	_, err := b.db.UpdateUser(context.Background(), models.UserActor(u), other.ID, models.UserChange{Name: "Grace Hopper", Role: models.RolePartner, PartnerID: p.ID})
	require.NoError(t, err)
	ctx := chrome(t)
	signInAs(t, ctx, b.srv.URL, u.Email, pw, `[data-testid="dashboard"]`)
	for _, pg := range []struct{ path, ready, name, shows string }{
		{"/admin/partners", `[data-testid="partner-list"]`, "partners", p.Name},
		{"/admin/partners/" + p.ID, `[data-testid="partner-name"]`, "partner", "Nightly export"},
		{"/admin/event-types", `[data-testid="eventtype-list"]`, "event-types", "course.completed"},
		{"/admin/event-types/course.completed", `[data-testid="eventtype-form"]`, "event-type", "course.completed"},
		{"/admin/courses", `[data-testid="course-form"]`, "courses", "Courses"},
		{"/admin/audit?object_id=" + other.ID, `[data-testid="audit-changes"]`, "audit", "staff → partner"},
		{"/admin/users/" + other.ID + "/edit", `[data-testid="user-edit-form"]`, "user-edit", other.Email},
		{"/admin/users", `[data-testid="user-list"]`, "users", u.Email},
		{"/admin/users/new?partner_id=" + p.ID, `[data-testid="user-form"]`, "user-new-for-partner", "New user"},
	} {
		step(t, ctx, chromedp.Navigate(b.srv.URL+pg.path), chromedp.WaitVisible(chromedp.CSS(pg.ready)))
		require.Contains(t, text(t, ctx, "#main"), pg.shows, pg.path)
		screenshot(t, ctx, "admin-"+pg.name)
	}
}

func TestBrowserDeliveryFlow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bg := context.Background()
	startRunner(t, b.db)
	admin, pw := mustCreateUser(t, b.db, models.RoleAdmin, "")
	mine, theirs := mustCreatePartner(t, b.db), mustCreatePartner(t, b.db)
	rc := newFlakyReceiver(t)
	rc.healthy.Store(true)
	h := mustCreateWebhook(t, b.db, mine.ID, models.WebhookInput{Name: ptr("Grades sync"), URL: ptr(rc.URL + "/grades"), BatchWindow: ptr(0),
		EventTypes: []string{"group_member.removed", "test.completed"}})
	other := mustCreateWebhook(t, b.db, theirs.ID, models.WebhookInput{Name: ptr("Other partner's hook")})
	otherMsg, err := b.db.CreateTestMessage(bg, models.NewID("msg_"), other.ID, "course.completed", []byte(`{}`), "", time.Now())
	require.NoError(t, err)
	ctx := chrome(t)
	signIn := func(email, password string) {
		signInAs(t, ctx, b.srv.URL, email, password, `[data-testid="current-user"]`)
	}
	signIn(admin.Email, pw)

	// A test notification, answered in place: choosing a type brings its sample into the data
	// box, and the page's recent deliveries show the new message without a reload. (What
	// typed data becomes, and the error under the box, are read in the HTML by TestDeliveryLog:
	// a value set in the box was seen lost before the click under load, see clickFor.)
	sample, err := b.db.FindEventTypeByName(bg, "test.completed")
	require.NoError(t, err)
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks/"+h.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="test-panel"]`)))
	waitBound(t, ctx, "#f-event_type")
	step(t, ctx, chromedp.SetValue(chromedp.CSS(`#f-event_type`), "test.completed"),
		discard(chromedp.Evaluate[bool](`document.querySelector("#f-event_type").dispatchEvent(new Event("change", {bubbles: true}))`)),
		discard(chromedp.Poll[bool](`(() => { try { return JSON.stringify(JSON.parse(document.querySelector("#f-data").value)) === JSON.stringify(`+string(sample.Sample)+`) } catch (e) { return false } })()`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserDeadline))))
	hits := rc.hits.Load()
	clickFor(t, ctx, `[data-testid="send-test"]`, `[data-testid="test-result"]`)
	require.Equal(t, "200", text(t, ctx, `[data-testid="test-status"]`))
	require.Contains(t, text(t, ctx, `[data-testid="test-response"]`), "received")
	require.Equal(t, hits+1, rc.hits.Load(), "sent once")
	var sent struct {
		Changes []struct{ Data json.RawMessage } `json:"changes"`
	}
	require.NoError(t, json.Unmarshal(rc.body.Load().([]byte), &sent))
	require.JSONEq(t, string(sample.Sample), string(sent.Changes[0].Data), "the sample of the chosen type")
	testMsg := text(t, ctx, `[data-testid="test-result"] a.mono`)
	step(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#recent-deliveries [data-testid="message-`+testMsg+`"]`)))
	screenshot(t, ctx, "test-notification")

	// An event posted while the receiver fails: its retries show, then the admin resends.
	rc.healthy.Store(false)
	api := newAPI(t, b, models.ScopeIngest)
	status, ev := api.call("POST", "/api/v1/events", `{"type": "group_member.removed", "object": "membership", "object_id": "browser-1"}`)
	require.Equal(t, http.StatusAccepted, status)
	var msgID string
	waitFor(t, "the retries to run out", 20*time.Second, func() bool {
		rows, _, err := b.db.FindMessages(bg, models.MessageFilter{WebhookID: h.ID, ObjectID: "browser-1"})
		require.NoError(t, err)
		if len(rows) == 1 && rows[0].State == models.MessageFailed {
			msgID = rows[0].ID
			return true
		}
		return false
	})
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/deliveries?webhook_id="+h.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="message-`+msgID+`"]`)))
	require.Contains(t, text(t, ctx, `[data-testid="message-`+msgID+`"]`), "browser-1")
	screenshot(t, ctx, "deliveries")
	// The copy button beside a message id puts the whole id on the clipboard.
	step(t, ctx, discard(chromedp.Evaluate[bool](`window.__copied = ""; navigator.clipboard.writeText = v => { window.__copied = v; return Promise.resolve(); }; true`)),
		chromedp.Click(chromedp.CSS(`[data-testid="message-`+msgID+`"] [data-testid="copy-id"]`)),
		discard(chromedp.Poll[bool](`window.__copied === `+strconv.Quote(msgID), chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserDeadline))))
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="message-`+msgID+`"] a.mono`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="attempts"]`)))
	require.Contains(t, text(t, ctx, `[data-testid="attempts"]`), "500")
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(`[data-testid="attempt"]`)))
	require.NoError(t, err)
	require.Len(t, nodes, 4, "the first attempt and its 3 retries")
	screenshot(t, ctx, "message-failed")
	// The webhook page says its deliveries are failing.
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks/"+h.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="failing-card"]`)))
	screenshot(t, ctx, "webhook-failing")
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/messages/"+msgID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="attempts"]`)))

	rc.healthy.Store(true)
	acceptConfirms(t, ctx)
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="resend"]`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"]`)))
	require.Contains(t, text(t, ctx, `[data-testid="flash"]`), "Resend queued")
	waitFor(t, "the resend to succeed", 10*time.Second, func() bool {
		m, err := b.db.FindMessageByID(bg, msgID)
		require.NoError(t, err)
		return m.State == models.MessageSucceeded
	})
	// The page the resend led to was made before the attempt: load it again.
	step(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="attempts"]`)))
	require.Contains(t, text(t, ctx, `[data-testid="attempts"]`), "resend")
	screenshot(t, ctx, "message-resent")
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/events/"+ev["id"].(string)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="event-deliveries"]`)))
	deliveries := text(t, ctx, `[data-testid="event-deliveries"]`)
	require.Contains(t, deliveries, "Grades sync")
	require.Contains(t, deliveries, "in message")
	screenshot(t, ctx, "event")
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="chart"]`)))
	screenshot(t, ctx, "dashboard-data")
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks/"+h.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="health"]`)))
	require.Equal(t, "100.0 % of 1 message in the last 24 h", text(t, ctx, `[data-testid="success-rate"]`), "the resent message succeeded")
	screenshot(t, ctx, "webhook-health")

	// A partner sees its own log, not another partner's.
	pu, ppw := mustCreateUser(t, b.db, models.RolePartner, mine.ID)
	step(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="signout"]`)), chromedp.WaitVisible(chromedp.CSS("#email")))
	signIn(pu.Email, ppw)
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/deliveries"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="delivery-list"]`)))
	list := text(t, ctx, `[data-testid="delivery-list"]`)
	require.Contains(t, list, "Grades sync")
	require.NotContains(t, list, "Other partner")
	require.Contains(t, text(t, ctx, `[data-testid="partner-name"]`), mine.Name)
	screenshot(t, ctx, "partner-deliveries")
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/webhooks"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-list"]`)))
	screenshot(t, ctx, "partner-webhooks")
	step(t, ctx, chromedp.Navigate(b.srv.URL+"/messages/"+otherMsg.ID), chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-page"]`)))
	require.Contains(t, text(t, ctx, `[data-testid="error-page"]`), "Not found")
}
