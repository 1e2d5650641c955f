package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config is the timing and sizing of the background work. main fills it from the environment;
// tests shrink the times.
type Config struct {
	Workers int
	// PerWebhook caps the messages of one webhook in flight across all instances.
	PerWebhook   int
	Retry        RetryPolicy
	Timeout      time.Duration
	AllowPrivate bool
	Version      string
	// PollInterval bounds how long a missed notification can delay work.
	PollInterval time.Duration
	// Metrics, when set, count deliveries.
	Metrics *Metrics
	// VerifyInterval is how often each endpoint gets a verification call (0: never);
	// VerifyThreshold failed calls in a row disable its webhooks.
	VerifyInterval  time.Duration
	VerifyThreshold int
	// Retention is how long events and delivery logs are kept (0: forever); RetentionEvery how
	// often the clean-up runs (default daily).
	Retention      time.Duration
	RetentionEvery time.Duration
	// InstanceTimeout is how long an instance may go without saying it is alive before the
	// others take over the messages it was delivering (default 3 s); it says so three times
	// as often.
	InstanceTimeout time.Duration
	// Mail is how partner contacts are mailed (no SMTP server: not at all).
	Mail MailConfig
}

// Runner closes batch windows and delivers messages. Every instance runs one; they share the
// work through row locks in PostgreSQL (SKIP LOCKED), so none holds state another would miss.
type Runner struct {
	db     *models.DB
	id     string // this instance, as its claims name it
	sender *Sender
	mailer *mailer // nil: no mail
	cfg    Config
	log    *slog.Logger

	batchWake   chan struct{}
	deliverWake chan struct{}
	mailWake    chan struct{}
	alive       chan struct{} // closed once the instance's first heartbeat is stored
	listening   chan struct{} // closed once notifications are first listened for
	running     chan struct{}
	stopped     chan struct{}
	inflight    sync.WaitGroup
	// slots are the workers, taken by the deliveries that both the claims and the flushes
	// start; freed hears when one is given back or a request is answered.
	slots chan struct{}
	freed chan struct{}
	// short says the claim loop found no worker free: workers given back must wake it.
	short    atomic.Bool
	records  chan record
	answered answeredSet
}

// answeredSet holds the messages whose requests have had their answer but whose attempts are
// not recorded yet: off the wire, so they do not count against their webhook's cap.
type answeredSet struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func (a *answeredSet) add(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = map[string]struct{}{}
	}
	a.ids[id] = struct{}{}
}

func (a *answeredSet) remove(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.ids, id)
}

func (a *answeredSet) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.ids))
	for id := range a.ids {
		out = append(out, id)
	}
	return out
}

// record is an attempt waiting to be written, with where to report the write's outcome.
type record struct {
	outcome models.AttemptOutcome
	done    chan error
}

// Defaults of the runner's settings (SPEC "Running it"); main's settings start from them, and
// a zero in Config means the default.
const (
	DefaultWorkersPerCPU   = 50
	DefaultPerWebhook      = 20
	DefaultPollInterval    = time.Second
	DefaultVerifyThreshold = 3
)

// NewRunner makes a Runner.
func NewRunner(db *models.DB, sealer *models.Sealer, cfg Config, log *slog.Logger) *Runner {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkersPerCPU * runtime.NumCPU()
	}
	if cfg.PerWebhook <= 0 {
		cfg.PerWebhook = DefaultPerWebhook
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.VerifyThreshold <= 0 {
		cfg.VerifyThreshold = DefaultVerifyThreshold
	}
	if cfg.InstanceTimeout <= 0 {
		cfg.InstanceTimeout = 3 * time.Second
	}
	return &Runner{
		db: db, cfg: cfg, log: log, id: models.NewID("ins_"),
		alive:       make(chan struct{}),
		listening:   make(chan struct{}),
		sender:      NewSender(sealer, cfg.Version, cfg.Timeout, cfg.AllowPrivate),
		mailer:      newMailer(cfg.Mail),
		mailWake:    make(chan struct{}, 1),
		batchWake:   make(chan struct{}, 1),
		deliverWake: make(chan struct{}, 1),
		slots:       make(chan struct{}, cfg.Workers),
		freed:       make(chan struct{}, 1),
		running:     make(chan struct{}),
		stopped:     make(chan struct{}),
		records:     make(chan record, 1024),
	}
}

// Sender is the runner's HTTP sender, for test notifications and resends made by people.
func (r *Runner) Sender() *Sender { return r.sender }

// lease is how long a claimed message may stay with a live instance: far longer than any
// request takes, so it matters only for an instance stuck past its own timeouts. A dead
// instance's claims are taken over sooner, through its heartbeat.
func (r *Runner) lease() time.Duration { return 2*r.cfg.Timeout + 2*time.Second }

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Running is closed once the runner's loops have started.
func (r *Runner) Running() <-chan struct{} { return r.running }

// Listening is closed once the runner first listens for other instances' notifications.
func (r *Runner) Listening() <-chan struct{} { return r.listening }

