package web

import (
	"net/http"

	"github.com/hookrelay/hookrelay/views"
)

// webhookSecretReveal shows the signing secret (and the previous one during a rotation); the
// action records who looked.
func (s *Server) webhookSecretReveal(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	secrets, err := s.db.RevealWebhookSecret(r.Context(), actor(r), h.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	sv := views.SecretView{WebhookID: h.ID, WebhookName: h.Name, Secret: secrets.Current, PreviousSecret: secrets.Previous, RotationEndsAt: secrets.PreviousUntil}
	if isHTMX(r) {
		s.fragment(w, r, http.StatusOK, views.Secret(sv, canEditWebhooks(currentUser(r))))
		return
	}
	s.renderWebhookPage(w, r, sv, nil)
}

func (s *Server) webhookSecretRotate(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	secrets, err := s.db.RotateWebhookSecret(r.Context(), actor(r), h.ID)
	if err != nil {
		s.error(w, r, err)
		return
	}
	// The webhook's page shows the new secret once: a reload of it does not rotate again.
	if err := s.keepOnce(w, r, "rotated:"+h.ID, secrets.Current+"\x00"+secrets.Previous); err != nil {
		s.error(w, r, err)
		return
	}
	http.Redirect(w, r, "/webhooks/"+h.ID, http.StatusSeeOther)
}
