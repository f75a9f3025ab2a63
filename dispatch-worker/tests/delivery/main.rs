//! dispatch-worker against the real PostgreSQL, RabbitMQ, an SMTP server and an HTTP vendor
//! stand-in; deliveries are counted at those servers.

mod claims;
mod common;
mod content;
mod probes;
mod providers;
mod reliability;
mod rules;
mod tracking;
