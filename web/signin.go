package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"unicode"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// safeNext keeps a post-sign-in redirect on this site: only a path of this site (with its
// query) is followed. Browsers ignore tabs and newlines in a URL and read a backslash as a
// slash, so "/\t/evil.example" or "/\\evil.example" would leave the site: any control character
// or backslash, a scheme, a host or a path not starting with a single slash gives "/".
func safeNext(next string) string {
	if next == "" || strings.ContainsRune(next, '\\') || strings.IndexFunc(next, unicode.IsControl) >= 0 ||
		!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/signin") {
		return "/"
	}
	return u.RequestURI()
}

func (s *Server) signInForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if currentUser(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	p := views.SignInProps{Next: next}
	if r.URL.Query().Get("expired") == "1" {
		p.Error = "Your session has ended. Sign in again to continue."
	}
	s.page(w, r, http.StatusOK, "Sign in", "", views.SignIn(p))
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	p := views.SignInProps{Email: email, Next: safeNext(r.PostFormValue("next"))}
	fail := func(status int, msg string) {
		p.Error = msg
		s.page(w, r, status, "Sign in", "", views.SignIn(p))
	}
	if email == "" || password == "" {
		fail(http.StatusUnprocessableEntity, "Enter your email and password.")
		return
	}
	ctx := r.Context()
	emailKey, addrKey := models.EmailSignInKey(email), models.AddressSignInKey(s.clientAddr(r))
	// The attempt is counted before the password is checked, atomically, so that parallel
	// guesses are held to the same limit as serial ones.
	var throttled *models.ThrottledError
	if err := s.db.BeginSignIn(ctx, []models.SignInKey{emailKey, addrKey}, s.now()); errors.As(err, &throttled) {
		secs := int(math.Ceil(throttled.Wait.Seconds()))
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins for %s. Try again in %d seconds.", throttled.Key.Name, secs))
		return
	} else if err != nil {
		s.error(w, r, err)
		return
	}
	u, err := s.db.FindUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		s.error(w, r, err)
		return
	}
	if u == nil || !u.CheckPassword(password) {
		if u == nil {
			models.BurnPasswordCheck(password)
		}
		s.log.Info("sign-in failed", "email", clip(email, 254), "addr", s.clientAddr(r).String())
		fail(http.StatusUnauthorized, "That email and password do not match an account.")
		return
	}
	if u.Disabled() {
		fail(http.StatusForbidden, "This account has been disabled. Ask an administrator to enable it.")
		return
	}
	if err := s.db.FinishSignIn(ctx, emailKey, addrKey); err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.RecordSignIn(ctx, u.ID); err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		s.error(w, r, err)
		return
	}
	next := p.Next
	if next == "/" && u.Role == models.RolePartner {
		next = "/webhooks"
	}
	if u.MustChangePassword {
		next = "/account/password"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// clientAddr is the address the request came from, for throttling sign-ins and for the log:
// the peer's, unless the peer is a trusted proxy. Then it is the right-most address of
// X-Forwarded-For that is not itself a trusted proxy: each proxy appends the address it
// heard from, so entries further left are whatever the client chose to send. An entry that
// is not an address ends the walk at the hop that added it.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	addr := ap.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr
		}
		addr = hop.Unmap()
		if !s.trusted(addr) {
			return addr
		}
	}
	return addr
}

func (s *Server) trusted(addr netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads HOOKRELAY_TRUSTED_PROXIES: addresses and CIDR ranges, separated by
// commas.
func ParseTrustedProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR range such as 10.0.0.0/8", clip(f, 60))
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// signOut ends the session on the server too, so that a copy of the cookie stops working.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if err := s.endSession(w, r); err != nil {
		s.error(w, r, err)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
