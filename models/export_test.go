package models

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SetIngestCommitters sets how many groups of posts db commits at once; call it before db's
// first ingestion.
func SetIngestCommitters(db *DB, n int) { db.ingest.committers = n }

// IngestQueued is how many posts wait for a committer.
func IngestQueued(db *DB) int { return len(db.ingest.reqs) }

// QueryGenericPlan runs a statement as ingestion's keyless groups do: a transaction of its
// own, planned generically.
func QueryGenericPlan(db *DB, ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return genericPlan{db.Pool}.Query(ctx, sql, args...)
}

// APIKeyCached says whether db accepts the key with plaintext secret from memory.
func APIKeyCached(db *DB, secret string) bool {
	_, ok := db.keys.get(string(hashAPIKey(secret)), db.apiKeyCacheTTL())
	return ok
}
