-- The `wechat` channel (README "Providers" → WeChat): template messages from the official
-- account to a follower's `openid`, with its own opt-out scope.

-- A follower's id with the official account (per account: an openid means nothing to another
-- one). Unsubscribe events and receipts name the follower by it, so it is looked up.
ALTER TABLE customers ADD COLUMN wechat_openid TEXT;
CREATE INDEX customers_wechat_openid ON customers (wechat_openid)
    WHERE wechat_openid IS NOT NULL AND erased_at IS NULL;

ALTER TABLE customer_opt_outs DROP CONSTRAINT customer_opt_outs_channel_check;
ALTER TABLE customer_opt_outs ADD CONSTRAINT customer_opt_outs_channel_check
    CHECK (channel IN ('sms', 'email', 'push_notification', 'wechat', 'all'));

ALTER TABLE marketing_campaign DROP CONSTRAINT marketing_campaign_type_check;
ALTER TABLE marketing_campaign ADD CONSTRAINT marketing_campaign_type_check
    CHECK (type IN ('sms', 'email', 'push_notification', 'wechat'));

ALTER TABLE marketing_record DROP CONSTRAINT marketing_record_channel_check;
ALTER TABLE marketing_record ADD CONSTRAINT marketing_record_channel_check
    CHECK (channel IN ('sms', 'email', 'push_notification', 'wechat'));

ALTER TABLE content_templates DROP CONSTRAINT content_templates_channel_check;
ALTER TABLE content_templates ADD CONSTRAINT content_templates_channel_check
    CHECK (channel IN ('sms', 'email', 'push_notification', 'wechat'));
