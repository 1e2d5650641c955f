package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/hookrelay/hookrelay/web"
	"github.com/stretchr/testify/require"
)

// TestSignInNextStaysOnSite: after sign-in only a path of this site is followed; whatever a
// browser would read as another site goes to the dashboard.
func TestSignInNextStaysOnSite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
	hostile := []string{"//evil.example", "/\t/evil.example", "/\n/evil.example", "/\\evil.example", "\\\\evil.example",
		"https://evil.example/", "http:/evil.example", "javascript:alert(1)", " //evil.example", "/%09/evil.example/..",
		"///evil.example", "evil.example", "/signin?next=//evil.example", "/\r\n//evil.example"}
	for _, next := range hostile {
		br := newBrowser(t, b)
		resp, _ := br.post("/signin", url.Values{"email": {u.Email}, "password": {pw}, "next": {next}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "%q", next)
		requireSameSite(t, next, resp.Header.Get("Location"))
		// Signed in already, the sign-in page follows next at once: the same rule.
		resp, _ = br.get("/signin?next=" + url.QueryEscape(next))
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		requireSameSite(t, next, resp.Header.Get("Location"))
	}
	br := newBrowser(t, b)
	resp, _ := br.post("/signin", url.Values{"email": {u.Email}, "password": {pw}, "next": {"/deliveries?state=failed&webhook_id=wh_1"}})
	require.Equal(t, "/deliveries?state=failed&webhook_id=wh_1", resp.Header.Get("Location"), "a path of this site is followed")
}

// requireSameSite fails unless a browser would stay on this site going to loc: a path with no
// scheme or host, not starting with two slashes, without the characters browsers drop or turn
// into slashes.
func requireSameSite(t *testing.T, next, loc string) {
	t.Helper()
	u, err := url.Parse(loc)
	require.NoError(t, err)
	require.True(t, u.Scheme == "" && u.Host == "" && strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") &&
		!strings.ContainsAny(loc, "\\\t\r\n\x00"), "%q went to %q", next, loc)
}

// TestSignOutEndsTheSessionOnTheServer: a copy of the cookie taken before signing out no longer
// works afterwards.
func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br, _ := signedIn(t, b, models.RoleStaff)
	base, err := url.Parse(b.srv.URL)
	require.NoError(t, err)
	var cookie string
	for _, c := range br.c.Jar.Cookies(base) {
		cookie += c.Name + "=" + c.Value + "; "
	}
	require.Contains(t, cookie, "hookrelay_session=")
	copied := newBrowser(t, b)
	resp, _ := copied.do("GET", "/", nil, map[string]string{"Cookie": cookie})
	require.Equal(t, http.StatusOK, resp.StatusCode, "the copy works while the session lives")

	resp, _ = br.post("/signout", url.Values{})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = copied.do("GET", "/", nil, map[string]string{"Cookie": cookie})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "the copied cookie stopped working")
	require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/signin"))
}

