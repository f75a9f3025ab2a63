DROP TABLE webhook_events;
DROP TABLE conversions;
DROP TABLE campaign_stats;
ALTER TABLE marketing_record DROP COLUMN converted_at, DROP COLUMN unsubscribed_at;
