package jobs

import (
	"context"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of one instance. Counters count what this instance did;
// the gauges read the shared database when scraped, so every instance reports the same backlog.
type Metrics struct {
	EventsReceived *prometheus.CounterVec
	Deliveries     *prometheus.CounterVec
	AttemptLatency prometheus.Histogram
}

// NewMetrics registers hookrelay's series on reg.
func NewMetrics(reg prometheus.Registerer, db *models.DB) *Metrics {
	m := &Metrics{
		EventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookrelay_events_received_total", Help: "Events accepted by the ingestion API, by type.",
		}, []string{"type"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookrelay_deliveries_total", Help: "Delivery attempts, by outcome (succeeded, failed, error: no response).",
		}, []string{"outcome"}),
		AttemptLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookrelay_attempt_duration_seconds", Help: "Duration of delivery attempts, request to response.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}),
	}
	gauge := func(name, help string, read func(context.Context) (float64, error)) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			v, err := read(ctx)
			if err != nil {
				return -1
			}
			return v
		})
	}
	reg.MustRegister(m.EventsReceived, m.Deliveries, m.AttemptLatency,
		gauge("hookrelay_backlog_changes", "Changes waiting for their batch window (or for a paused webhook).", func(ctx context.Context) (float64, error) {
			b, err := db.FindBacklog(ctx)
			return float64(b.PendingChanges), err
		}),
		gauge("hookrelay_backlog_messages", "Messages waiting for an attempt or being delivered.", func(ctx context.Context) (float64, error) {
			b, err := db.FindBacklog(ctx)
			return float64(b.WaitingMessages), err
		}),
		gauge("hookrelay_webhooks_disabled", "Webhooks disabled by hookrelay.", func(ctx context.Context) (float64, error) {
			n, err := db.CountWebhooks(ctx, models.WebhookDisabled)
			return float64(n), err
		}),
		gauge("hookrelay_webhooks_failing", "Active webhooks whose latest delivery failed (held to one request in flight).", func(ctx context.Context) (float64, error) {
			n, err := db.CountFailingWebhooks(ctx)
			return float64(n), err
		}),
	)
	RegisterPoolMetrics(reg, db)
	return m
}

// RegisterPoolMetrics reports this instance's connection pool on reg: how full it is, and how
// often and how long work waited for a connection because none was idle (one had to be opened,
// or to come back). Steady waits show an undersized pool or a database that answers slowly
// before either shows as latency.
func RegisterPoolMetrics(reg prometheus.Registerer, db *models.DB) {
	conns := func(state string, read func() int32) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookrelay_db_connections", Help: "Connections of this instance's pool to PostgreSQL, by state (acquired, idle, constructing).",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 { return float64(read()) })
	}
	counter := func(name, help string, read func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, read)
	}
	pool := db.Pool
	reg.MustRegister(
		conns("acquired", func() int32 { return pool.Stat().AcquiredConns() }),
		conns("idle", func() int32 { return pool.Stat().IdleConns() }),
		conns("constructing", func() int32 { return pool.Stat().ConstructingConns() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hookrelay_db_max_connections", Help: "The most connections this instance's pool opens."},
			func() float64 { return float64(pool.Stat().MaxConns()) }),
		counter("hookrelay_db_acquires_total", "Connections taken from the pool.", func() float64 { return float64(pool.Stat().AcquireCount()) }),
		counter("hookrelay_db_empty_acquires_total", "Connections taken from the pool when none was idle: they waited for one to open or to come back.",
			func() float64 { return float64(pool.Stat().EmptyAcquireCount()) }),
		counter("hookrelay_db_empty_acquire_wait_seconds_total", "Time spent waiting for a connection when none was idle, summed.",
			func() float64 { return pool.Stat().EmptyAcquireWaitTime().Seconds() }),
	)
}

// observe records one attempt.
func (m *Metrics) observe(res models.AttemptResult) {
	if m == nil {
		return
	}
	outcome := "failed"
	switch {
	case res.Success:
		outcome = "succeeded"
	case res.Status == 0:
		outcome = "error"
	}
	m.Deliveries.WithLabelValues(outcome).Inc()
	m.AttemptLatency.Observe(res.Duration.Seconds())
}
