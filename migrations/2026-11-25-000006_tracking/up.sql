-- When the recipient unsubscribed through this message's link, and when a conversion was first
-- attributed to it.
ALTER TABLE marketing_record
    ADD COLUMN unsubscribed_at TIMESTAMPTZ,
    ADD COLUMN converted_at TIMESTAMPTZ;

-- Statistics as counters, one row per execution and A/B variant ('' when none), kept by the
-- statements that change records (trigger, worker, tracking, webhooks, conversions), so a
-- campaign's figures are a sum over a few rows whatever its size.
--   sent: handed to the provider; send_failed: not sent (refused, failed, skipped at send time);
--   delivery_failed: sent, then bounced or reported failed by the provider.
CREATE TABLE campaign_stats (
    execution_id    UUID NOT NULL REFERENCES campaign_executions (id),
    variant         TEXT NOT NULL DEFAULT '',
    campaign_id     UUID NOT NULL REFERENCES marketing_campaign (id),
    channel         TEXT NOT NULL,
    planned         BIGINT NOT NULL DEFAULT 0,
    sent            BIGINT NOT NULL DEFAULT 0,
    send_failed     BIGINT NOT NULL DEFAULT 0,
    delivered       BIGINT NOT NULL DEFAULT 0,
    delivery_failed BIGINT NOT NULL DEFAULT 0,
    opened          BIGINT NOT NULL DEFAULT 0,
    clicked         BIGINT NOT NULL DEFAULT 0,
    converted       BIGINT NOT NULL DEFAULT 0,
    unsubscribed    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (execution_id, variant)
);
CREATE INDEX campaign_stats_campaign ON campaign_stats (campaign_id);
INSERT INTO campaign_stats (execution_id, variant, campaign_id, channel, planned, sent,
                            send_failed, delivered, opened, clicked)
SELECT execution_id, COALESCE(variant, ''), campaign_id, channel, count(*),
       count(*) FILTER (WHERE status IN ('sent', 'delivered', 'opened', 'clicked')),
       count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE delivered_at IS NOT NULL OR opened_at IS NOT NULL OR clicked_at IS NOT NULL),
       count(*) FILTER (WHERE opened_at IS NOT NULL OR clicked_at IS NOT NULL),
       count(*) FILTER (WHERE clicked_at IS NOT NULL)
FROM marketing_record
GROUP BY 1, 2, 3, 4;

-- Conversions reported by the CRM, attributed to the campaign that last reached the customer.
CREATE TABLE conversions (
    id           UUID PRIMARY KEY,
    customer_id  UUID NOT NULL REFERENCES customers (id),
    record_id    UUID REFERENCES marketing_record (id),
    campaign_id  UUID REFERENCES marketing_campaign (id),
    -- The caller's idempotency key: reporting the same conversion twice records it once.
    external_id  TEXT UNIQUE,
    kind         TEXT NOT NULL DEFAULT 'conversion',
    value_cents  BIGINT,
    occurred_at  TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX conversions_campaign ON conversions (campaign_id);
CREATE INDEX conversions_customer ON conversions (customer_id);

-- Provider webhook events already applied (idempotency on the provider's event id).
CREATE TABLE webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
