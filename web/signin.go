package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/signin") {
		return "/"
	}
	return next
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
	key := "email:" + strings.ToLower(email)
	now := s.now()
	wait, err := s.db.SignInWait(ctx, key, now)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins for this email. Try again in %d seconds.", secs))
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
		if err := s.db.RecordSignInFailure(ctx, key, now); err != nil {
			s.error(w, r, err)
			return
		}
		s.log.Info("sign-in failed", "email", email)
		fail(http.StatusUnauthorized, "That email and password do not match an account.")
		return
	}
	if u.Disabled() {
		fail(http.StatusForbidden, "This account has been disabled. Ask an administrator to enable it.")
		return
	}
	if err := s.db.ClearSignInFailures(ctx, key); err != nil {
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
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if err := s.endSession(w, r); err != nil {
		s.error(w, r, err)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
