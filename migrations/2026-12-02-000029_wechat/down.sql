DELETE FROM customer_opt_outs WHERE channel = 'wechat';
ALTER TABLE customer_opt_outs DROP CONSTRAINT customer_opt_outs_channel_check;
ALTER TABLE customer_opt_outs ADD CONSTRAINT customer_opt_outs_channel_check
    CHECK (channel IN ('sms', 'email', 'push_notification', 'all'));

ALTER TABLE content_templates DROP CONSTRAINT content_templates_channel_check;
ALTER TABLE content_templates ADD CONSTRAINT content_templates_channel_check
    CHECK (channel IN ('sms', 'email', 'push_notification'));

ALTER TABLE marketing_record DROP CONSTRAINT marketing_record_channel_check;
ALTER TABLE marketing_record ADD CONSTRAINT marketing_record_channel_check
    CHECK (channel IN ('sms', 'email', 'push_notification'));

ALTER TABLE marketing_campaign DROP CONSTRAINT marketing_campaign_type_check;
ALTER TABLE marketing_campaign ADD CONSTRAINT marketing_campaign_type_check
    CHECK (type IN ('sms', 'email', 'push_notification'));

DROP INDEX customers_wechat_openid;
ALTER TABLE customers DROP COLUMN wechat_openid;
