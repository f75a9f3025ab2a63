//! The command line: global flags (each also an environment variable) and the subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  usage or bad input (unknown flag, unreadable file, a line or field the tool cannot read)
  2  the service refused the request (invalid argument, not found, wrong state, missing or
     non-admin token, rate limit)
  3  the service could not be reached or failed (connection refused, unavailable, internal error)
  4  partial success: some items were refused (`customers import` or `events send -f` with
     rejected lines, `dlq replay` with jobs kept, a watched execution that failed)

Environment:
  MARKETING_GRPC_ADDR  the service's gRPC address (default http://127.0.0.1:50051)
  MARKETING_TOKEN      the bearer token (an admin token, from ADMIN_TOKENS, for `dlq`)

See docs/cli.md for the campaign file and the import formats.";

/// Operate the marketing service from a terminal or a script: campaigns, executions, customer
/// import, events and the dead-letter queue.
#[derive(Debug, Parser)]
#[command(name = "marketingctl", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The campaign-svc gRPC address.
    #[arg(
        long,
        global = true,
        env = "MARKETING_GRPC_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    pub grpc_addr: String,
    /// Bearer token sent with every call.
    #[arg(long, global = true, env = "MARKETING_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// `table` for people, `json` (one JSON document on stdout) for scripts.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show, create, trigger and archive campaigns.
    #[command(subcommand)]
    Campaigns(Campaigns),
    /// Follow and list a campaign's executions.
    #[command(subcommand)]
    Executions(Executions),
    /// Import customers from CSV or JSON lines.
    #[command(subcommand)]
    Customers(Customers),
    /// Send customer events.
    #[command(subcommand)]
    Events(Events),
    /// Inspect and replay the dead-letter queue (admin token needed).
    #[command(subcommand)]
    Dlq(Dlq),
}

#[derive(Debug, Subcommand)]
pub enum Campaigns {
    /// List campaigns, newest first.
    List {
        /// draft | scheduled | active | completed | archived
        #[arg(long)]
        status: Option<String>,
        /// sms | email | push_notification | wechat
        #[arg(long = "type")]
        channel: Option<String>,
        /// Case-insensitive part of the name.
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 20)]
        page_size: u32,
    },
    /// Show one campaign.
    Get { id: String },
    /// Create a campaign from a JSON file (see docs/cli.md); prints it.
    Create {
        /// The campaign as JSON; `-` reads standard input.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Trigger a campaign now.
    Trigger {
        id: String,
        /// A dry run: resolves and renders, sends nothing.
        #[arg(long)]
        simulation: bool,
        /// Follow the execution until it completes, with a progress bar.
        #[arg(long)]
        watch: bool,
    },
    /// Archive a campaign.
    Archive { id: String },
}

#[derive(Debug, Subcommand)]
pub enum Executions {
    /// Follow an execution until it completes: progress bar with rate and ETA.
    Watch { id: String },
    /// Show one execution.
    Get { id: String },
    /// List a campaign's executions.
    List {
        campaign_id: String,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 20)]
        page_size: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum Customers {
    /// Create or update customers (by external_id) from a file, in batches.
    Import {
        /// A CSV file with a header row, or JSON lines (`.jsonl`, `.ndjson`).
        file: PathBuf,
        /// The file's format; by default from its extension (CSV otherwise).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Customers per call (1..10000).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum Events {
    /// Send one event (flags) or many (`-f FILE`, JSON lines).
    Send(SendEvent),
}

#[derive(Debug, Args)]
pub struct SendEvent {
    /// JSON lines, one event each: {"event_id"?, "customer_id" | "external_id", "name",
    /// "properties"?, "occurred_at"?}; `-` reads standard input.
    #[arg(short = 'f', long = "file", conflicts_with_all = ["external_id", "customer_id", "name"])]
    pub file: Option<PathBuf>,
    /// The customer's external id (the CRM's).
    #[arg(long, conflicts_with = "customer_id")]
    pub external_id: Option<String>,
    /// The customer's id.
    #[arg(long)]
    pub customer_id: Option<String>,
    /// The event's name, e.g. order_paid.
    #[arg(long)]
    pub name: Option<String>,
    /// A property `key=value` (repeatable); the value is read as JSON when it is JSON
    /// (`amount=99.5`, `vip=true`), else as text.
    #[arg(long = "property", short = 'p')]
    pub properties: Vec<String>,
    /// When it happened (RFC 3339); default now.
    #[arg(long)]
    pub occurred_at: Option<String>,
    /// The idempotency key; default a new UUID.
    #[arg(long)]
    pub event_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Dlq {
    /// List dead-lettered send jobs (nothing is consumed).
    List {
        /// At most this many (1..1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Send dead-lettered jobs again (a record already sent is not sent twice).
    Replay {
        /// Only the jobs of these records (repeatable).
        #[arg(long = "record-id")]
        record_ids: Vec<String>,
        /// At most this many jobs.
        #[arg(long)]
        limit: Option<u32>,
        /// Replay every job in the queue (needed when neither --record-id nor --limit is given).
        #[arg(long)]
        all: bool,
    },
}
