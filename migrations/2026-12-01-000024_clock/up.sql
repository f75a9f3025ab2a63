-- The clock segment rules read ("within N days", "today is the birthday"): the database's now(),
-- shifted by the session setting `marketing.clock_offset` (an interval) when one is set. Nothing
-- sets it in production; tests move the clock with it (`options=-c marketing.clock_offset=…` in
-- the connection URL) instead of sleeping until a birthday. STABLE and a single SELECT: inlined
-- by the planner, evaluated once per statement like now().
CREATE FUNCTION marketing_now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT now() + COALESCE(NULLIF(current_setting('marketing.clock_offset', true), ''), '0')::interval
$$;
