package models_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var benchAttempts = flag.Int("bench.attempts", 10_000_000, "attempts to fill the tables with for the page benchmarks")

// fill makes 200 webhooks with n/10 messages and n attempts spread over 30 days, once.
func fill(b *testing.B, db *models.DB) {
	ctx := context.Background()
	var have int
	_ = db.Pool.QueryRow(ctx, `SELECT count(*) FROM attempts`).Scan(&have)
	if have >= *benchAttempts {
		return
	}
	start := time.Now()
	msgs := *benchAttempts / 10
	for _, q := range []string{
		`INSERT INTO partners (id, name) VALUES ('ptn_bench', 'Bench') ON CONFLICT DO NOTHING`,
		`INSERT INTO webhooks (id, partner_id, name, url, secret_enc, all_event_types)
		 SELECT 'wh_bench_' || i, 'ptn_bench', 'bench ' || i, 'https://h' || i || '.example.com/', '\x00', true
		 FROM generate_series(1, 200) i ON CONFLICT DO NOTHING`,
		`INSERT INTO messages (id, webhook_id, kind, state, payload, event_types, object_ids, change_count, attempt_count,
		                       last_status, last_attempt_at, created_at)
		 SELECT 'msg_bench_' || i, 'wh_bench_' || (i % 200 + 1), 'changes',
		        (ARRAY['succeeded','succeeded','succeeded','succeeded','succeeded','succeeded','failed','retrying'])[i % 8 + 1],
		        '{"id":"x"}', ARRAY[(ARRAY['course.completed','training.updated','badge.awarded'])[i % 3 + 1]], ARRAY['obj-' || (i % 50000)],
		        1, 10, 200, now() - (i % 720) * interval '1 hour', now() - (i % 720) * interval '1 hour' - (i % 3600) * interval '1 second'
		 FROM generate_series(1, $1::int) i`,
		`INSERT INTO attempts (message_id, webhook_id, trigger, started_at, url, method, response_status, duration_ms, success)
		 SELECT 'msg_bench_' || (i % $1::int + 1), 'wh_bench_' || ((i % $1::int) % 200 + 1), 'schedule', now() - (i % 720) * interval '1 hour',
		        'https://h.example.com/', 'POST', 200, 12, true
		 FROM generate_series(1, $1::int * 10) i`,
		`INSERT INTO delivery_hours (hour, succeeded, failed)
		 SELECT date_trunc('hour', now()) - h * interval '1 hour', 12000, 300 FROM generate_series(0, 720) h ON CONFLICT DO NOTHING`,
		`VACUUM ANALYZE`, // what autovacuum does to a live database
	} {
		if _, err := db.Pool.Exec(ctx, q, msgs); err != nil {
			if _, err2 := db.Pool.Exec(ctx, q); err2 != nil {
				b.Fatalf("filling: %v / %v", err, err2)
			}
		}
	}
	b.Logf("filled %d messages and %d attempts in %s", msgs, msgs*10, time.Since(start).Round(time.Second))
}

// BenchmarkDeliveryLogPage is one page of the delivery log, newest first, with the filters
// people use, over a log of -bench.attempts attempts.
func BenchmarkDeliveryLogPage(b *testing.B) {
	db := dbtest.DB(b)
	fill(b, db)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		f    models.MessageFilter
	}{
		{"All", models.MessageFilter{}},
		{"Webhook", models.MessageFilter{WebhookID: "wh_bench_17"}},
		{"WebhookFailed", models.MessageFilter{WebhookID: "wh_bench_17", State: "failed"}},
		{"EventType", models.MessageFilter{EventType: "badge.awarded"}},
		{"ObjectID", models.MessageFilter{ObjectID: "obj-4242"}},
		{"Partner", models.MessageFilter{PartnerID: "ptn_bench"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var next *models.Cursor
			for b.Loop() {
				f := bc.f
				f.After = next
				rows, c, err := db.FindMessages(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				if len(rows) == 0 {
					next = nil
				} else {
					next = c
				}
			}
		})
	}
}