// Stopped is closed once the runner has stopped.
func (r *Runner) Stopped() <-chan struct{} { return r.stopped }

// Run works until ctx ends, then waits for the deliveries in flight (each bounded by the
// delivery timeout) so that their outcome is recorded rather than repeated.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(5)
	beating := make(chan struct{})
	beatCtx, stopBeating := context.WithCancel(context.Background())
	go func() { defer close(beating); r.heartbeat(beatCtx, ctx) }()
	go func() { defer wg.Done(); r.listen(ctx) }()
	go func() { defer wg.Done(); r.batchLoop(ctx) }()
	go func() { defer wg.Done(); r.deliverLoop(ctx) }()
	go func() { defer wg.Done(); r.verifyLoop(ctx) }()
	go func() { defer wg.Done(); r.retentionLoop(ctx) }()
	if r.mailer != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.mailLoop(ctx) }()
	}
	recorded := make(chan struct{})
	go func() { r.recordLoop(); close(recorded) }()
	close(r.running)
	wg.Wait()
	r.inflight.Wait()
	close(r.records)
	<-recorded
	// Alive until the last attempt is recorded, so that nobody takes over what it finishes.
	stopBeating()
	<-beating
	forget, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := r.db.ForgetInstance(forget, r.id); err != nil {
		r.log.Warn("forgetting this instance", "err", err)
	}
	cancel()
	close(r.stopped)
}

// heartbeat says every third of InstanceTimeout that this instance is alive, and releases the
// messages that dead or stuck instances were delivering, both on a connection of its own so
// that a busy pool cannot make it late. It runs until beatCtx ends, which Run does only after
// the last attempt is recorded; work is the context of the runner's loops.
func (r *Runner) heartbeat(beatCtx, work context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	t := time.NewTicker(r.cfg.InstanceTimeout / 3)
	defer t.Stop()
	for {
		if err := r.beat(beatCtx, &conn, work.Err() == nil); err != nil && beatCtx.Err() == nil {
			r.log.Warn("heartbeat", "err", err)
			if conn != nil {
				_ = conn.Close(context.Background())
				conn = nil
			}
		}
		select {
		case <-beatCtx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Runner) beat(ctx context.Context, conn **pgx.Conn, release bool) error {
	if *conn == nil {
		c, err := pgx.ConnectConfig(ctx, r.db.Pool.Config().ConnConfig)
		if err != nil {
			return fmt.Errorf("connecting: %w", err)
		}
		*conn = c
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.InstanceTimeout)
	defer cancel()
	if err := models.Beat(ctx, *conn, r.id); err != nil {
		return err
	}
	select {
	case <-r.alive:
	default:
		close(r.alive)
	}
	if !release {
		return nil
	}
	n, err := models.ReleaseAbandoned(ctx, *conn, time.Now(), r.cfg.InstanceTimeout, r.lease())
	if err != nil {
		return err
	}
	if n > 0 {
		r.log.Info("took over the deliveries of a stopped instance", "messages", n)
		poke(r.deliverWake)
	}
	if r.mailer == nil {
		return nil
	}
	if n, err = models.ReleaseAbandonedMails(ctx, *conn, time.Now(), r.cfg.InstanceTimeout); err != nil {
		return err
	}
	if n > 0 {
		r.log.Info("took over the mails of a stopped instance", "mails", n)
		poke(r.mailWake)
	}
	return nil
}

// recordLoop writes finished attempts in groups: whatever arrived while the previous write
// ran, up to 500 at a time. Under load this turns many small transactions into a few larger
// ones; alone, an attempt is written at once.
func (r *Runner) recordLoop() {
	for first := range r.records {
		group := []record{first}
	collect:
		for len(group) < 500 {
			select {
			case rec, ok := <-r.records:
				if !ok {
					break collect
				}
				group = append(group, rec)
			default:
				break collect
			}
		}
		outcomes := make([]models.AttemptOutcome, len(group))
		for i, rec := range group {
			outcomes[i] = rec.outcome
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.db.RecordDeliveries(ctx, outcomes, &r.cfg.Retry)
		cancel()
		for _, rec := range group {
			rec.done <- err
		}
	}
}

// listen turns PostgreSQL notifications from any instance into wake-ups of the loops.
func (r *Runner) listen(ctx context.Context) {
	for ctx.Err() == nil {
		if err := r.listenOnce(ctx, r.db.Pool); err != nil && ctx.Err() == nil {
			r.log.Warn("listening for notifications; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (r *Runner) listenOnce(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	for _, ch := range []string{models.ChannelBatches, models.ChannelMessages, models.ChannelMail, models.ChannelAPIKeys} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			return err
		}
	}
	// Revocations announced while nobody listened were missed: keys are looked up afresh.
	r.db.ForgetAPIKey("")
	select {
	case <-r.listening:
	default:
		close(r.listening)
	}
	defer func() {
		// The connection goes back to the pool: stop listening on it first.
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = conn.Exec(c, "UNLISTEN *")
	}()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case models.ChannelBatches:
			poke(r.batchWake)
		case models.ChannelMessages:
			poke(r.deliverWake)
		case models.ChannelMail:
			poke(r.mailWake)
		case models.ChannelAPIKeys:
			if n.Payload != "" {
				r.db.ForgetAPIKey(n.Payload)
			}
		}
	}
}

func (r *Runner) deliverLoop(ctx context.Context) {
	// Claims name this instance: until its row exists, others would take them as a dead one's.
	select {
	case <-ctx.Done():
		return
	case <-r.alive:
	}
	for ctx.Err() == nil {
		now := time.Now()
		free := r.reserve(200)
		r.short.Store(free == 0)
		if free > 0 {
			ds, err := r.db.ClaimDueMessages(ctx, r.id, now, free, r.cfg.PerWebhook, r.lease(), r.answered.list())
			if err != nil && ctx.Err() == nil {
				r.log.Error("claiming messages", "err", err)
			}
			r.startAll(ds, free)
			if len(ds) == free {
				continue // there may be more due right now
			}
			if len(ds) > 0 {
				// Busy: the deliveries just started wake the loop when they finish.
				r.wait(ctx, r.cfg.PollInterval)
				continue
			}
		}
		// Wait for a slot or a webhook's cap to free up, for new work, or for the next due time.
		// The next due time is looked for after the claim's time, not the clock's: a retry that
		// fell due between the claim and this look is due now, not after the poll.
		wait := r.cfg.PollInterval
		if next, has, err := r.db.NextMessageDue(ctx, now); err != nil {
			if ctx.Err() == nil {
				r.log.Error("finding next message", "err", err)
			}
		} else if has {
			wait = min(wait, max(time.Until(next), 0))
		}
		r.wait(ctx, wait)
	}
}

// reserve takes up to n free workers without waiting and says how many it took.
func (r *Runner) reserve(n int) int {
	for i := range n {
		select {
		case r.slots <- struct{}{}:
		default:
			return i
		}
	}
	return n
}

// startAll starts the deliveries of ds on reserved workers and gives back the reserved ones
// they do not need.
func (r *Runner) startAll(ds []models.Delivery, reserved int) {
	for range reserved - len(ds) {
		<-r.slots
	}
	if reserved > len(ds) && r.short.CompareAndSwap(true, false) {
		poke(r.freed)
	}
	for i := range ds {
		r.inflight.Add(1)
		go func(d *models.Delivery) {
			defer func() { <-r.slots; r.inflight.Done(); poke(r.freed) }()
			r.deliver(d, func() { poke(r.freed) })
		}(&ds[i])
	}
}

// wait sleeps until a delivery finishes, new work is announced, or d passes.
func (r *Runner) wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-r.freed:
	case <-r.deliverWake:
	case <-t.C:
	}
}

