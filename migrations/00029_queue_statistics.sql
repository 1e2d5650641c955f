-- +goose Up
-- Messages and changes are queues: rows come in bursts and change state within seconds. The
-- planner's picture of them (row counts, how many are pending, how many per kind) is what
-- autovacuum's last ANALYZE saw, and by default that waits until a tenth of the table has
-- changed. A burst into a young or quiet table then runs on plans made for a handful of rows
-- (a whole-table scan to find twenty messages by id, measured at 100x the cost), until the next
-- ANALYZE. These tables are analysed, and vacuumed of their dead row versions, after 2 % has
-- changed instead.
ALTER TABLE messages SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE changes SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.02);

-- +goose Down
ALTER TABLE messages RESET (autovacuum_analyze_scale_factor, autovacuum_vacuum_scale_factor);
ALTER TABLE changes RESET (autovacuum_analyze_scale_factor, autovacuum_vacuum_scale_factor);
