-- Campaign figures per hour (README "Previews, A/B tests and statistics": the report's time
-- series), kept beside `campaign_stats` without scanning records to read them.
--
-- Every change of a `campaign_stats` counter (workers' outcome writes, receipts, opens, clicks,
-- conversions, unsubscribes, stale sweeps: whatever statement makes it) is appended here by a
-- statement trigger as one row of deltas per campaign, in the hour it happened. Appending takes no
-- row lock another writer could wait for, so concurrent workers never queue or deadlock on it. The
-- rows of a (campaign, hour) are summed when read and rolled up into one row in the background
-- (`rolled`), so reading a campaign's hours stays a few rows per hour.
CREATE TABLE campaign_stats_hourly (
    campaign_id     UUID NOT NULL REFERENCES marketing_campaign (id),
    hour            TIMESTAMPTZ NOT NULL,
    sent            BIGINT NOT NULL DEFAULT 0,
    send_failed     BIGINT NOT NULL DEFAULT 0,
    delivered       BIGINT NOT NULL DEFAULT 0,
    delivery_failed BIGINT NOT NULL DEFAULT 0,
    opened          BIGINT NOT NULL DEFAULT 0,
    clicked         BIGINT NOT NULL DEFAULT 0,
    converted       BIGINT NOT NULL DEFAULT 0,
    unsubscribed    BIGINT NOT NULL DEFAULT 0,
    -- The sum of every row its (campaign, hour) had when it was rolled up.
    rolled          BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX campaign_stats_hourly_campaign ON campaign_stats_hourly (campaign_id, hour);
CREATE INDEX campaign_stats_hourly_unrolled ON campaign_stats_hourly (campaign_id, hour)
    WHERE NOT rolled;

CREATE FUNCTION campaign_stats_hourly_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_stats_hourly (campaign_id, hour, sent, send_failed, delivered,
                                       delivery_failed, opened, clicked, converted, unsubscribed)
    SELECT n.campaign_id, date_trunc('hour', now()),
           sum(n.sent - o.sent), sum(n.send_failed - o.send_failed),
           sum(n.delivered - o.delivered), sum(n.delivery_failed - o.delivery_failed),
           sum(n.opened - o.opened), sum(n.clicked - o.clicked),
           sum(n.converted - o.converted), sum(n.unsubscribed - o.unsubscribed)
    FROM new_stats n JOIN old_stats o USING (execution_id, variant)
    GROUP BY n.campaign_id
    HAVING sum(n.sent - o.sent) <> 0 OR sum(n.send_failed - o.send_failed) <> 0
        OR sum(n.delivered - o.delivered) <> 0 OR sum(n.delivery_failed - o.delivery_failed) <> 0
        OR sum(n.opened - o.opened) <> 0 OR sum(n.clicked - o.clicked) <> 0
        OR sum(n.converted - o.converted) <> 0 OR sum(n.unsubscribed - o.unsubscribed) <> 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER campaign_stats_hourly_append
    AFTER UPDATE ON campaign_stats
    REFERENCING OLD TABLE AS old_stats NEW TABLE AS new_stats
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_stats_hourly_append();

-- What happened before this migration, from the records' own times (a one-time scan).
INSERT INTO campaign_stats_hourly (campaign_id, hour, sent, delivered, opened, clicked, converted,
                                   unsubscribed, rolled)
SELECT campaign_id, hour, sum(sent), sum(delivered), sum(opened), sum(clicked), sum(converted),
       sum(unsubscribed), true
FROM (
    SELECT campaign_id, date_trunc('hour', sent_at) AS hour, 1 AS sent, 0 AS delivered,
           0 AS opened, 0 AS clicked, 0 AS converted, 0 AS unsubscribed
    FROM marketing_record WHERE sent_at IS NOT NULL
    UNION ALL
    SELECT campaign_id, date_trunc('hour', delivered_at), 0, 1, 0, 0, 0, 0
    FROM marketing_record WHERE delivered_at IS NOT NULL
    UNION ALL
    SELECT campaign_id, date_trunc('hour', opened_at), 0, 0, 1, 0, 0, 0
    FROM marketing_record WHERE opened_at IS NOT NULL
    UNION ALL
    SELECT campaign_id, date_trunc('hour', clicked_at), 0, 0, 0, 1, 0, 0
    FROM marketing_record WHERE clicked_at IS NOT NULL
    UNION ALL
    SELECT campaign_id, date_trunc('hour', converted_at), 0, 0, 0, 0, 1, 0
    FROM marketing_record WHERE converted_at IS NOT NULL
    UNION ALL
    SELECT campaign_id, date_trunc('hour', unsubscribed_at), 0, 0, 0, 0, 0, 1
    FROM marketing_record WHERE unsubscribed_at IS NOT NULL
) t
GROUP BY campaign_id, hour;
