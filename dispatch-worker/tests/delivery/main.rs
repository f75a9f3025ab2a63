//! dispatch-worker against the real PostgreSQL, RabbitMQ, an SMTP server and an HTTP vendor
//! stand-in; deliveries are counted at those servers.

mod claims;
mod common;
mod config_table;
mod console;
mod content;
mod control;
mod crash_modes;
mod hourly;
mod journeys;
mod probes;
mod progress;
mod providers;
mod readme;
mod reliability;
mod rules;
mod run_local;
mod tracking;
mod vendors;
