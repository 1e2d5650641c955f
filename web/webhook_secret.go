package web

import (
	"net/http"

	"github.com/hookrelay/hookrelay/views"
)

// webhookSecretReveal shows the signing secret (and the previous one during a rotation) and
// records who looked.
func (s *Server) webhookSecretReveal(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	cur, prev, err := s.db.RevealWebhookSecret(r.Context(), h)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.secret_revealed", "webhook", h.ID, "Revealed the signing secret of "+h.Name, nil); err != nil {
		s.error(w, r, err)
		return
	}
	sv := views.SecretView{WebhookID: h.ID, Secret: cur}
	if prev != nil {
		sv.PreviousSecret, sv.RotationEndsAt = *prev, h.PreviousSecretExpiresAt
	}
	if isHTMX(r) {
		s.fragment(w, r, http.StatusOK, views.Secret(sv, canEditWebhooks(currentUser(r))))
		return
	}
	s.renderWebhookPage(w, r, sv)
}

func (s *Server) webhookSecretRotate(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	secret, err := s.db.RotateWebhookSecret(r.Context(), h.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.secret_rotated", "webhook", h.ID, "Rotated the signing secret of "+h.Name, nil); err != nil {
		s.error(w, r, err)
		return
	}
	h, err = s.findWebhook(r, h.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	_, prev, err := s.db.RevealWebhookSecret(r.Context(), h)
	if err != nil {
		s.error(w, r, err)
		return
	}
	sv := views.SecretView{WebhookID: h.ID, Secret: secret, RotationEndsAt: h.PreviousSecretExpiresAt, JustRotated: true}
	if prev != nil {
		sv.PreviousSecret = *prev
	}
	s.renderWebhookPage(w, r, sv)
}