// TestSignInThrottle: parallel guesses are counted like serial ones, per email and per client
// address; the table holds fixed-size keys and forgets stale counts.
func TestSignInThrottle(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// guess sends n sign-ins at once from one browser, the i-th with password(i), and returns
	// the count of each status and a body of each.
	guess := func(br *browser, n int, email func(i int) string, password func(i int) string) (map[int]int, map[int]string) {
		var mu sync.Mutex
		statuses, bodies := map[int]int{}, map[int]string{}
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, body := br.post("/signin", url.Values{"email": {email(i)}, "password": {password(i)}})
				mu.Lock()
				statuses[resp.StatusCode]++
				bodies[resp.StatusCode] = body
				mu.Unlock()
			}()
		}
		wg.Wait()
		return statuses, bodies
	}

	// beyond is how many attempts past the free ones the throttle may rightly let in while a
	// burst takes elapsed: after the free ones, the next waits 1 s, then 2 s, 4 s... A slow
	// machine stretches a burst of password checks over seconds; a check-then-act race lets
	// in far more.
	beyond := func(elapsed time.Duration) int {
		k := 0
		for time.Duration(1<<(k+1)-1)*time.Second <= elapsed {
			k++
		}
		return k
	}

	t.Run("ParallelPerEmail", func(t *testing.T) {
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
		// 30 guesses at once, each from its own address, the last one right: only the free
		// five are checked at all.
		var mu sync.Mutex
		statuses := map[int]int{}
		var wg sync.WaitGroup
		start := time.Now()
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := "wrong password " + string(rune('a'+i))
				if i == 29 {
					p = pw
				}
				resp, _ := newBrowser(t, b).post("/signin", url.Values{"email": {u.Email}, "password": {p}})
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		checked := statuses[http.StatusUnauthorized] + statuses[http.StatusSeeOther]
		require.Equal(t, 30, checked+statuses[http.StatusTooManyRequests], "%v", statuses)
		require.GreaterOrEqual(t, checked, models.FreeSignInFailures, "%v", statuses)
		// A right password among the first checked clears the email's count, as a sign-in
		// should, and the burst's rest then meets a fresh one.
		free := models.FreeSignInFailures * (1 + statuses[http.StatusSeeOther])
		require.LessOrEqual(t, checked, free+beyond(time.Since(start)), "%v in %s", statuses, time.Since(start))
	})

	t.Run("ParallelPerAddress", func(t *testing.T) {
		// 40 guesses at once at 40 emails from one address: only the address's free ones
		// are checked, and the others are told why.
		br := newBrowser(t, b)
		start := time.Now()
		statuses, bodies := guess(br, 40, func(i int) string { return uniq("nobody") + "@example.com" }, func(int) string { return "whatever password" })
		checked := statuses[http.StatusUnauthorized]
		require.Equal(t, 40, checked+statuses[http.StatusTooManyRequests], "%v", statuses)
		require.GreaterOrEqual(t, checked, models.FreeSignInFailuresPerAddr, "%v", statuses)
		require.LessOrEqual(t, checked, models.FreeSignInFailuresPerAddr+beyond(time.Since(start)), "%v in %s", statuses, time.Since(start))
		require.Contains(t, bodies[http.StatusTooManyRequests], "your network address")
		n, err := b.db.CountSignInFailures(context.Background(), models.AddressSignInKey(netip.MustParseAddr(br.addr)))
		require.NoError(t, err)
		require.Equal(t, checked, n, "refused attempts are not counted")
	})

	t.Run("SuccessDoesNotResetTheAddress", func(t *testing.T) {
		br := newBrowser(t, b)
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
		_, _ = guess(br, models.FreeSignInFailuresPerAddr-1, func(int) string { return uniq("nobody") + "@example.com" }, func(int) string { return "nope nope nope" })
		br.signIn(u.Email, pw) // one's own account
		n, err := b.db.CountSignInFailures(context.Background(), models.AddressSignInKey(netip.MustParseAddr(br.addr)))
		require.NoError(t, err)
		require.Equal(t, models.FreeSignInFailuresPerAddr-1, n, "the success took only its own attempt off the address's count")
	})

	t.Run("LongEmailBoundedKey", func(t *testing.T) {
		long := strings.Repeat("é", 3000) + "@example.com"
		resp, _ := newBrowser(t, b).post("/signin", url.Values{"email": {long}, "password": {"whatever password"}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		n, err := b.db.CountSignInFailures(context.Background(), models.EmailSignInKey(long))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		var longest int
		require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT max(octet_length(key)) FROM sign_in_failures`).Scan(&longest))
		require.Equal(t, 32, longest, "keys are hashes")
	})

	t.Run("StaleCountsPruned", func(t *testing.T) {
		ctx := context.Background()
		_, err := b.db.Pool.Exec(ctx, `INSERT INTO sign_in_failures (key, failures, last_failure)
			SELECT sha256(('stale' || i || $1)::bytea), 3, now() - interval '1 hour' FROM generate_series(1, 150) i`, uniq("x"))
		require.NoError(t, err)
		stale := func() int {
			var n int
			require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM sign_in_failures WHERE last_failure < now() - interval '30 minutes'`).Scan(&n))
			return n
		}
		before := stale()
		require.GreaterOrEqual(t, before, 150)
		newBrowser(t, b).post("/signin", url.Values{"email": {uniq("a") + "@example.com"}, "password": {"whatever password"}})
		require.LessOrEqual(t, stale(), before-100, "an attempt forgets up to 100 stale counts (others' attempts may forget more)")
	})
}

