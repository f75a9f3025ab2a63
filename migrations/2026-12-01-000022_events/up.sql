-- Customer events (`POST /api/marketing/events`): what customers did, as the CRM and the shop
-- report it, for behaviour segment rules and event-triggered campaigns.
--
-- `event_id` is the caller's idempotency key: a repeat is a duplicate, never a second row.
-- `customer_id` has no foreign key on purpose: customers are never deleted (erasure keeps an
-- anonymous tombstone and deletes the customer's events itself), and a foreign key would cost a
-- lookup per inserted row on a table meant for hundreds of millions of rows.
--
-- A plain table with a retention loop (EVENT_RETENTION_DAYS) rather than partitions by time:
-- a unique `event_id` across partitions would have to include the partition key, so a repeat
-- with another `occurred_at` would no longer be caught. Retention deletes in bounded batches
-- through `customer_events_occurred_at`.
CREATE TABLE customer_events (
    event_id    TEXT PRIMARY KEY,
    customer_id UUID NOT NULL,
    name        TEXT NOT NULL,
    properties  JSONB NOT NULL DEFAULT '{}',
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One customer's events by name and time: correlated rule subqueries (EXISTS, counts) and
-- erasure.
CREATE INDEX customer_events_customer ON customer_events (customer_id, name, occurred_at);
-- Everyone who did `name` since a time, index-only: the hash (anti-)join of "did / did not do X
-- within N days" over the whole customer table.
CREATE INDEX customer_events_name ON customer_events (name, occurred_at, customer_id);
-- The retention loop's oldest-first batches.
CREATE INDEX customer_events_occurred_at ON customer_events (occurred_at);
