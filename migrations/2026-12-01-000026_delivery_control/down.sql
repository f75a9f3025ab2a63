ALTER TABLE marketing_record DROP COLUMN provider;
DROP TABLE provider_gates;
