DROP TRIGGER campaign_stats_hourly_append ON campaign_stats;
DROP FUNCTION campaign_stats_hourly_append();
DROP TABLE campaign_stats_hourly;
