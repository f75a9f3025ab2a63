-- A record is written three times: inserted pending, claimed (sending), finalised (sent/failed).
-- The freeze fills pages in customer order and a worker's batch claims and finalises whole pages
-- at once, so at fillfactor 70 only 46% of those updates found room on their page (HOT); the rest
-- added an entry to each of the four indexes. Measured on 300,000 and 1,000,000-record
-- campaigns (bench): fillfactor 45 makes 70–80% of them HOT, the table and its indexes come out
-- smaller (fewer dead index entries), and delivery is about 5% faster.
-- Only pages written from now on use it; existing records keep their layout.
ALTER TABLE marketing_record SET (fillfactor = 45);
