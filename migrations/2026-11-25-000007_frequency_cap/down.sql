CREATE INDEX marketing_record_customer ON marketing_record (customer_id);
DROP INDEX marketing_record_customer_channel;