// TestPasswordSetBySomeoneElse: a password an admin typed or reset must be changed at the next
// sign-in before anything else; the user's own new one is then taken.
func TestPasswordSetBySomeoneElse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin, _ := signedIn(t, b, models.RoleAdmin)

	mustChange := func(t *testing.T, email, password string) *browser {
		br := newBrowser(t, b)
		resp, _ := br.post("/signin", url.Values{"email": {email}, "password": {password}, "next": {"/webhooks"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/account/password", resp.Header.Get("Location"))
		for _, p := range []string{"/", "/webhooks", "/deliveries"} {
			resp, _ = br.get(p)
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, p)
			require.Equal(t, "/account/password", resp.Header.Get("Location"), p)
		}
		resp, _ = br.post("/webhooks", url.Values{"name": {"x"}})
		require.Equal(t, "/account/password", resp.Header.Get("Location"), "posts too")
		resp, body := br.get("/account/password")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="must-change-password"`)
		resp, body = br.post("/account/password", url.Values{"current": {password}, "new": {password}, "confirm": {password}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "the same password again is not one's own")
		require.Contains(t, body, "different from the current one")
		resp, _ = br.post("/account/password", url.Values{"current": {password}, "new": {"my very own password"}, "confirm": {"my very own password"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = br.get("/")
		require.Equal(t, http.StatusOK, resp.StatusCode, "free to go on")
		newBrowser(t, b).signIn(email, "my very own password")
		return br
	}

	t.Run("CreatedByAdmin", func(t *testing.T) {
		email := uniq("new") + "@example.com"
		resp, body := admin.post("/admin/users", url.Values{"email": {email}, "role": {"staff"}, "password": {"typed by the admin"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		mustChange(t, email, "typed by the admin")
	})

	t.Run("ResetByAdmin", func(t *testing.T) {
		u, _ := mustCreateUser(t, b.db, models.RoleStaff, "")
		resp, body := admin.post("/admin/users/"+u.ID+"/password", url.Values{})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		i := strings.Index(body, `data-testid="new-password">`)
		require.Positive(t, i)
		rest := body[i+len(`data-testid="new-password">`):]
		mustChange(t, u.Email, rest[:strings.Index(rest, "<")])
	})

	t.Run("OwnPasswordNotAsked", func(t *testing.T) {
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "") // as user create --password-stdin does
		br := newBrowser(t, b)
		resp, _ := br.post("/signin", url.Values{"email": {u.Email}, "password": {pw}, "next": {"/webhooks"}})
		require.Equal(t, "/webhooks", resp.Header.Get("Location"))
	})
}

// Behind a trusted reverse proxy, failed sign-ins count against the client's address from
// X-Forwarded-For, so that one client's guesses do not slow everyone behind the proxy; entries
// the client wrote itself (left of the proxy's) and the header from a peer that is not a
// trusted proxy change nothing.
func TestSignInBehindProxy(t *testing.T) {
	t.Parallel()
	b := &bundle{db: dbtest.DB(t)}
	b.db.Sealer = testSealer
	trusted, err := web.ParseTrustedProxies("127.255.0.0/16, ::1")
	require.NoError(t, err)
	srv := httptest.NewServer(web.New(web.Config{Development: true, BaseURL: "http://example.test", SecretKey: testKey, Version: "test",
		TrustedProxies: trusted}, b.db, slog.New(slog.NewTextHandler(io.Discard, nil))).Handler())
	t.Cleanup(srv.Close)
	b.srv = srv
	// The proxy: a browser connecting from a trusted address (newBrowser's never are).
	local := &net.TCPAddr{IP: net.IPv4(127, 255, 0, 1)}
	transport := &http.Transport{DialContext: (&net.Dialer{LocalAddr: local}).DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	proxy := &browser{t: t, base: srv.URL, addr: local.IP.String(), c: &http.Client{Jar: jar, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	signIn := func(br *browser, forwarded, email, password string) int {
		var hdr map[string]string
		if forwarded != "" {
			hdr = map[string]string{"X-Forwarded-For": forwarded}
		}
		resp, _ := br.do("POST", "/signin", url.Values{"email": {email}, "password": {password}}, hdr)
		return resp.StatusCode
	}

	// One client behind the proxy uses up its address's free failures (each at another email).
	for i := range models.FreeSignInFailuresPerAddr {
		require.Equal(t, http.StatusUnauthorized, signIn(proxy, "203.0.113.7", uniq("guess")+"@example.com", "wrong"), "failure %d", i+1)
	}
	require.Equal(t, http.StatusTooManyRequests, signIn(proxy, "203.0.113.7", uniq("guess")+"@example.com", "wrong"))
	// What the client wrote left of the proxy's entry does not get it out.
	require.Equal(t, http.StatusTooManyRequests, signIn(proxy, "198.51.100.1, 203.0.113.7", uniq("guess")+"@example.com", "wrong"))

	// Another client behind the same proxy signs in.
	u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
	require.Equal(t, http.StatusSeeOther, signIn(proxy, "203.0.113.7, 203.0.113.8", u.Email, pw))

	// A peer that is no proxy cannot take the throttled address, nor leave its own, by the header.
	direct := newBrowser(t, b)
	require.Equal(t, http.StatusUnauthorized, signIn(direct, "203.0.113.7", uniq("guess")+"@example.com", "wrong"))
}
