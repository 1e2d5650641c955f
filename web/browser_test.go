package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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

// step runs browser actions with a deadline.
func step(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(c, actions...))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
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
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
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
