-- Event-triggered campaigns ({"kind": "event", "event", "where"?, "delay_seconds"?,
-- "once_per_customer"?, "cooldown_hours"?}).
--
-- An event campaign's records collect in one *listening* execution (keyed by the time it started
-- listening, in `occurrence`); a new one starts when the campaign is resumed or edited. Each
-- record names the event that made it: one record per (campaign, event) at most, whoever
-- dispatches it and however often the event is posted.
ALTER TABLE campaign_executions ADD COLUMN listening BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE marketing_record ADD COLUMN event_id TEXT;
ALTER TABLE marketing_record DROP CONSTRAINT marketing_record_execution_customer;
-- A customer still gets one record per broadcast execution (the relay pages them through this
-- index in customer order); a listening execution holds one per event.
CREATE UNIQUE INDEX marketing_record_execution_customer ON marketing_record (execution_id, customer_id)
    WHERE event_id IS NULL;
CREATE UNIQUE INDEX marketing_record_campaign_event ON marketing_record (campaign_id, event_id)
    WHERE event_id IS NOT NULL;

-- The listening campaigns by event name: what an inserted event is matched against.
CREATE INDEX marketing_campaign_event ON marketing_campaign ((trigger->>'event'))
    WHERE trigger->>'kind' = 'event';

-- Events that matched a listening campaign by name, waiting for their send time (`due_at`: the
-- event's time plus the campaign's delay, never before it was received). The event dispatcher
-- (campaign-svc) takes due rows with SKIP LOCKED, applies the campaign's property rule,
-- audience, opt-outs, frequency cap, once-per-customer and cooldown, writes the record and
-- deletes the row, in one transaction.
CREATE TABLE marketing_event_trigger (
    campaign_id UUID NOT NULL REFERENCES marketing_campaign (id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    customer_id UUID NOT NULL,
    due_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (campaign_id, event_id)
);
CREATE INDEX marketing_event_trigger_due ON marketing_event_trigger (due_at);
CREATE INDEX marketing_event_trigger_campaign_due ON marketing_event_trigger (campaign_id, due_at);

-- Every statement that stores events enqueues them for the campaigns listening to their name, in
-- the same transaction: an event is never stored without its sends, nor sent without being
-- stored. Only rows actually inserted are in the transition table (a duplicate event_id, skipped
-- by ON CONFLICT DO NOTHING, enqueues nothing again). A campaign listens while scheduled or
-- active, not paused, between its start_time (or creation) and end_time; events that happened
-- before it started listening, or more than a day before they were received (a backfill), send
-- nothing.
CREATE FUNCTION marketing_enqueue_event_campaigns() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO marketing_event_trigger (campaign_id, event_id, customer_id, due_at)
    SELECT c.id, n.event_id, n.customer_id,
           greatest(n.occurred_at + make_interval(secs => COALESCE((c.trigger->>'delay_seconds')::double precision, 0)),
                    n.received_at)
    FROM new_events n
    JOIN marketing_campaign c ON c.trigger->>'kind' = 'event' AND c.trigger->>'event' = n.name
    WHERE c.status IN ('scheduled', 'active') AND c.paused_at IS NULL
      AND n.occurred_at >= COALESCE(c.start_time, c.created_at)
      AND n.occurred_at >= n.received_at - interval '1 day'
      AND (c.end_time IS NULL OR c.end_time > n.received_at)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER customer_events_enqueue_campaigns
    AFTER INSERT ON customer_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION marketing_enqueue_event_campaigns();
