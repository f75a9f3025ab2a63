-- Time-ordered UUIDs (v7 layout) generated in SQL, so a million records inserted by one
-- statement land in id order in the B-tree instead of at random pages.
CREATE FUNCTION uuid_v7() RETURNS uuid AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid;
$$ LANGUAGE sql VOLATILE;

-- The relay publishes an execution's records in id order and keeps its place here; a lease
-- (owner + expiry) lets exactly one campaign-svc replica publish an execution at a time and lets
-- another take over when the owner dies.
ALTER TABLE campaign_executions
    ADD COLUMN published_upto UUID,
    ADD COLUMN published_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN publish_done BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN relay_owner UUID,
    ADD COLUMN relay_lease_until TIMESTAMPTZ;
CREATE INDEX campaign_executions_to_publish ON campaign_executions (created_at)
    WHERE execution_type = 'actual' AND NOT publish_done;

-- Which worker claimed a record for sending, and when.
ALTER TABLE marketing_record
    ADD COLUMN claimed_at TIMESTAMPTZ;
DROP INDEX marketing_record_unpublished;
ALTER TABLE marketing_record DROP COLUMN published_at;
CREATE INDEX marketing_record_execution ON marketing_record (execution_id, id);
