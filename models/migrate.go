package models

import (
	"context"
	"fmt"

	"github.com/hookrelay/hookrelay/migrations"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

func (db *DB) goose() (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("making migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.SQL, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every migration not yet applied. Several instances may call it at once: an
// advisory lock lets one apply them while the others wait.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.goose()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	return nil
}

// PendingMigrations reports how many embedded migrations the database has not applied.
func (db *DB) PendingMigrations(ctx context.Context) (int, error) {
	p, err := db.goose()
	if err != nil {
		return 0, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading migration status: %w", err)
	}
	n := 0
	for _, s := range st {
		if s.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}
