-- Status changes (pending → sending → sent) are the hottest writes. With no index on any
-- column they change and free space on each page, PostgreSQL updates records in place (HOT)
-- without touching an index. So: no index on status; campaign listing, relay paging and
-- completion use (campaign_id, id) and per-execution counters instead.
DROP INDEX marketing_record_campaign_status;
DROP INDEX marketing_record_execution;
CREATE INDEX marketing_record_campaign_id ON marketing_record (campaign_id, id);
ALTER TABLE marketing_record SET (fillfactor = 70);

-- Final records per execution, maintained by the statements that finalise records, so the
-- scheduler knows when a campaign is done without scanning its records.
ALTER TABLE campaign_executions
    ADD COLUMN sent_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN failed_count BIGINT NOT NULL DEFAULT 0;