// deliver makes one scheduled attempt of a claimed message and records it, calling answered
// once the request is off the wire. It runs to the end even when the runner is stopping: its
// own timeout bounds it.
func (r *Runner) deliver(d *models.Delivery, answered func()) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout+30*time.Second)
	defer cancel()
	log := r.log.With("message_id", d.MessageID, "webhook_id", d.Webhook.ID)
	now := time.Now()
	trigger := models.TriggerSchedule
	if d.Resend {
		trigger = models.TriggerResend
	}
	req, err := r.sender.RequestFor(d, trigger, now)
	var res models.AttemptResult
	if err != nil {
		res = models.AttemptResult{MessageID: d.MessageID, WebhookID: d.Webhook.ID, Trigger: trigger,
			StartedAt: now, URL: d.Webhook.URL + d.URLSuffix, Method: d.Webhook.Method, Error: err.Error()}
	} else {
		res = r.sender.Send(ctx, req)
	}
	var nextAt *time.Time
	// 410 Gone: the endpoint is gone for good, so no retries (recording disables the webhook).
	if !res.Success && !d.Resend && res.Status != http.StatusGone {
		end := res.StartedAt.Add(res.Duration)
		if t, ok := r.cfg.Retry.Next(d.ScheduledAttempts+1, end); ok {
			if wait, ok := models.RetryAfter(res.Status, res.ResponseHeaders, end); ok {
				t = models.Honour(t, end.Add(wait))
			}
			nextAt = &t
		}
	}
	r.cfg.Metrics.observe(res)
	r.answered.add(d.MessageID)
	defer r.answered.remove(d.MessageID)
	answered()
	rec := record{outcome: models.AttemptOutcome{AttemptResult: res, NextAt: nextAt}, done: make(chan error, 1)}
	r.records <- rec
	if err := <-rec.done; err != nil {
		// The lease runs out and another attempt follows: at least once, never lost.
		log.Error("recording attempt", "err", err)
		return
	}
	switch {
	case res.Success:
		log.Info("delivered", "status", res.Status, "duration_ms", res.Duration.Milliseconds())
	case nextAt != nil:
		log.Info("delivery failed; retrying", "status", res.Status, "error", res.Error, "next_attempt_at", nextAt)
		poke(r.deliverWake)
	default:
		log.Warn("delivery failed; no retries left", "status", res.Status, "error", res.Error)
	}
}
