package web

import (
	"net/http"

	"github.com/hookrelay/hookrelay/models"
)

func (s *Server) webhookPause(w http.ResponseWriter, r *http.Request) {
	h, err := s.findWebhook(r, r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if err := s.db.SetWebhookState(r.Context(), actor(r), h.ID, models.StateChange{State: models.WebhookPaused}); err != nil {
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
	c := models.StateChange{State: models.WebhookActive, Backlog: r.PostFormValue("backlog")}
	if err := s.db.SetWebhookState(r.Context(), actor(r), h.ID, c); err != nil {
		s.error(w, r, err)
		return
	}
	verb := "Resumed"
	if h.State == models.WebhookDisabled {
		verb = "Re-enabled"
	}
	msg := verb + ". The changes that waited are being delivered."
	if c.Backlog == models.BacklogDrop {
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
	if err := s.db.DeleteWebhook(r.Context(), actor(r), h.ID); err != nil {
		s.error(w, r, err)
		return
	}
	s.setFlash(w, r, "success", "Webhook '"+h.Name+"' deleted.")
	http.Redirect(w, r, "/webhooks", http.StatusSeeOther)
}
