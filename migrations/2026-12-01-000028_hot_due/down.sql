DROP INDEX marketing_record_due;
CREATE INDEX marketing_record_due ON marketing_record (not_before)
    WHERE status = 'pending' AND published_at IS NULL AND not_before IS NOT NULL;
ALTER TABLE marketing_record DROP COLUMN due_at;
