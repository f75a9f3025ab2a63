DROP TABLE sms_replies;
DROP INDEX customers_phone;
DROP INDEX marketing_record_provider_message_id;
