package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/hookrelay/hookrelay/web"
	"github.com/stretchr/testify/require"
)

func TestSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("OK", func(t *testing.T) {
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
		br := newBrowser(t, b)
		resp, _ := br.post("/signin", url.Values{"email": {strings.ToUpper(u.Email)}, "password": {pw}, "next": {"/admin/../account/password"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, body := br.get("/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `data-testid="dashboard"`)
		require.Contains(t, body, u.Email)
	})

	t.Run("ErrWrongPassword", func(t *testing.T) {
		u, _ := mustCreateUser(t, b.db, models.RoleStaff, "")
		br := newBrowser(t, b)
		resp, body := br.post("/signin", url.Values{"email": {u.Email}, "password": {"wrong password!"}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, body, "do not match an account")
		require.Contains(t, body, u.Email, "the email typed is kept")
		resp, _ = br.get("/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "no session was made")
	})

	t.Run("ErrUnknownEmail", func(t *testing.T) {
		br := newBrowser(t, b)
		resp, body := br.post("/signin", url.Values{"email": {"nobody-" + uniq("x") + "@example.com"}, "password": {"whatever123"}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, body, "do not match an account")
	})

	t.Run("ErrEmpty", func(t *testing.T) {
		br := newBrowser(t, b)
		resp, body := br.post("/signin", url.Values{"email": {""}, "password": {""}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "Enter your email and password")
	})

	t.Run("ErrDisabled", func(t *testing.T) {
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
		_, err := b.db.SetUserDisabled(context.Background(), models.System, u.ID, true)
		require.NoError(t, err)
		br := newBrowser(t, b)
		resp, body := br.post("/signin", url.Values{"email": {u.Email}, "password": {pw}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Contains(t, body, "has been disabled")
	})

	t.Run("ErrThrottled", func(t *testing.T) {
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
		br := newBrowser(t, b)
		for range models.FreeSignInFailures {
			resp, _ := br.post("/signin", url.Values{"email": {u.Email}, "password": {"wrong password!"}})
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		}
		resp, body := br.post("/signin", url.Values{"email": {u.Email}, "password": {pw}})
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "even the right password waits")
		require.Contains(t, body, "Too many failed sign-ins")
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	})

	t.Run("ErrOpenRedirect", func(t *testing.T) {
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
		br := newBrowser(t, b)
		resp, _ := br.post("/signin", url.Values{"email": {u.Email}, "password": {pw}, "next": {"//evil.example.com/"}})
		require.Equal(t, "/", resp.Header.Get("Location"))
	})

	t.Run("SignOut", func(t *testing.T) {
		br, _ := signedIn(t, b, models.RoleStaff)
		resp, _ := br.post("/signout", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = br.get("/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/signin"))
	})

	t.Run("SessionCookieFlags", func(t *testing.T) {
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
		br := newBrowser(t, b)
		resp, _ := br.post("/signin", url.Values{"email": {u.Email}, "password": {pw}})
		c := resp.Cookies()
		require.NotEmpty(t, c)
		require.True(t, c[0].HttpOnly)
		require.Equal(t, http.SameSiteLaxMode, c[0].SameSite)
	})
}

func TestSessionEnds(t *testing.T) {
	t.Parallel()
	db := dbtest.DB(t)

	t.Run("ErrIdle", func(t *testing.T) {
		s := web.New(web.Config{Development: true, SecretKey: testKey, SessionIdle: time.Nanosecond},
			db, slog.New(slog.NewTextHandler(io.Discard, nil)))
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		b := &bundle{db: db, srv: srv}
		br, _ := signedIn(t, b, models.RoleStaff)
		resp, _ := br.get("/admin/users")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Contains(t, resp.Header.Get("Location"), "expired=1")
		_, body := br.get(resp.Header.Get("Location"))
		require.Contains(t, body, "Your session has ended")
	})

	t.Run("ErrPasswordChangedElsewhere", func(t *testing.T) {
		b := setup(t)
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
		one, two := newBrowser(t, b), newBrowser(t, b)
		one.signIn(u.Email, pw)
		two.signIn(u.Email, pw)
		resp, body := one.post("/account/password", url.Values{"current": {pw}, "new": {"a brand new password"}, "confirm": {"a brand new password"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		resp, _ = one.get("/")
		require.Equal(t, http.StatusOK, resp.StatusCode, "the session that changed it lives on")
		resp, _ = two.get("/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "the other session ended")
	})

	t.Run("ErrUserDisabled", func(t *testing.T) {
		b := setup(t)
		br, u := signedIn(t, b, models.RoleStaff)
		_, err := b.db.SetUserDisabled(context.Background(), models.System, u.ID, true)
		require.NoError(t, err)
		resp, _ := br.get("/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	})

	t.Run("ErrTamperedCookie", func(t *testing.T) {
		b := setup(t)
		br := newBrowser(t, b)
		resp, _ := br.do("GET", "/", nil, map[string]string{"Cookie": "hookrelay_session=forged"})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	})
}

func TestPasswordChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br, _ := signedIn(t, b, models.RoleStaff)

	t.Run("ErrWrongCurrent", func(t *testing.T) {
		resp, body := br.post("/account/password", url.Values{"current": {"nope"}, "new": {"another password 1"}, "confirm": {"another password 1"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "not your current password")
	})
	t.Run("ErrTooShortAndMismatch", func(t *testing.T) {
		resp, body := br.post("/account/password", url.Values{"current": {"correct horse battery"}, "new": {"short"}, "confirm": {"other"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "at least 10 characters")
		require.Contains(t, body, "The two new passwords differ")
	})
}

func TestRoles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	adminPages := []string{"/admin/users", "/admin/users/new", "/admin/api-keys"}
	staffPages := []string{"/"}

	t.Run("SignedOutRedirected", func(t *testing.T) {
		br := newBrowser(t, b)
		for _, p := range append(adminPages, append(staffPages, "/account/password")...) {
			resp, _ := br.get(p)
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, p)
			require.Equal(t, "/signin?next="+url.QueryEscape(p), resp.Header.Get("Location"), p)
		}
		resp, _ := br.post("/admin/api-keys", url.Values{"name": {"sneaky"}, "scope": {"admin"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	})

	t.Run("HTMXSignedOutGetsHXRedirect", func(t *testing.T) {
		br := newBrowser(t, b)
		resp, _ := br.do("GET", "/admin/users", nil, map[string]string{"HX-Request": "true"})
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		require.True(t, strings.HasPrefix(resp.Header.Get("HX-Redirect"), "/signin"))
	})

	t.Run("PartnerForbidden", func(t *testing.T) {
		br, _ := signedIn(t, b, models.RolePartner)
		for _, p := range adminPages {
			resp, _ := br.get(p)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, p)
		}
		resp, _ := br.post("/admin/api-keys", url.Values{"name": {"partner key"}, "scope": {"admin"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		resp, _ = br.get("/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "partners land on their webhooks")
		require.Equal(t, "/webhooks", resp.Header.Get("Location"))
	})

	t.Run("StaffForbiddenOnAdmin", func(t *testing.T) {
		br, _ := signedIn(t, b, models.RoleStaff)
		for _, p := range adminPages {
			resp, body := br.get(p)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, p)
			require.Contains(t, body, "Not allowed")
		}
		resp, _ := br.get("/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("AdminAllowed", func(t *testing.T) {
		br, _ := signedIn(t, b, models.RoleAdmin)
		for _, p := range append(adminPages, staffPages...) {
			resp, _ := br.get(p)
			require.Equal(t, http.StatusOK, resp.StatusCode, p)
		}
	})
}

func TestCrossSiteForgery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br, _ := signedIn(t, b, models.RoleAdmin)
	name := uniq("forged")

	resp, body := br.do("POST", "/admin/api-keys", url.Values{"name": {name}, "scope": {"admin"}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "sent from another site")

	keys, err := b.db.FindAPIKeys(context.Background())
	require.NoError(t, err)
	for _, k := range keys {
		require.NotEqual(t, name, k.Name, "nothing was created")
	}
}

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br, admin := signedIn(t, b, models.RoleAdmin)
	partner := mustCreatePartner(t, b.db)

	t.Run("CreateOK", func(t *testing.T) {
		email := uniq("new") + "@example.com"
		resp, body := br.post("/admin/users", url.Values{"email": {email}, "role": {"partner"}, "partner_id": {partner.ID}, "password": {"long enough pw"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		_, body = br.get("/admin/users")
		require.Contains(t, body, email)
		require.Contains(t, body, partner.Name)
		nb := newBrowser(t, b)
		nb.signIn(email, "long enough pw")
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		resp, body := br.post("/admin/users", url.Values{"email": {"<script>alert(1)</script>"}, "role": {"partner"}, "password": {"short"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "Enter a valid email address")
		require.Contains(t, body, "Choose the partner")
		require.Contains(t, body, "at least 10 characters")
		require.NotContains(t, body, "<script>alert(1)</script>")
		require.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;", "the input is kept, escaped")
	})

	t.Run("ErrDuplicateEmail", func(t *testing.T) {
		resp, body := br.post("/admin/users", url.Values{"email": {strings.ToUpper(admin.Email)}, "role": {"staff"}, "password": {"long enough pw"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "already exists")
	})

	t.Run("DisableAndEnable", func(t *testing.T) {
		u, pw := mustCreateUser(t, b.db, models.RoleStaff, "")
		victim := newBrowser(t, b)
		victim.signIn(u.Email, pw)
		resp, _ := br.post("/admin/users/"+u.ID+"/disable", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = victim.get("/")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "disabled user is signed out")
		resp, _ = br.post("/admin/users/"+u.ID+"/enable", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		victim.signIn(u.Email, pw)
		entries, err := b.db.FindAuditEntries(context.Background(), models.AuditFilter{ObjectType: "user", ObjectID: u.ID, ActorEmail: admin.Email})
		require.NoError(t, err)
		require.Len(t, entries, 2)
		require.Equal(t, []string{"user.enabled", "user.disabled"}, []string{entries[0].Action, entries[1].Action})
	})

	t.Run("ErrDisableSelf", func(t *testing.T) {
		resp, _ := br.post("/admin/users/"+admin.ID+"/disable", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		u, err := b.db.FindUserByID(context.Background(), admin.ID)
		require.NoError(t, err)
		require.False(t, u.Disabled())
	})

	t.Run("ResetPassword", func(t *testing.T) {
		u, _ := mustCreateUser(t, b.db, models.RoleStaff, "")
		resp, body := br.post("/admin/users/"+u.ID+"/password", url.Values{})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		i := strings.Index(body, `data-testid="new-password">`)
		require.Positive(t, i)
		rest := body[i+len(`data-testid="new-password">`):]
		newPW := rest[:strings.Index(rest, "<")]
		newBrowser(t, b).signIn(u.Email, newPW)
	})

	t.Run("ErrUnknownUser", func(t *testing.T) {
		resp, _ := br.post("/admin/users/usr_nope/disable", url.Values{})
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br, _ := signedIn(t, b, models.RoleAdmin)

	call := func(path, key string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("GET", b.srv.URL+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return resp, m
	}

	// Created in the UI, shown once.
	resp, body := br.post("/admin/api-keys", url.Values{"name": {"LMS"}, "scope": {"ingest"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "redirected after the POST: a reload mints no second key")
	require.Equal(t, "/admin/api-keys", resp.Header.Get("Location"))
	resp, body = br.get("/admin/api-keys")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	i := strings.Index(body, `data-testid="created-key-value">`)
	require.Positive(t, i)
	rest := body[i+len(`data-testid="created-key-value">`):]
	ingestKey := rest[:strings.Index(rest, "<")]
	require.True(t, strings.HasPrefix(ingestKey, "hrk_"))
	_, body = br.get("/admin/api-keys")
	require.NotContains(t, body, ingestKey, "the key is never shown again")
	keys, err := b.db.FindAPIKeys(context.Background())
	require.NoError(t, err)
	n := 0
	for _, k := range keys {
		if k.Name == "LMS" {
			n++
		}
	}
	require.Equal(t, 1, n, "one key made")

	_, adminKey, err := b.db.CreateAPIKey(context.Background(), models.System, "ops", models.ScopeAdmin)
	require.NoError(t, err)

	t.Run("OK", func(t *testing.T) {
		resp, m := call("/api/v1/event-types", ingestKey)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotEmpty(t, m["event_types"])
		resp, _ = call("/api/v1/partners", adminKey)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp, _ = call("/api/v1/event-types", adminKey)
		require.Equal(t, http.StatusOK, resp.StatusCode, "admin keys may call everything")
	})
	t.Run("ErrMissing", func(t *testing.T) {
		resp, m := call("/api/v1/event-types", "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		require.EqualValues(t, 401, m["status"])
		require.NotEmpty(t, m["detail"])
	})
	t.Run("ErrUnknown", func(t *testing.T) {
		resp, _ := call("/api/v1/event-types", "hrk_notarealkey")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("ErrWrongScope", func(t *testing.T) {
		resp, m := call("/api/v1/partners", ingestKey)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Contains(t, m["detail"], "admin")
	})
	t.Run("ErrRevoked", func(t *testing.T) {
		keys, err := b.db.FindAPIKeys(context.Background())
		require.NoError(t, err)
		var id string
		for _, k := range keys {
			if k.Name == "LMS" {
				id = k.ID
			}
		}
		resp, _ := br.post("/admin/api-keys/"+id+"/revoke", url.Values{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = call("/api/v1/event-types", ingestKey)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("ErrInvalidForm", func(t *testing.T) {
		resp, body := br.post("/admin/api-keys", url.Values{"name": {""}, "scope": {"root"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "Name the key")
		require.Contains(t, body, "Choose ingest or admin")
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(b.srv.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
}
