ALTER TABLE marketing_record DROP CONSTRAINT marketing_record_execution_customer;
ALTER TABLE marketing_record ADD CONSTRAINT marketing_record_campaign_id_customer_id_key
    UNIQUE (campaign_id, customer_id);
DROP INDEX campaign_executions_one_occurrence;
DROP INDEX campaign_executions_one_actual;
CREATE UNIQUE INDEX campaign_executions_one_actual ON campaign_executions (campaign_id)
    WHERE execution_type = 'actual';
ALTER TABLE campaign_executions DROP COLUMN occurrence;
DROP INDEX marketing_campaign_next_run;
ALTER TABLE marketing_campaign DROP COLUMN trigger, DROP COLUMN next_run_at, DROP COLUMN paused_at;
