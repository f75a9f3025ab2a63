DROP TABLE marketing_record;
DROP TABLE campaign_executions;
DROP TABLE marketing_campaign;
DROP TABLE customer_opt_outs;
DROP TABLE customers;
