ALTER TABLE marketing_record
    ADD CONSTRAINT marketing_record_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES marketing_campaign (id),
    ADD CONSTRAINT marketing_record_execution_id_fkey FOREIGN KEY (execution_id) REFERENCES campaign_executions (id),
    ADD CONSTRAINT marketing_record_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE campaign_executions RENAME COLUMN publish_cursor TO published_upto;
ALTER TABLE campaign_executions RENAME COLUMN publisher TO relay_owner;
ALTER TABLE campaign_executions RENAME COLUMN publisher_lease_until TO relay_lease_until;
UPDATE campaign_executions SET published_upto = NULL WHERE NOT publish_done;
ALTER TABLE campaign_executions
    DROP COLUMN materialized_upto,
    DROP COLUMN materialize_done,
    DROP COLUMN materialize_lease_until;
