-- Vendor delivery receipts and inbound SMS replies (`/webhooks/sms/<vendor>…`, `/webhooks/email/ses`).

-- Receipts in a vendor's own format name the message by the vendor's id (Aliyun BizId, Tencent
-- SerialNo/sid, Twilio MessageSid, SES MessageId), which the worker stores when the vendor takes
-- the message. Partial: records of the `log` and `http` sinks often have none. The cost: the
-- worker's final write sets this column, so with this index that write is no longer a HOT
-- update for records sent through a vendor that answers an id (see 000009's figures).
CREATE INDEX marketing_record_provider_message_id ON marketing_record (provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- An inbound SMS finds its sender's customers by phone (stored E.164).
CREATE INDEX customers_phone ON customers (phone) WHERE phone IS NOT NULL AND erased_at IS NULL;

-- Inbound SMS ("回复TD退订"): one row per vendor message, so a message delivered twice is stored
-- and acted on once. `kind` says what it did: `opt_out` (a reply keyword: the sender's
-- customers were opted out of SMS) or `response` (kept as the reply to `record_id`, the latest
-- SMS sent to that number). Replies from numbers no customer has are not stored. Personal
-- data: erasing a customer deletes their replies.
CREATE TABLE sms_replies (
    id          UUID PRIMARY KEY,
    source      TEXT NOT NULL CHECK (source IN ('api', 'aliyun', 'tencent', 'twilio')),
    message_id  TEXT NOT NULL,
    phone       TEXT NOT NULL,
    text        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('opt_out', 'response')),
    customer_id UUID NOT NULL REFERENCES customers (id),
    record_id   UUID REFERENCES marketing_record (id),
    campaign_id UUID REFERENCES marketing_campaign (id),
    received_at TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (source, message_id)
);
CREATE INDEX sms_replies_record ON sms_replies (record_id) WHERE record_id IS NOT NULL;
CREATE INDEX sms_replies_campaign ON sms_replies (campaign_id, id) WHERE campaign_id IS NOT NULL;
CREATE INDEX sms_replies_customer ON sms_replies (customer_id, id);
