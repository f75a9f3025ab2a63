DROP TABLE campaign_spend;
ALTER TABLE campaign_executions DROP COLUMN cost_estimate;
ALTER TABLE campaign_stats DROP COLUMN cost_micros;
ALTER TABLE marketing_record DROP COLUMN cost_micros;
ALTER TABLE marketing_campaign DROP COLUMN spend_cap_micros;
