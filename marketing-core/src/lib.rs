//! What both binaries share: the database schema and its models, the domain vocabulary
//! (channels, statuses), database set-up (pool, migrations) and telemetry.

pub mod db;
pub mod models;
pub mod schema;
pub mod telemetry;
pub mod vocabulary;
