//! Benchmarks of the marketing module on this machine, each against a baseline measured in the
//! same run.
//!
//! - `fanout` (the default when no subcommand is given): seeds N customers, starts campaign-svc
//!   and dispatch-workers, triggers one campaign to everyone and compares fan-out and delivery
//!   with the broker's raw confirmed-publish rate. See [`fanout`].
//! - `segments`: seeds N varied customers and engagement records, and times segment counts (the
//!   query campaign-svc runs for "how many customers does this rule match") against a plain
//!   count of all customers. See [`segments`].
//! - `events`: customer event ingest through the real REST endpoint (batches of 1,000, a few
//!   clients) against a plain multi-row INSERT of the same rows. See [`events`].
//! - `churn`: "no `order_paid` in 30 days" over 1,000,000 customers and 10,000,000 events,
//!   counted through the compiled segment rule. See [`events`].
//! - `floor`: the campaign's message flow through RabbitMQ alone (one publisher as the relay,
//!   consumers acking as the workers, at once; no database, no services) against the same
//!   baseline: what the `fanout` ratios can reach at most on this machine. See [`floor`].
//!
//! - `event-latency`: an event-triggered campaign fed events at a sustained rate; the time from
//!   an event accepted to its message written by a worker. See [`triggers`].
//!
//! - `journeys`: N customers entering a journey at once by its segment (send → wait → branch on
//!   the click → send): entry rate, timer lateness, every step once, campaign-svc's memory; then
//!   event-driven entries at a sustained rate, event → first message. See [`journeys`].
//!
//! - `trigger`: the response time of `POST /campaigns/:id/trigger` for 1,000,000 recipients
//!   against 100 (20 triggers of separate campaigns each); with `--complete`, one campaign of
//!   N (10,000,000) recipients run to its end: total time and rate, every process's memory each
//!   second, disk bytes per record. See [`trigger_time`].
//!
//! - `report`: the console's campaign report in a real browser (chromium), from navigation to
//!   the report complete, for a campaign of 1,000,000 records against one of 100. See
//!   [`report`].
//!
//! Run:
//!
//! ```text
//! cargo build --release --workspace --bins && ./target/release/bench --recipients 1000000
//! cargo build --release -p bench && ./target/release/bench segments --customers 1000000
//! cargo build --release -p bench && ./target/release/bench floor --messages 1000000
//! cargo build --release --workspace --bins && ./target/release/bench event-latency --rate 1000 --seconds 30
//! cargo build --release --workspace --bins && ./target/release/bench events --events 200000
//! cargo build --release -p bench && ./target/release/bench churn
//! cargo build --release --workspace --bins && ./target/release/bench journeys --customers 100000 --wait 60
//! cargo build --release --workspace --bins && ./target/release/bench trigger --recipients 1000000 --triggers 20
//! cargo build --release --workspace --bins && ./target/release/bench trigger --recipients 10000000 --triggers 1 --complete
//! scripts/console.sh --browser && cargo build --release --workspace --bins && ./target/release/bench report
//! ```
//!
//! `bench --recipients …` (no subcommand) is the same as `bench fanout --recipients …`.

mod cpu;
mod events;
mod fanout;
mod floor;
mod journeys;
mod report;
mod segments;
mod trigger_time;
mod triggers;

use clap::{Args, Parser, Subcommand};
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Campaign fan-out / delivery and segment count benchmarks",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    /// With no subcommand, the `fanout` flags are accepted here (the harness's original CLI).
    #[command(flatten)]
    fanout: FanoutArgs,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Campaign fan-out and delivery against the broker's raw publish rate (the default).
    Fanout(FanoutArgs),
    /// Segment rule counts against a plain count of all customers.
    Segments(segments::SegmentsArgs),
    /// The campaign's message flow through RabbitMQ alone (publisher and consumers at once, no
    /// database, no services) against the raw publish rate: the ceiling of `fanout` here.
    Floor(floor::FloorArgs),
    /// Event-triggered campaigns: event accepted → message written by the `log` provider, p50
    /// and p99 at a sustained event rate.
    EventLatency(triggers::EventLatencyArgs),
    /// Event ingest through `POST /api/marketing/events` against a plain multi-row INSERT.
    Events(events::EventsArgs),
    /// "No order_paid in 30 days" over 1,000,000 customers and 10,000,000 events.
    Churn(events::ChurnArgs),
    /// Journeys: segment entry of N customers (send → wait → branch → send), timer lateness,
    /// then event-driven entries at a sustained rate.
    Journeys(journeys::JourneysArgs),
    /// Trigger response time for a large audience (default 1,000,000) against 100 recipients;
    /// `--complete`: one campaign run to its end with memory sampled and disk per record.
    Trigger(trigger_time::TriggerArgs),
    /// The console's campaign report rendered in a real browser for a 1,000,000-record campaign
    /// against a 100-record one.
    Report(report::ReportArgs),
}

#[derive(Debug, Args)]
pub struct FanoutArgs {
    /// Recipients of the benchmark campaign.
    #[arg(long, default_value_t = 100_000)]
    recipients: u64,
    /// dispatch-worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Messages published for the raw baseline (default: as many as recipients).
    #[arg(long)]
    baseline_messages: Option<u64>,
    /// Confirms in flight, for the baseline and the relay alike.
    #[arg(long, default_value_t = 2000)]
    window: usize,
    /// Publishes the baseline hands lapin at once; the relay uses 128 (1: one publish awaited at
    /// a time, how earlier releases measured the baseline, about a quarter lower).
    #[arg(long, default_value_t = marketing_core::jobs::PUBLISH_BATCH)]
    baseline_batch: usize,
    /// PostgreSQL server URL (its `postgres` database); a fresh database is made beside it.
    #[arg(long, default_value = DEFAULT_ADMIN_URL)]
    database_admin_url: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Start the workers only once every job is confirmed: the fan-out then has the machine to
    /// itself, as when the workers run elsewhere (the default runs them throughout).
    #[arg(long)]
    workers_after_fanout: bool,
    /// Keep the benchmark database afterwards.
    #[arg(long)]
    keep: bool,
}

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(QueryableByName)]
pub struct N {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// The `n` column of the first row of `sql` (0 when there is none).
pub async fn scalar(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<i64> {
    let rows: Vec<N> = diesel::sql_query(sql).load(conn).await?;
    Ok(<[N]>::first(&rows).map(|r| r.n).unwrap_or(0))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Some(Mode::Fanout(args)) => fanout::run(args).await,
        Some(Mode::Floor(args)) => floor::run(args).await,
        Some(Mode::Segments(args)) => segments::run(args).await,
        Some(Mode::EventLatency(args)) => triggers::run(args).await,
        Some(Mode::Events(args)) => events::run_events(args).await,
        Some(Mode::Churn(args)) => events::run_churn(args).await,
        Some(Mode::Journeys(args)) => journeys::run(args).await,
        Some(Mode::Trigger(args)) => trigger_time::run(args).await,
        Some(Mode::Report(args)) => report::run(args).await,
        None => fanout::run(cli.fanout).await,
    }
}
