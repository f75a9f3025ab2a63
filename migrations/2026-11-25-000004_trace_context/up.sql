-- The W3C traceparent of the request that triggered an execution, so its fan-out and
-- deliveries join the same trace.
ALTER TABLE campaign_executions ADD COLUMN trace_context TEXT;
