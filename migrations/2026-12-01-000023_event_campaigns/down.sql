DROP TRIGGER customer_events_enqueue_campaigns ON customer_events;
DROP FUNCTION marketing_enqueue_event_campaigns();
DROP TABLE marketing_event_trigger;
DROP INDEX marketing_campaign_event;
DROP INDEX marketing_record_campaign_event;
DROP INDEX marketing_record_execution_customer;
DELETE FROM marketing_record WHERE event_id IS NOT NULL;
ALTER TABLE marketing_record
    ADD CONSTRAINT marketing_record_execution_customer UNIQUE (execution_id, customer_id);
ALTER TABLE marketing_record DROP COLUMN event_id;
ALTER TABLE campaign_executions DROP COLUMN listening;
