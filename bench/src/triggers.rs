//! Event-latency mode: how long an event-triggered campaign takes from an event accepted by
//! `POST /api/marketing/events` to its message written by a worker's `log` provider, at a
//! sustained event rate.
//!
//! 1. Seeds N customers into a fresh database; starts campaign-svc and W dispatch-workers (the
//!    release binaries beside this one, `log` provider writing to a file).
//! 2. Creates one event-triggered campaign (`order_paid`, no delay, no targeting) and posts
//!    `order_paid` events of random customers at the given rate for the given time, in batches
//!    every 20 ms, noting when each batch was accepted (its 202).
//! 3. Once every event's message is in the sink, joins each sink line (its `at`, the moment the
//!    provider wrote it) to its record's event and reports p50 / p99 / max of accepted → written,
//!    and the rate actually sustained. The floor for comparison: the service's poll interval
//!    (`EVENT_POLL_MS`, 250 ms) only bounds events that reach another replica; here one replica
//!    takes every event and wakes its dispatcher at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::fanout::{Procs, free_port, percentile};

#[derive(Debug, Args)]
pub struct EventLatencyArgs {
    /// Events per second posted.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of posting.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Customers the events are about.
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// dispatch-worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// PostgreSQL URL of a database the benchmark may create databases from.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_admin_url: String,
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
}

#[derive(QueryableByName)]
struct RecordEvent {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    event_id: String,
}