// BenchmarkDashboard is the dashboard's queries over the same data, each on its own.
func BenchmarkDashboard(b *testing.B) {
	db := dbtest.DB(b)
	fill(b, db)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"DeliveryHours", func() error { _, err := db.DeliveryHours(ctx, time.Now()); return err }},
		{"Backlog", func() error { _, err := db.FindBacklog(ctx); return err }},
		{"Failing", func() error { _, err := db.FindFailingWebhooks(ctx, time.Now(), 20); return err }},
		{"Disabled", func() error { _, err := db.CountWebhooks(ctx, models.WebhookDisabled); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWebhookList is a page of the webhook list among 20,000 webhooks, and the course
// type-ahead among 100,000 courses.
func BenchmarkWebhookList(b *testing.B) {
	db := dbtest.DB(b)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO partners (id, name) SELECT 'ptn_many_' || i, 'Many ' || i FROM generate_series(1, 100) i ON CONFLICT DO NOTHING`,
		`INSERT INTO webhooks (id, partner_id, name, url, secret_enc, all_event_types, created_at)
		 SELECT 'wh_many_' || i, 'ptn_many_' || (i % 100 + 1), 'Integration ' || md5(i::text), 'https://hooks' || i || '.example.com/in', '\x00', true,
		        now() - i * interval '1 minute'
		 FROM generate_series(1, 20000) i ON CONFLICT DO NOTHING`,
		`INSERT INTO courses (id, title) SELECT 'course-' || i, 'Course ' || md5(i::text) || ' safety' FROM generate_series(1, 100000) i ON CONFLICT DO NOTHING`,
		`VACUUM ANALYZE`,
	} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		f    models.WebhookFilter
	}{
		{"FirstPage", models.WebhookFilter{}},
		{"Partner", models.WebhookFilter{PartnerID: "ptn_many_42"}},
		{"Search", models.WebhookFilter{Search: "hooks1234."}},
		{"State", models.WebhookFilter{State: "paused"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := db.FindWebhooks(ctx, bc.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("CourseTypeahead", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := db.FindCourses(ctx, models.CourseFilter{Search: "3f2a", Limit: 20}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDueBatches is the batch worker's look for closed windows with 5,000 webhooks that
// each have an open window and 1,000 paused webhooks holding a backlog: one index probe per
// webhook with pending changes.
func BenchmarkDueBatches(b *testing.B) {
	db := dbtest.DB(b)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO partners (id, name) VALUES ('ptn_due', 'Due') ON CONFLICT DO NOTHING`,
		`INSERT INTO webhooks (id, partner_id, name, url, secret_enc, all_event_types, batch_window_seconds, state)
		 SELECT 'wh_due_' || i, 'ptn_due', 'due ' || i, 'https://due' || i || '.example.com/', '\x00', true, 60,
		        CASE WHEN i > 5000 THEN 'paused' ELSE 'active' END
		 FROM generate_series(1, 6000) i ON CONFLICT DO NOTHING`,
		`INSERT INTO events (id, type, action, occurred_at) SELECT 'evt_due_' || i, 'course.completed', 'update', now()
		 FROM generate_series(1, 10) i ON CONFLICT DO NOTHING`,
		`INSERT INTO changes (webhook_id, event_id, created_at)
		 SELECT 'wh_due_' || w, 'evt_due_' || e, now() - (CASE WHEN w > 5000 THEN interval '1 day' ELSE interval '0' END)
		 FROM generate_series(1, 6000) w, generate_series(1, 10) e ON CONFLICT DO NOTHING`,
		`VACUUM ANALYZE`,
	} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		due, _, has, err := db.DueBatches(ctx, time.Now(), 100)
		if err != nil || len(due) != 0 || !has {
			b.Fatalf("due %v, has %v, err %v", due, has, err)
		}
	}
}

