package jobs

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/models"
)

// verifyLoop makes the verification calls as they fall due: one signed call per distinct
// endpoint URL of each partner's active webhooks, every VerifyInterval.
func (r *Runner) verifyLoop(ctx context.Context) {
	if r.cfg.VerifyInterval <= 0 {
		return
	}
	for ctx.Err() == nil {
		if err := r.db.SyncEndpoints(ctx, time.Now(), r.cfg.VerifyInterval); err != nil && ctx.Err() == nil {
			r.log.Error("scheduling verification", "err", err)
		}
		eps, err := r.db.ClaimDueEndpoints(ctx, time.Now(), r.cfg.VerifyInterval, 20)
		if err != nil && ctx.Err() == nil {
			r.log.Error("claiming endpoints", "err", err)
		}
		var wg sync.WaitGroup
		for _, ep := range eps {
			wg.Add(1)
			go func() { defer wg.Done(); r.verify(ep.PartnerID, ep.URL) }()
		}
		wg.Wait()
		if len(eps) > 0 {
			continue
		}
		next, has, err := r.db.NextEndpointDue(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Error("finding next verification", "err", err)
		}
		wait := 30 * time.Second // new webhooks get their schedule at the next look
		if has {
			wait = min(wait, max(time.Until(next), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// VerificationPayload is the body of a verification call.
type VerificationPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
}

// verify makes one verification call to url for one partner, signed with the secret of every
// active webhook of that partner that shares it, and records the outcome (which may disable
// them). Another partner's webhooks on the same URL get their own call.
func (r *Runner) verify(partnerID, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout+30*time.Second)
	defer cancel()
	log := r.log.With("url", url, "partner_id", partnerID)
	hooks, err := r.db.FindActiveWebhooksByURL(ctx, partnerID, url)
	if err != nil || len(hooks) == 0 {
		if err != nil {
			log.Error("finding webhooks to verify", "err", err)
		}
		return
	}
	now := time.Now()
	payload, _ := json.Marshal(VerificationPayload{Type: "webhook.verification", Timestamp: now.UTC().Truncate(time.Second)})
	ids := make([]string, len(hooks))
	hookIDs := make([]string, len(hooks))
	var secrets []string
	for i := range hooks {
		ids[i], hookIDs[i] = models.NewID("msg_"), hooks[i].ID
		s, err := r.sender.secrets(&hooks[i], now)
		if err != nil {
			log.Error("opening secrets", "webhook_id", hooks[i].ID, "err", err)
			continue
		}
		secrets = append(secrets, s...)
	}
	res := r.sender.Send(ctx, Request{MessageID: ids[0], WebhookID: hooks[0].ID, Trigger: models.TriggerSchedule, URL: url,
		Method: "POST", Body: payload, Secrets: secrets})
	out, err := r.db.RecordVerification(ctx, partnerID, url, hookIDs, ids, payload, res, r.cfg.VerifyThreshold, now)
	if err != nil {
		log.Error("recording verification", "err", err)
		return
	}
	if len(out.Disabled) > 0 {
		log.Warn("endpoint disabled after failed verification calls", "failures", out.Failures, "webhooks", out.Disabled)
	} else {
		log.Info("verified endpoint", "success", res.Success, "status", res.Status, "failures", out.Failures)
	}
}

// retentionLoop removes events and delivery logs older than the retention period, once a day
// across all instances, in small batches.
func (r *Runner) retentionLoop(ctx context.Context) {
	if r.cfg.Retention <= 0 {
		return
	}
	every := r.cfg.RetentionEvery
	if every <= 0 {
		every = 24 * time.Hour
	}
	for ctx.Err() == nil {
		due, err := r.db.ClaimSchedule(ctx, "retention", every, time.Now())
		if err != nil && ctx.Err() == nil {
			r.log.Error("planning retention", "err", err)
		}
		if due {
			r.runRetention(ctx)
		}
		t := time.NewTimer(min(every, time.Minute))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

func (r *Runner) runRetention(ctx context.Context) {
	cutoff := time.Now().Add(-r.cfg.Retention)
	var total int64
	for ctx.Err() == nil {
		n, err := r.db.RetentionBatch(ctx, cutoff, 5000)
		if err != nil {
			r.log.Error("removing old data", "err", err)
			return
		}
		total += n
		if n == 0 {
			break
		}
	}
	r.log.Info("removed data past retention", "rows", total, "before", cutoff)
}