pub async fn run(args: EventLatencyArgs) -> anyhow::Result<()> {
    let bin_dir: PathBuf = std::env::current_exe()?
        .parent()
        .context("binary directory")?
        .to_path_buf();
    for b in ["campaign-svc", "dispatch-worker"] {
        if !bin_dir.join(b).exists() {
            bail!(
                "{b} is not built next to bench: run `cargo build --release --workspace --bins` first"
            );
        }
    }
    let db_name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let base = args
        .database_admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .context("admin URL")?;
    let db_url = format!("{base}/{db_name}");
    let prefix = format!("bench_{}", uuid::Uuid::new_v4().simple());
    marketing_core::db::prepare(&db_url, 4).await?;
    let mut conn = AsyncPgConnection::establish(&db_url).await?;
    let n = args.customers.max(1);
    diesel::sql_query(format!(
        "INSERT INTO customers (id, external_id, name, phone)
         SELECT uuid_v7(), 'bench-' || i, '客户' || i, '+86138' || lpad(i::text, 8, '0')
         FROM generate_series(1, {n}) AS i"
    ))
    .execute(&mut conn)
    .await?;
    diesel::sql_query("VACUUM ANALYZE customers")
        .execute(&mut conn)
        .await?;
    let sink = std::env::temp_dir().join(format!("{prefix}.jsonl"));
    let http_port = free_port()?;
    let token = "bench-token";
    let service = |binary: &str| {
        let mut command = Command::new(bin_dir.join(binary));
        command
            .env("DATABASE_URL", &db_url)
            .env("AMQP_URL", &args.amqp_url)
            .env("QUEUE_PREFIX", &prefix)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        command
    };
    let mut procs = Procs(vec![(
        "campaign-svc".into(),
        service("campaign-svc")
            .env("API_TOKENS", token)
            .env("HTTP_ADDR", format!("127.0.0.1:{http_port}"))
            .env("GRPC_ADDR", format!("127.0.0.1:{}", free_port()?))
            .spawn()?,
    )]);
    for i in 0..args.workers {
        procs.0.push((
            format!("dispatch-worker #{i}"),
            service("dispatch-worker")
                .env("LOG_SINK_PATH", &sink)
                .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()?))
                .spawn()?,
        ));
    }
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{http_port}/api/marketing");
    let ready = format!("http://127.0.0.1:{http_port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(&ready)
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        if Instant::now() > deadline {
            bail!("campaign-svc did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let campaign: serde_json::Value = http
        .post(format!("{api}/campaigns"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "name": "下单感谢", "type": "sms", "content": "[客户姓名]，感谢您的订单！",
            "trigger": {"kind": "event", "event": "order_paid"},
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let campaign_id = campaign["id"].as_str().context("campaign id")?.to_owned();

    // Posting: a batch every 20 ms, each noted with the moment it was accepted.
    let tick = Duration::from_millis(20);
    let per_batch = (args.rate * 20 / 1000).max(1);
    let batches = args.seconds * 1000 / 20;
    let mut accepted_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut in_flight = tokio::task::JoinSet::new();
    let started = Instant::now();
    let mut next = tokio::time::Instant::now();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for b in 0..batches {
        let events: Vec<serde_json::Value> = (0..per_batch)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                serde_json::json!({
                    "event_id": format!("ev-{b}-{i}"),
                    "external_id": format!("bench-{}", seed % n + 1),
                    "name": "order_paid",
                    "properties": {"amount": 100 + seed % 900},
                })
            })
            .collect();
        let ids: Vec<String> = (0..per_batch).map(|i| format!("ev-{b}-{i}")).collect();
        let request = http
            .post(format!("{api}/events"))
            .bearer_auth(token)
            .json(&serde_json::json!({"events": events}));
        in_flight.spawn(async move {
            let status = request.send().await.map(|r| r.status());
            (ids, status, Utc::now())
        });
        while let Some(done) = in_flight.try_join_next() {
            let (ids, status, at) = done?;
            note(&mut accepted_at, ids, status, at)?;
        }
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    while let Some(done) = in_flight.join_next().await {
        let (ids, status, at) = done?;
        note(&mut accepted_at, ids, status, at)?;
    }
    let posting = started.elapsed().as_secs_f64();
    let total = accepted_at.len();
    println!(
        "posted {total} events in {posting:.1}s: {:.0} events/s sustained (target {})",
        total as f64 / posting,
        args.rate
    );

    // Every message in the sink.
    let deadline = Instant::now() + Duration::from_secs(120);
    let lines = loop {
        let bytes = std::fs::read(&sink).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if lines.len() >= total {
            break lines;
        }
        if Instant::now() > deadline {
            bail!("only {} of {total} messages reached the sink", lines.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let records: Vec<RecordEvent> = diesel::sql_query(format!(
        "SELECT id::text AS id, event_id FROM marketing_record WHERE campaign_id = '{campaign_id}'"
    ))
    .load(&mut conn)
    .await?;
    let event_of: HashMap<String, String> =
        records.into_iter().map(|r| (r.id, r.event_id)).collect();
    let mut latencies: Vec<f64> = Vec::with_capacity(total);
    for line in &lines {
        let (Some(record), Some(at)) = (line["record_id"].as_str(), line["at"].as_str()) else {
            continue;
        };
        let at: DateTime<Utc> = at.parse()?;
        let event = event_of
            .get(record)
            .context("a sink line of an unknown record")?;
        let accepted = accepted_at
            .get(event)
            .context("a record of an unposted event")?;
        latencies.push((at - *accepted).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    }
    if latencies.is_empty() {
        bail!("no message of the benchmark's events reached the sink");
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "event accepted → message written by the log provider, {} messages: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (target p99 < 2000 ms)",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    // Where the time goes, from the database's own timestamps.
    #[derive(QueryableByName)]
    struct Stage {
        #[diesel(sql_type = Text)]
        line: String,
    }
    let stages: Vec<Stage> = diesel::sql_query(format!(
        "WITH t AS (
            SELECT extract(epoch FROM r.created_at - e.received_at) * 1000 AS queued,
                   extract(epoch FROM r.published_at - r.created_at) * 1000 AS published,
                   extract(epoch FROM r.sent_at - r.published_at) * 1000 AS sent
            FROM marketing_record r JOIN customer_events e ON e.event_id = r.event_id
            WHERE r.campaign_id = '{campaign_id}')
         SELECT format('%s: p50 %s ms, p99 %s ms', s.name,
                       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s.ms)::numeric),
                       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY s.ms)::numeric)) AS line
         FROM (SELECT 'event stored → record written (dispatcher)' AS name, 1 AS o, queued AS ms FROM t
               UNION ALL SELECT 'record written → published (timed publisher)', 2, published FROM t
               UNION ALL SELECT 'published → sent (worker)', 3, sent FROM t) s
         GROUP BY s.name, s.o ORDER BY s.o"
    ))
    .load(&mut conn)
    .await?;
    for s in stages {
        println!("  {}", s.line);
    }
    drop(procs);
    let _ = std::fs::remove_file(&sink);
    drop(conn);
    let mut admin = AsyncPgConnection::establish(&args.database_admin_url).await?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    Ok(())
}

fn note(
    accepted_at: &mut HashMap<String, DateTime<Utc>>,
    ids: Vec<String>,
    status: reqwest::Result<reqwest::StatusCode>,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let status = status?;
    if status != reqwest::StatusCode::ACCEPTED {
        bail!("posting events answered {status}");
    }
    for id in ids {
        accepted_at.insert(id, at);
    }
    Ok(())
}
