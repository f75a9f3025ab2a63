//! What both binaries share: the database schema and its models, the domain vocabulary
//! (channels, statuses), database set-up (pool, migrations), segment rules and telemetry.

pub mod cost;
pub mod db;
pub mod jobs;
pub mod models;
pub mod render;
pub mod schema;
pub mod segment;
pub mod telemetry;
pub mod tracking;
pub mod vocabulary;
