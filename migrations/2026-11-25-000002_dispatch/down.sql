DROP INDEX marketing_record_execution;
ALTER TABLE marketing_record ADD COLUMN published_at TIMESTAMPTZ;
CREATE INDEX marketing_record_unpublished ON marketing_record (id) WHERE published_at IS NULL;
ALTER TABLE marketing_record DROP COLUMN claimed_at;
DROP INDEX campaign_executions_to_publish;
ALTER TABLE campaign_executions
    DROP COLUMN published_upto, DROP COLUMN published_count, DROP COLUMN publish_done,
    DROP COLUMN relay_owner, DROP COLUMN relay_lease_until;
DROP FUNCTION uuid_v7();
