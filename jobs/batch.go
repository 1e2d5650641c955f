package jobs

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/models"
)

// batchLoop closes batch windows. Two sources say which are due: a look through all pending
// changes (at start, every PollInterval, when another instance notifies, and while more are due
// than one round takes), and the windows this process's own ingestion opened, handed over in
// memory as they commit. The second makes a window of zero close at once without a query per
// event; the first is the truth, and finds whatever the memory does not know (changes accepted
// by an instance that died, a webhook resumed elsewhere).
func (r *Runner) batchLoop(ctx context.Context) {
	hints := newDueHints()
	stop := r.db.WatchChanges(hints.add)
	defer stop()
	const perRound = 100
	scanAt := time.Now()
	for ctx.Err() == nil {
		now := time.Now()
		var due []string
		var next time.Time
		if !now.Before(scanAt) {
			found, later, has, err := r.db.DueBatches(ctx, now, perRound)
			if err != nil && ctx.Err() == nil {
				r.log.Error("finding due batches", "err", err)
			}
			due = found
			scanAt = now.Add(r.cfg.PollInterval)
			if len(found) == perRound {
				scanAt = now // more are due than one round takes
			}
			if has {
				scanAt = minTime(scanAt, later)
			}
		}
		hinted, hintNext := hints.take(now)
		due = appendNew(due, hinted)
		next = minTime(scanAt, hintNext)

		flushed, waiting := 0, false
		for _, id := range due {
			claim := r.directClaim()
			found, f, err := r.db.FlushBatch(ctx, id, time.Now(), claim)
			if claim != nil {
				r.startAll(f.Claimed, claim.Limit)
			}
			if found && f.Waiting > 0 {
				waiting = true
			}
			switch {
			case errors.Is(err, models.ErrBusy):
				// Someone else holds the webhook; what they miss, the next try finds.
				hints.add([]models.BatchDue{{WebhookID: id, At: time.Now().Add(5 * time.Millisecond)}})
			case err != nil && ctx.Err() == nil:
				r.log.Error("flushing batch", "webhook_id", id, "err", err)
			case found:
				flushed++
			}
		}
		if waiting {
			poke(r.deliverWake)
		}
		if flushed > 0 {
			continue
		}
		if d := time.Until(next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
			case <-hints.wake:
			case <-r.batchWake:
				scanAt = time.Now()
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// directClaim is what a flush may claim for this instance to deliver at once (nil: nothing):
// as much as one webhook may have in flight, out of the free workers, which it reserves.
func (r *Runner) directClaim() *models.DirectClaim {
	select {
	case <-r.alive: // claims name this instance: its row must exist
	default:
		return nil
	}
	n := r.reserve(models.MaxMaxInFlight)
	if n == 0 {
		return nil
	}
	return &models.DirectClaim{Instance: r.id, Limit: n, PerWebhook: r.cfg.PerWebhook, Lease: r.lease(), Answered: r.answered.list()}
}

// dueHints are the batch windows this process's ingestion opened, by webhook: the earliest
// close time known for each.
type dueHints struct {
	mu   sync.Mutex
	at   map[string]time.Time
	wake chan struct{}
}

func newDueHints() *dueHints {
	return &dueHints{at: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

func (h *dueHints) add(due []models.BatchDue) {
	h.mu.Lock()
	for _, d := range due {
		if t, ok := h.at[d.WebhookID]; !ok || d.At.Before(t) {
			h.at[d.WebhookID] = d.At
		}
	}
	h.mu.Unlock()
	poke(h.wake)
}

// take removes and returns the webhooks due at now, and tells when the next one is.
func (h *dueHints) take(now time.Time) (due []string, next time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, t := range h.at {
		if !t.After(now) {
			due = append(due, id)
			delete(h.at, id)
		} else if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return due, next
}

// minTime is the earlier of a and b, where the zero time means "none".
func minTime(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	default:
		return b
	}
}

func appendNew(to, from []string) []string {
	seen := make(map[string]bool, len(to))
	for _, s := range to {
		seen[s] = true
	}
	for _, s := range from {
		if !seen[s] {
			to = append(to, s)
		}
	}
	return to
}
