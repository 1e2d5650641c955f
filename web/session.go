package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/views"
)

const sessionName = "hookrelay_session"

type ctxKey int

const (
	userKey ctxKey = iota
	expiredKey
	apiKeyKey
)

// currentUser is the signed-in user of the request, or nil.
func currentUser(r *http.Request) *models.User {
	u, _ := r.Context().Value(userKey).(*models.User)
	return u
}

func (s *Server) session(r *http.Request) *sessions.Session {
	// A cookie that fails to decode (tampered, or made with another key) gives a fresh session.
	sess, _ := s.sessions.Get(r, sessionName)
	return sess
}

// loadUser resolves the session cookie to a user. A session ends when it has been idle too long,
// is older than the maximum, was signed out (its row is gone), the user is disabled, or the
// user's password changed since.
func (s *Server) loadUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := s.session(r)
		uid, _ := sess.Values["uid"].(string)
		if uid == "" {
			next.ServeHTTP(w, r)
			return
		}
		now := s.now()
		seen := time.Unix(int64Value(sess.Values["seen"]), 0)
		created := time.Unix(int64Value(sess.Values["created"]), 0)
		sid, _ := sess.Values["sid"].(string)
		u, err := s.db.FindSessionUser(r.Context(), sid, uid)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			s.error(w, r, err)
			return
		}
		valid := err == nil && !u.Disabled() && u.SessionVersion == intValue(sess.Values["sv"]) &&
			now.Sub(seen) <= s.cfg.SessionIdle && now.Sub(created) <= s.cfg.SessionMax
		if !valid {
			clearSession(sess)
			_ = sess.Save(r, w)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), expiredKey, true)))
			return
		}
		if now.Sub(seen) > time.Minute {
			sess.Values["seen"] = now.Unix()
			if err := sess.Save(r, w); err != nil {
				s.error(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey, u)))
	})
}

func clearSession(sess *sessions.Session) {
	for k := range sess.Values {
		delete(sess.Values, k)
	}
}

func int64Value(v any) int64 {
	n, _ := v.(int64)
	return n
}

func intValue(v any) int {
	n, _ := v.(int)
	return n
}

// startSession signs u in on this browser.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *models.User) error {
	sid, err := s.db.CreateSession(r.Context(), u.ID, s.now(), s.cfg.SessionMax)
	if err != nil {
		return err
	}
	sess := s.session(r)
	if old, _ := sess.Values["sid"].(string); old != "" {
		if err := s.db.DeleteSession(r.Context(), old); err != nil {
			return err
		}
	}
	clearSession(sess)
	now := s.now().Unix()
	sess.Values["sid"] = sid
	sess.Values["uid"] = u.ID
	sess.Values["sv"] = u.SessionVersion
	sess.Values["created"] = now
	sess.Values["seen"] = now
	return sess.Save(r, w)
}

// endSession signs the browser out, and ends the session on the server.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	sess := s.session(r)
	if sid, _ := sess.Values["sid"].(string); sid != "" {
		if err := s.db.DeleteSession(r.Context(), sid); err != nil {
			return err
		}
	}
	clearSession(sess)
	sess.Options.MaxAge = -1
	return sess.Save(r, w)
}

// keepOnce keeps a value (a new API key, a rotated secret) for the next page this browser shows,
// which shows it once: the POST that made it redirects, so a reload neither repeats the action
// nor finds the value again. The cookie is encrypted with the instance key.
func (s *Server) keepOnce(w http.ResponseWriter, r *http.Request, name, value string) error {
	sess := s.session(r)
	sess.Values["once:"+name] = value
	return sess.Save(r, w)
}

// takeOnce returns and forgets a value kept by keepOnce ("" when there is none). It must run
// before the body is written.
func (s *Server) takeOnce(w http.ResponseWriter, r *http.Request, name string) string {
	sess := s.session(r)
	v, _ := sess.Values["once:"+name].(string)
	if v == "" {
		return ""
	}
	delete(sess.Values, "once:"+name)
	if err := sess.Save(r, w); err != nil {
		s.log.Error("forgetting a one-time value", "err", err)
	}
	return v
}

// setFlash keeps a message for the next page this browser shows.
func (s *Server) setFlash(w http.ResponseWriter, r *http.Request, kind, text string) {
	sess := s.session(r)
	sess.Values["flash_kind"] = kind
	sess.Values["flash_text"] = text
	if err := sess.Save(r, w); err != nil {
		s.log.Error("saving flash", "err", err)
	}
}

// takeFlash returns and forgets the pending flash message. It must run before the body is written.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) *views.Flash {
	sess := s.session(r)
	text, _ := sess.Values["flash_text"].(string)
	if text == "" {
		return nil
	}
	kind, _ := sess.Values["flash_kind"].(string)
	delete(sess.Values, "flash_text")
	delete(sess.Values, "flash_kind")
	if err := sess.Save(r, w); err != nil {
		s.log.Error("clearing flash", "err", err)
	}
	return &views.Flash{Kind: kind, Text: text}
}
