-- Campaign triggers beyond the one-shot send: a campaign's `trigger` ({"kind": "once"} by default,
-- or {"kind": "recurring", "cron", "time_zone"}), the next occurrence a recurring campaign runs
-- at, and whether it is paused.
ALTER TABLE marketing_campaign
    ADD COLUMN trigger     JSONB NOT NULL DEFAULT '{"kind": "once"}'::jsonb,
    ADD COLUMN next_run_at TIMESTAMPTZ,
    ADD COLUMN paused_at   TIMESTAMPTZ;
-- The scheduler looks for due occurrences.
CREATE INDEX marketing_campaign_next_run ON marketing_campaign (next_run_at)
    WHERE next_run_at IS NOT NULL;

-- Each occurrence of a recurring campaign is one execution, keyed by the time it was due: two
-- replicas (or a retry after a crash) can never run the same occurrence twice. A one-shot
-- campaign still has at most one real execution.
ALTER TABLE campaign_executions ADD COLUMN occurrence TIMESTAMPTZ;
DROP INDEX campaign_executions_one_actual;
CREATE UNIQUE INDEX campaign_executions_one_actual ON campaign_executions (campaign_id)
    WHERE execution_type = 'actual' AND occurrence IS NULL;
CREATE UNIQUE INDEX campaign_executions_one_occurrence ON campaign_executions (campaign_id, occurrence)
    WHERE occurrence IS NOT NULL;

-- A customer gets one record per execution (a recurring campaign reaches them at each
-- occurrence). The relay pages an execution through this index in customer order; the
-- engagement rule finds a customer's records of a campaign through (customer_id, channel, …).
ALTER TABLE marketing_record DROP CONSTRAINT marketing_record_campaign_id_customer_id_key;
ALTER TABLE marketing_record
    ADD CONSTRAINT marketing_record_execution_customer UNIQUE (execution_id, customer_id);
