package web

import (
	"fmt"
	"net/http"

	"github.com/hookrelay/hookrelay/models"
)

func (s *Server) webhookPause(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	reason := "Paused by " + currentUser(r).Email
	if err := s.db.SetWebhookState(r.Context(), h.ID, models.WebhookPaused, reason, "", s.now()); err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.paused", "webhook", h.ID, "Paused webhook "+h.Name, nil); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", "Paused. Changes are collected and wait until you resume it.")
	http.Redirect(w, r, "/webhooks/"+h.ID, http.StatusSeeOther)
}

// webhookResume resumes a paused webhook or re-enables a disabled one, delivering or dropping
// the changes that waited.
func (s *Server) webhookResume(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	backlog := r.PostFormValue("backlog")
	if err := s.db.SetWebhookState(r.Context(), h.ID, models.WebhookActive, "", backlog, s.now()); err != nil {
		s.error(w, r, err)
		return
	}
	action, verb := "webhook.resumed", "Resumed"
	if h.State == models.WebhookDisabled {
		action, verb = "webhook.reenabled", "Re-enabled"
	}
	if backlog == "" {
		backlog = models.BacklogDeliver
	}
	if err := s.db.Audit(r.Context(), actor(r), action, "webhook", h.ID, fmt.Sprintf("%s webhook %s (backlog: %s)", verb, h.Name, backlog),
		map[string]any{"backlog": backlog}); err != nil {
		s.error(w, r, err)
		return
	}
	msg := verb + ". The changes that waited are being delivered."
	if backlog == models.BacklogDrop {
		msg = verb + ". The changes that waited were dropped."
	}
	s.setFlash(w, r, "success", msg)
	http.Redirect(w, r, "/webhooks/"+h.ID, http.StatusSeeOther)
}

func (s *Server) webhookDelete(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.DeleteWebhook(r.Context(), h.ID); err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.Audit(r.Context(), actor(r), "webhook.deleted", "webhook", h.ID, "Deleted webhook "+h.Name, webhookAuditDetails(h)); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", "Webhook '"+h.Name+"' deleted.")
	http.Redirect(w, r, "/webhooks", http.StatusSeeOther)
}
