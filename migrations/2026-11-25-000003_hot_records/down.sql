ALTER TABLE campaign_executions DROP COLUMN sent_count, DROP COLUMN failed_count;
ALTER TABLE marketing_record RESET (fillfactor);
DROP INDEX marketing_record_campaign_id;
CREATE INDEX marketing_record_execution ON marketing_record (execution_id, id);
CREATE INDEX marketing_record_campaign_status ON marketing_record (campaign_id, status, id);