// BenchmarkClaimDueMessages is the delivery worker's claim among 20,000 active webhooks, ten of
// which have messages due (each about its own object); the claimed messages are put back
// between calls. "ordered" turns per-object order on for the ten, which costs each candidate a
// look for an earlier message about its objects.
func BenchmarkClaimDueMessages(b *testing.B) {
	db := dbtest.DB(b)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO partners (id, name) VALUES ('ptn_claim', 'Claim') ON CONFLICT DO NOTHING`,
		`INSERT INTO webhooks (id, partner_id, name, url, secret_enc, all_event_types)
		 SELECT 'wh_claim_' || i, 'ptn_claim', 'claim ' || i, 'https://claim' || i || '.example.com/', '\x00', true
		 FROM generate_series(1, 20000) i ON CONFLICT DO NOTHING`,
		`INSERT INTO messages (id, webhook_id, kind, state, payload, next_attempt_at, object_keys)
		 SELECT 'msg_claim_' || i, 'wh_claim_' || (i % 10 + 1), 'changes', 'pending', '{}', now() - interval '1 minute',
		        ARRAY['["training","' || i || '"]']
		 FROM generate_series(1, 100) i ON CONFLICT DO NOTHING`,
		`VACUUM ANALYZE`,
	} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for _, ordered := range []bool{false, true} {
		name := "unordered"
		if ordered {
			name = "ordered"
		}
		b.Run(name, func(b *testing.B) {
			if _, err := db.Pool.Exec(ctx, `UPDATE webhooks SET ordered = $1 WHERE id LIKE 'wh_claim_%'`, ordered); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				ds, err := db.ClaimDueMessages(ctx, "bench", time.Now(), 50, 20, time.Minute, nil)
				if err != nil || len(ds) != 50 {
					b.Fatalf("claimed %d, err %v", len(ds), err)
				}
				b.StopTimer()
				if _, err := db.Pool.Exec(ctx, `UPDATE messages SET state = 'pending', lease_until = NULL WHERE id LIKE 'msg_claim_%'`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkIngest stores events among 20,000 webhooks, of which 5 want the event's type: the
// fan-out must find those without reading every webhook.
func BenchmarkIngest(b *testing.B) {
	db := dbtest.DB(b)
	ctx := context.Background()
	for _, q := range []string{
		// The other benchmarks' webhooks want every type; here they must not.
		`UPDATE webhooks SET all_event_types = false WHERE all_event_types AND id NOT LIKE 'wh_ing_%'`,
		`INSERT INTO partners (id, name) VALUES ('ptn_ing', 'Ingest') ON CONFLICT DO NOTHING`,
		`INSERT INTO webhooks (id, partner_id, name, url, secret_enc, all_event_types)
		 SELECT 'wh_ing_' || i, 'ptn_ing', 'ingest ' || i, 'https://ing' || i || '.example.com/', '\x00', false
		 FROM generate_series(1, 20000) i ON CONFLICT DO NOTHING`,
		`INSERT INTO webhook_event_types (webhook_id, event_type)
		 SELECT 'wh_ing_' || i, CASE WHEN i <= 5 THEN 'course.completed' ELSE 'badge.awarded' END
		 FROM generate_series(1, 20000) i ON CONFLICT DO NOTHING`,
		// A live database has events. Analyzed while empty, the table would get foreign-key
		// checks planned (and cached per connection) as whole-table scans, which is not what a
		// real deployment sees: autovacuum does not analyze an empty table.
		`INSERT INTO events (id, type, action, occurred_at) SELECT 'evt_ing_' || i, 'badge.awarded', 'award', now()
		 FROM generate_series(1, 100000) i ON CONFLICT DO NOTHING`,
		`VACUUM ANALYZE`,
	} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("Events%d", n), func(b *testing.B) {
			evs := make([]models.NewEvent, n)
			for i := range evs {
				evs[i] = models.NewEvent{Type: "course.completed", Action: "completed", OccurredAt: time.Now(), Data: []byte(`{}`)}
			}
			for b.Loop() {
				if _, err := db.IngestEvents(ctx, evs, time.Now(), func(int, string) string { return "" }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIngestConcurrent posts one event per call from 32 goroutines, the shape the
// platform sends in, to one webhook. With 4 committers, calls that arrive while a commit is
// under way share the next one; with 32, nearly every call has a committer to itself and
// commits alone, as before group commit. Report the ratio of the two (ns/op is per event).
func BenchmarkIngestConcurrent(b *testing.B) {
	dbtest.DB(b) // migrated
	for _, committers := range []int{32, 2} {
		b.Run(fmt.Sprintf("committers=%d", committers), func(b *testing.B) {
			ctx := context.Background()
			db, err := models.Open(ctx, dbtest.URL(), 40)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			models.SetIngestCommitters(db, committers)
			if _, err := db.Pool.Exec(ctx, `INSERT INTO partners (id, name) VALUES ('ptn_conc', 'Concurrent') ON CONFLICT DO NOTHING`); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Pool.Exec(ctx, `INSERT INTO webhooks (id, partner_id, name, url, secret_enc, all_event_types, state)
				VALUES ('wh_conc', 'ptn_conc', 'concurrent', 'https://conc.example.com/', '\x00', false, 'paused') ON CONFLICT DO NOTHING`); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Pool.Exec(ctx, `INSERT INTO webhook_event_types (webhook_id, event_type) VALUES ('wh_conc', 'training.updated') ON CONFLICT DO NOTHING`); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(32 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				evs := []models.NewEvent{{Type: "training.updated", Action: "updated", OccurredAt: time.Now(), Data: []byte(`{}`)}}
				for pb.Next() {
					if _, err := db.IngestEvents(ctx, evs, time.Now(), func(int, string) string { return "" }); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
