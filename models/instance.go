package models

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Beat records on conn that the instance id is alive, by the database's clock, so that
// instances on machines whose clocks differ agree on who is. The caller gives it a connection
// of its own: a live instance whose pool is busy must not look dead.
func Beat(ctx context.Context, conn *pgx.Conn, id string) error {
	if _, err := conn.Exec(ctx, `
		INSERT INTO instances (id) VALUES ($1)
		ON CONFLICT (id) DO UPDATE SET seen_at = now()`, id); err != nil {
		return fmt.Errorf("recording that instance %s is alive: %w", id, err)
	}
	return nil
}

// ForgetInstance removes the instance id once it has stopped and holds nothing, and the rows
// of instances not seen for a day.
func (db *DB) ForgetInstance(ctx context.Context, id string) error {
	if _, err := db.Pool.Exec(ctx, `DELETE FROM instances WHERE id = $1 OR seen_at < now() - interval '1 day'`, id); err != nil {
		return fmt.Errorf("forgetting instance %s: %w", id, err)
	}
	return nil
}

// ReleaseAbandoned, run on an instance's own connection like Beat, puts back in the queue the messages whose delivery nobody is finishing: those
// claimed by an instance not seen for dead (it was killed, or lost its database), and those
// whose lease ran out at now (a live instance stuck past every timeout). They go out again with
// the same webhook-id. A test notification or verification call whose sender went away is not
// sent again (they are never retried): it is failed with the reason. It returns how many
// messages were released.
func ReleaseAbandoned(ctx context.Context, conn *pgx.Conn, now time.Time, dead, lease time.Duration) (int, error) {
	tag, err := conn.Exec(ctx, `
		UPDATE messages m SET
		       state = CASE WHEN m.kind <> 'changes' AND NOT m.resend_requested THEN 'failed'
		                    WHEN m.attempt_count = 0 THEN 'pending' ELSE 'retrying' END,
		       last_error = CASE WHEN m.kind <> 'changes' AND NOT m.resend_requested
		                         THEN 'interrupted: the instance sending it stopped' ELSE m.last_error END,
		       finished_at = CASE WHEN m.kind <> 'changes' AND NOT m.resend_requested THEN $1 END,
		       next_attempt_at = CASE WHEN m.kind = 'changes' OR m.resend_requested THEN least(m.next_attempt_at, $1) END,
		       lease_until = NULL, claimed_by = NULL
		WHERE m.state = 'delivering'
		  AND (m.lease_until <= $1
		       OR (m.lease_until IS NULL AND m.created_at <= $1::timestamptz - make_interval(secs => $3))
		       OR (m.claimed_by IS NOT NULL AND NOT EXISTS (
		               SELECT 1 FROM instances i WHERE i.id = m.claimed_by AND i.seen_at > now() - make_interval(secs => $2))))`,
		now, dead.Seconds(), lease.Seconds())
	if err != nil {
		return 0, fmt.Errorf("releasing abandoned deliveries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
