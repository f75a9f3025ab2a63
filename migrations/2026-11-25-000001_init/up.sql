-- Customers are pushed in by the CRM (upsert by external_id). Erasure (GDPR/CCPA) keeps the row
-- as a tombstone (erased_at set, personal data nulled) so records and statistics stay intact.
CREATE TABLE customers (
    id          UUID PRIMARY KEY,
    external_id TEXT UNIQUE,
    name        TEXT,
    email       TEXT,
    phone       TEXT,
    push_token  TEXT,
    tags        TEXT[] NOT NULL DEFAULT '{}',
    attributes  JSONB NOT NULL DEFAULT '{}'::jsonb,
    locale      TEXT,
    time_zone   TEXT,
    erased_at   TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX customers_tags_gin ON customers USING GIN (tags);
CREATE INDEX customers_attributes_gin ON customers USING GIN (attributes jsonb_path_ops);

-- One row per customer and channel the customer refused; channel 'all' refuses every channel.
CREATE TABLE customer_opt_outs (
    customer_id UUID NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    channel     TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'push_notification', 'all')),
    source      TEXT NOT NULL DEFAULT 'api',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, channel)
);

CREATE TABLE marketing_campaign (
    id                  UUID PRIMARY KEY,
    name                TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    type                TEXT NOT NULL CHECK (type IN ('sms', 'email', 'push_notification')),
    status              TEXT NOT NULL CHECK (status IN ('draft', 'scheduled', 'active', 'completed', 'archived')),
    target_tags         TEXT[] NOT NULL DEFAULT '{}',
    target_segment_id   UUID,
    content_template_id UUID,
    content             TEXT NOT NULL DEFAULT '',
    start_time          TIMESTAMPTZ,
    end_time            TIMESTAMPTZ,
    actual_start_time   TIMESTAMPTZ,
    actual_end_time     TIMESTAMPTZ,
    created_by          UUID NOT NULL,
    updated_by          UUID NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (end_time IS NULL OR start_time IS NULL OR end_time > start_time)
);
CREATE INDEX marketing_campaign_status_start ON marketing_campaign (status, start_time);
CREATE INDEX marketing_campaign_created ON marketing_campaign (created_at DESC, id DESC);

-- Each trigger of a campaign, real or simulated, with what the audience resolution found.
CREATE TABLE campaign_executions (
    id              UUID PRIMARY KEY,
    campaign_id     UUID NOT NULL REFERENCES marketing_campaign (id),
    execution_type  TEXT NOT NULL CHECK (execution_type IN ('actual', 'simulation')),
    status          TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    planned         BIGINT NOT NULL DEFAULT 0,
    skipped         JSONB NOT NULL DEFAULT '{}'::jsonb,
    samples         JSONB NOT NULL DEFAULT '[]'::jsonb,
    triggered_by    UUID,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ
);
-- At most one real execution per campaign: a second actual trigger is a conflict.
CREATE UNIQUE INDEX campaign_executions_one_actual ON campaign_executions (campaign_id)
    WHERE execution_type = 'actual';

CREATE TABLE marketing_record (
    id                  UUID PRIMARY KEY,
    campaign_id         UUID NOT NULL REFERENCES marketing_campaign (id),
    execution_id        UUID NOT NULL REFERENCES campaign_executions (id),
    customer_id         UUID NOT NULL REFERENCES customers (id),
    channel             TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'push_notification')),
    status              TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'opened', 'clicked')),
    error_message       TEXT,
    response            JSONB,
    provider_message_id TEXT,
    attempts            INT NOT NULL DEFAULT 0,
    published_at        TIMESTAMPTZ,
    sent_at             TIMESTAMPTZ,
    delivered_at        TIMESTAMPTZ,
    opened_at           TIMESTAMPTZ,
    clicked_at          TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, customer_id)
);
CREATE INDEX marketing_record_campaign_status ON marketing_record (campaign_id, status, id);
CREATE INDEX marketing_record_customer ON marketing_record (customer_id);
-- The outbox: records written but not yet confirmed by the broker.
CREATE INDEX marketing_record_unpublished ON marketing_record (id) WHERE published_at IS NULL;
