-- Delivery control shared by every dispatch-worker (README "Delivery control").
--
-- One row per provider of a channel (`provider` = '<channel>:<provider>', e.g. 'sms:aliyun'):
--
-- * `tat`: the provider's global rate limit as a reservation clock (GCRA, "theoretical arrival
--   time"): every token granted so far is accounted for up to this instant. A worker reserves a
--   few tokens at a time with one `INSERT … ON CONFLICT DO UPDATE … RETURNING` that moves `tat`
--   by n / rate and answers when its tokens fall due; whoever asks gets tokens, so workers that
--   join or leave change nobody's share by hand and a dead worker holds nothing.
-- * `paused_until`, `throttle_level`, `throttled_at`: a throttling answer from the vendor
--   (`Retry-After`, 429, its throttling code) pauses the provider for every worker; a throttle
--   soon after a pause ended doubles the next pause (adaptive backoff).
--
-- A handful of rows updated ~10 times a second each at most: HOT updates, no index but the key.
CREATE TABLE provider_gates (
    provider       TEXT PRIMARY KEY,
    tat            TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    paused_until   TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    throttle_level INT NOT NULL DEFAULT 0,
    throttled_at   TIMESTAMPTZ NOT NULL DEFAULT 'epoch'
);

-- The provider that took (or refused) the message, as the worker names it ('aliyun', 'http',
-- 'http-secondary', …): with a secondary provider, a channel's records may be split between two.
ALTER TABLE marketing_record ADD COLUMN provider TEXT;
