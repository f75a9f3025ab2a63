-- The frequency cap looks up, per audience customer, its recent records on one channel. Through
-- (customer_id) alone that reads every record the customer ever got, one heap page each (20,000
-- customers with 100 records: 5.2 s; with this index: 0.16 s). created_at, channel and
-- customer_id are never updated, so status updates stay HOT. The index's leading column serves
-- every lookup by customer the old (customer_id) index did, so it replaces it: still one index
-- entry per record written.
CREATE INDEX marketing_record_customer_channel ON marketing_record (customer_id, channel, created_at);
DROP INDEX marketing_record_customer;
