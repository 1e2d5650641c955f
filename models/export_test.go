package models

// SetIngestCommitters sets how many groups of posts db commits at once; call it before db's
// first ingestion.
func SetIngestCommitters(db *DB, n int) { db.ingest.committers = n }

// IngestQueued is how many posts wait for a committer.
func IngestQueued(db *DB) int { return len(db.ingest.reqs) }
