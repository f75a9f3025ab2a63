-- Local-time delivery and quiet hours: a campaign may send each message at a local time of day
-- (`send_at_local`) and outside quiet hours, on the customer's clock (the campaign's
-- `time_zone` for customers without one). An execution keeps the rules it was triggered with;
-- a record that must wait carries the instant it may leave.
ALTER TABLE marketing_campaign
    ADD COLUMN send_at_local TEXT,
    ADD COLUMN time_zone     TEXT,
    ADD COLUMN quiet_hours   JSONB;
ALTER TABLE campaign_executions ADD COLUMN timing JSONB;
-- A waiting record is published by the timed publisher, which marks it; records the relay
-- publishes are tracked by the execution's cursor and never marked.
ALTER TABLE marketing_record ADD COLUMN not_before TIMESTAMPTZ, ADD COLUMN published_at TIMESTAMPTZ;
-- Waiting records, in the order they fall due: what the timed publisher pages through. Only
-- records that wait are in it, so it stays small whatever the campaigns' sizes.
CREATE INDEX marketing_record_due ON marketing_record (not_before)
    WHERE status = 'pending' AND published_at IS NULL AND not_before IS NOT NULL;
