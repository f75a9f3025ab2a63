-- Message cost and the campaign spend cap (README "Cost and spend caps").
--
-- Amounts are exact integers of micro-units (a millionth of COST_CURRENCY's unit): 0.045 is
-- 45000. Never floats.

-- The most a campaign may spend on messages, over all its executions; NULL: no cap.
ALTER TABLE marketing_campaign ADD COLUMN spend_cap_micros BIGINT
    CHECK (spend_cap_micros > 0);

-- What the message cost: the price of the provider that sent it (NULL while not sent, and for
-- messages never sent). Not indexed: setting it keeps the outcome write a HOT update.
ALTER TABLE marketing_record ADD COLUMN cost_micros BIGINT;

-- The cost of the messages sent, per execution and variant, with the other counters.
ALTER TABLE campaign_stats ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0;

-- A dry run's cost estimate (recipients × the channel's primary price, the spend cap left), as
-- found when it ran; NULL on real executions.
ALTER TABLE campaign_executions ADD COLUMN cost_estimate JSONB;

-- The spend counter of a campaign with a cap, shared by every worker: `spent_micros` is what its
-- sent messages cost plus what the messages being sent have reserved. A worker reserves before
-- sending with one conditional UPDATE that never lets it pass the campaign's cap (`granted`: how
-- many messages that reservation got, read back by the same statement); the outcome write turns a
-- reservation into the actual price, or gives it back when the message was not sent.
CREATE TABLE campaign_spend (
    campaign_id  UUID PRIMARY KEY REFERENCES marketing_campaign (id) ON DELETE CASCADE,
    spent_micros BIGINT NOT NULL DEFAULT 0,
    granted      INT NOT NULL DEFAULT 0
);
