ALTER TABLE campaign_executions DROP COLUMN trace_context;
