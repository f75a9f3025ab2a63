ALTER TABLE marketing_record SET (fillfactor = 70);
