-- Customer journeys: multi-step flows (send, wait, wait for an event, branch, split, exit) that
-- each customer walks on their own. Everything a journey does for a customer is a row here, so any
-- number of campaign-svc replicas can run them and a replica killed mid-step loses nothing.

CREATE TABLE journeys (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'draft'
                 CHECK (status IN ('draft', 'active', 'paused', 'archived')),
    -- The newest version: new entries walk it; customers inside finish on their own.
    version      INT NOT NULL DEFAULT 1,
    created_by   UUID NOT NULL,
    updated_by   UUID NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    activated_at TIMESTAMPTZ,
    archived_at  TIMESTAMPTZ
);
CREATE INDEX journeys_created ON journeys (created_at DESC, id DESC);

-- A journey's definition as saved (entry, start, steps, re_entry, goal), one row per version.
-- `send_campaigns` maps each send step to the campaign whose records it writes (made when the
-- version first becomes active, never changed after).
CREATE TABLE journey_versions (
    journey_id     UUID NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    version        INT NOT NULL,
    definition     JSONB NOT NULL,
    send_campaigns JSONB NOT NULL DEFAULT '{}',
    created_by     UUID NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (journey_id, version)
);

-- One customer's walk through one version of a journey. `due_at` is when the runner next looks
-- at it (now: move on; a wait's end; a wait-for-event's timeout); NULL once it is finished or
-- while nothing is pending. `phase` is `enter` when the customer has just arrived at `step` (its
-- action not yet taken) and `waiting` while a wait or wait-for-event step holds them.
CREATE TABLE journey_enrollments (
    id              UUID PRIMARY KEY,
    journey_id      UUID NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    version         INT NOT NULL,
    customer_id     UUID NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    state           TEXT NOT NULL DEFAULT 'active'
                    CHECK (state IN ('active', 'completed', 'exited', 'converted')),
    step            TEXT NOT NULL,
    phase           TEXT NOT NULL DEFAULT 'enter' CHECK (phase IN ('enter', 'waiting')),
    step_entered_at TIMESTAMPTZ NOT NULL,
    -- The end of the current wait, or the timeout of the current wait-for-event.
    wait_until      TIMESTAMPTZ,
    -- The event a wait-for-event step listens for (an arriving one wakes the customer at once).
    waiting_for     TEXT,
    -- A goal event that converted the customer, applied at the next look.
    goal_event_id   TEXT,
    -- Steps taken so far: numbers the history and names each send's record.
    seq             INT NOT NULL DEFAULT 0,
    -- Each send step's latest message: {"<step>": {"campaign": …, "key": …}} (branch rules on
    -- engagement read the record through it).
    sends           JSONB NOT NULL DEFAULT '{}',
    entry_event_id  TEXT,
    due_at          TIMESTAMPTZ,
    entered_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (journey_id, version) REFERENCES journey_versions (journey_id, version)
);
CREATE INDEX journey_enrollments_due ON journey_enrollments (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX journey_enrollments_customer ON journey_enrollments (customer_id, journey_id);
CREATE INDEX journey_enrollments_journey ON journey_enrollments (journey_id, state);
-- One walk at a time per customer and journey.
CREATE UNIQUE INDEX journey_enrollments_one_active ON journey_enrollments (journey_id, customer_id)
    WHERE state = 'active';
-- One entry per entry event.
CREATE UNIQUE INDEX journey_enrollments_entry_event ON journey_enrollments (journey_id, entry_event_id)
    WHERE entry_event_id IS NOT NULL;

-- What happened to a customer in a journey, step by step.
CREATE TABLE journey_history (
    enrollment_id UUID NOT NULL REFERENCES journey_enrollments (id) ON DELETE CASCADE,
    seq           INT NOT NULL,
    step          TEXT NOT NULL,
    action        TEXT NOT NULL,
    detail        JSONB,
    at            TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (enrollment_id, seq)
);

-- Per-step counters, written with the steps they count (never a scan of the enrollments).
CREATE TABLE journey_step_stats (
    journey_id UUID NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    version    INT NOT NULL,
    step       TEXT NOT NULL,
    entered    BIGINT NOT NULL DEFAULT 0,
    waiting    BIGINT NOT NULL DEFAULT 0,
    completed  BIGINT NOT NULL DEFAULT 0,
    exited     BIGINT NOT NULL DEFAULT 0,
    converted  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (journey_id, version, step)
);

-- The event names each journey listens to (entry, wait-for-event steps of every version, goal).
CREATE TABLE journey_event_names (
    name       TEXT NOT NULL,
    journey_id UUID NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    PRIMARY KEY (name, journey_id)
);

-- Events for active journeys, enqueued in the transaction that stores them and taken by the
-- journey runner (entries, wake-ups of customers waiting for them, goals).
CREATE TABLE journey_inbox (
    journey_id  UUID NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    customer_id UUID NOT NULL,
    name        TEXT NOT NULL,
    properties  JSONB NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (journey_id, event_id)
);
CREATE INDEX journey_inbox_received ON journey_inbox (received_at);

-- Customers matching a segment-entry journey's segment at its last look: one who starts to
-- match enters.
CREATE TABLE journey_segment_members (
    journey_id  UUID NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    customer_id UUID NOT NULL,
    PRIMARY KEY (journey_id, customer_id)
);

CREATE FUNCTION marketing_enqueue_event_journeys() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO journey_inbox (journey_id, event_id, customer_id, name, properties, occurred_at, received_at)
    SELECT j.id, n.event_id, n.customer_id, n.name, n.properties, n.occurred_at, n.received_at
    FROM new_events n
    JOIN journey_event_names jn ON jn.name = n.name
    JOIN journeys j ON j.id = jn.journey_id AND j.status = 'active'
    WHERE n.occurred_at >= n.received_at - interval '1 day'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER customer_events_enqueue_journeys
    AFTER INSERT ON customer_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION marketing_enqueue_event_journeys();
