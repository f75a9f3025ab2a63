-- Provisional (replaced by the events branch): customer events.
CREATE TABLE customer_events (
    event_id    TEXT PRIMARY KEY,
    customer_id UUID NOT NULL,
    name        TEXT NOT NULL,
    properties  JSONB NOT NULL DEFAULT '{}'::jsonb,
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX customer_events_customer ON customer_events (customer_id, name, occurred_at);
