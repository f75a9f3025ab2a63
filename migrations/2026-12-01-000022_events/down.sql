DROP TABLE customer_events;
