-- The timed publisher's index (000021) named `status` and `published_at` in its predicate. A
-- column in any index predicate counts as indexed, so since then no status change of any record
-- (the workers' outcome writes, the relay's publish marks) could be a HOT update: each one wrote
-- a new entry in every index of the table (bench fanout: PostgreSQL for the workers 44.8 µs per
-- message, against 19–21 µs before). Waiting records now carry `due_at`, their send time while
-- they wait to be published (cleared when published or failed); the index reads only that
-- column, which no hot write touches. `not_before` stays what the API shows.
ALTER TABLE marketing_record ADD COLUMN due_at TIMESTAMPTZ;
UPDATE marketing_record SET due_at = not_before
WHERE status = 'pending' AND published_at IS NULL AND not_before IS NOT NULL;
DROP INDEX marketing_record_due;
CREATE INDEX marketing_record_due ON marketing_record (due_at) WHERE due_at IS NOT NULL;
