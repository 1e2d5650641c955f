package models

import (
	"context"
	"time"

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

// CommitFlush runs a flush's second round trip for webhookID (event format) as if the changes
// with changeIDs had just been read pending, in a transaction of its own; it rolls back when
// that fails.
func CommitFlush(db *DB, ctx context.Context, webhookID string, changeIDs []int64, now time.Time) error {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	pending := make([]pendingChange, len(changeIDs))
	for i, id := range changeIDs {
		p := &pending[i]
		p.changeID = id
		if err := conn.QueryRow(ctx, `SELECT e.id, e.type, e.action, e.object_id FROM changes c JOIN events e ON e.id = c.event_id WHERE c.id = $1`, id).
			Scan(&p.EventID, &p.Type, &p.Action, &p.ObjectID); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, `BEGIN`); err != nil {
		return err
	}
	if _, err := commitFlush(ctx, conn.Conn(), webhookID, flushWebhook{format: FormatEvent, maxChanges: 100}, pending, now, nil); err != nil {
		_, _ = conn.Exec(ctx, `ROLLBACK`)
		return err
	}
	return nil
}
