// Package models holds hookrelay's domain types and the queries that read and write them.
package models

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// DB is one connection pool to PostgreSQL seen three ways: pgx for hot paths and the job
// queue, database/sql for migrations, gorm for everything else.
type DB struct {
	Pool *pgxpool.Pool
	SQL  *sql.DB
	Gorm *gorm.DB
	// Sealer encrypts the secrets stored in webhooks.
	Sealer *Sealer
	// MailContacts queues mail to partner contacts when a webhook is disabled or enabled again
	// (HOOKRELAY_SMTP_URL is set). Off, nothing is queued: mail turned on later does not send a
	// backlog of stale news.
	MailContacts bool

	// APIKeyCacheTTL is how long a key found is accepted without a look at the database
	// (default DefaultAPIKeyCacheTTL).
	APIKeyCacheTTL time.Duration

	changed signal
	ingest  ingester
	keys    keyCache
}

// BatchDue is when a webhook's batch window closes at the latest.
type BatchDue struct {
	WebhookID string
	At        time.Time
}

// signal hands what ingestion committed to this process's watchers.
type signal struct {
	mu       sync.Mutex
	next     int
	watchers map[int]func([]BatchDue)
}

func (s *signal) watch(fn func([]BatchDue)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers == nil {
		s.watchers = map[int]func([]BatchDue){}
	}
	id := s.next
	s.next++
	s.watchers[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.watchers, id)
	}
}

func (s *signal) fire(due []BatchDue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fn := range s.watchers {
		fn(due)
	}
}

// WatchChanges calls fn, until the returned stop is called, each time this process commits new
// pending changes, with when the batch window of each webhook concerned closes at the latest
// (earlier if another change opened it before). It is in-process on purpose: a NOTIFY in every
// ingesting transaction would serialize their commits. Other instances find the changes when
// they next look through all pending changes, which matters only if this one dies first.
func (db *DB) WatchChanges(fn func([]BatchDue)) (stop func()) { return db.changed.watch(fn) }

// Open connects to PostgreSQL at url with at most maxConns connections shared by all users of
// the pool.
func Open(ctx context.Context, url string, maxConns int32) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing database URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening database pool: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	g, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		TranslateError:         true,
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("opening gorm: %w", err)
	}
	return &DB{Pool: pool, SQL: sqlDB, Gorm: g}, nil
}

// Close releases every connection.
func (db *DB) Close() {
	db.stopIngest()
	_ = db.SQL.Close()
	db.Pool.Close()
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("pinging database: %w", err)
	}
	return nil
}
