DROP INDEX marketing_record_due;
ALTER TABLE marketing_record DROP COLUMN not_before, DROP COLUMN published_at;
ALTER TABLE campaign_executions DROP COLUMN timing;
ALTER TABLE marketing_campaign DROP COLUMN send_at_local, DROP COLUMN time_zone, DROP COLUMN quiet_hours;
