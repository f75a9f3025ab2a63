//! Journeys mode: customers entering a journey at once by its segment, each walking send → wait
//! → branch (clicked the first message?) → send; then event-driven entries at a sustained rate.
//!
//! 1. Seeds N customers tagged `bench` into a fresh database; starts campaign-svc and W
//!    dispatch-workers (the release binaries beside this one, `log` provider writing to a file).
//! 2. Creates a segment (`tag = bench`) and the journey, activates it, and waits until both
//!    messages of every customer are in the sink. Reports how long the N entries and first sends
//!    took, **timer lateness** (each customer's wait end → the branch taken, from the journey's
//!    own history), that every step happened once per customer (records per customer and step
//!    campaign, history), and campaign-svc's resident memory before, while everyone waits and
//!    after.
//! 3. A second journey entered by a `signup` event (one send step): events posted at the given
//!    rate for the given time, batches every 20 ms; reports event accepted → message written by
//!    the provider, p50 / p99 / max.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use diesel::QueryableByName;
use diesel::sql_types::{Double, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use crate::fanout::{Procs, free_port, percentile};
use crate::scalar;

#[derive(Debug, Args)]
pub struct JourneysArgs {
    /// Customers entering the journey at once (segment entry).
    #[arg(long, default_value_t = 100_000)]
    customers: u64,
    /// The journey's wait, in seconds.
    #[arg(long, default_value_t = 60)]
    wait: u64,
    /// dispatch-worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Events per second for the event-driven entries (0: skip that part).
    #[arg(long, default_value_t = 1000)]
    event_rate: u64,
    /// Seconds of posting events.
    #[arg(long, default_value_t = 20)]
    event_seconds: u64,
    #[arg(long, default_value = crate::DEFAULT_ADMIN_URL)]
    database_admin_url: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
}

#[derive(QueryableByName)]
struct Ms {
    #[diesel(sql_type = Double)]
    ms: f64,
}

#[derive(QueryableByName)]
struct RecordEvent {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    entry_event: String,
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn sink_lines(sink: &std::path::Path) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(sink).unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub async fn run(args: JourneysArgs) -> anyhow::Result<()> {
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
        "INSERT INTO customers (id, external_id, name, phone, tags)
         SELECT uuid_v7(), 'bench-' || i, '客户' || i, '+86138' || lpad(i::text, 8, '0'), ARRAY['bench']
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
            .env("JOURNEY_SEGMENT_POLL_MS", "30000")
            .spawn()?,
    )]);
    let svc_pid = procs.0[0].1.id();
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
    let post = |path: &str, body: serde_json::Value| {
        let req = http
            .post(format!("{api}{path}"))
            .bearer_auth(token)
            .json(&body);
        async move {
            let resp = req.send().await?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await?;
            if !status.is_success() {
                bail!("{status}: {body}");
            }
            anyhow::Ok(body)
        }
    };
    let segment = post(
        "/segments",
        json!({"name": "bench", "rule": {"tag": "bench"}}),
    )
    .await?;
    let journey = post(
        "/journeys",
        json!({
            "name": "bench",
            "entry": {"kind": "segment", "segment_id": segment["id"]},
            "start": "first",
            "steps": {
                "first": {"type": "send", "channel": "sms", "content": "{{ name }}，欢迎 https://shop.example.com/a", "next": "wait"},
                "wait": {"type": "wait", "duration_seconds": args.wait, "next": "clicked"},
                "clicked": {"type": "branch", "rule": {"engagement": "clicked", "step": "first"}, "then": "done", "else": "second"},
                "second": {"type": "send", "channel": "sms", "content": "{{ name }}，别错过"},
                "done": {"type": "exit"}
            }
        }),
    )
    .await?;
    let journey_id = journey["id"].as_str().context("journey id")?.to_owned();
    let rss_before = rss_mib(svc_pid);
    let started = Instant::now();
    post(&format!("/journeys/{journey_id}/activate"), json!({})).await?;

    // Entries and first sends.
    let mut rss_waiting = rss_before;
    let deadline = Instant::now() + Duration::from_secs(args.wait + 1800);
    let waiting_sql = format!(
        "SELECT waiting AS n FROM journey_step_stats WHERE journey_id = '{journey_id}' AND step = 'wait'"
    );
    loop {
        let waiting = scalar(&mut conn, &waiting_sql).await?;
        rss_waiting = rss_waiting.max(rss_mib(svc_pid));
        if waiting as u64 >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {waiting} of {n} customers reached the wait");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let entered_in = started.elapsed().as_secs_f64();
    println!(
        "{n} customers entered by segment, first message enqueued and waiting after {entered_in:.1}s ({:.0} customers/s)",
        n as f64 / entered_in
    );
    // Both messages of everyone in the sink.
    let mut rss_max = rss_waiting;
    loop {
        let lines = sink_lines(&sink).len() as u64;
        rss_max = rss_max.max(rss_mib(svc_pid));
        if lines >= 2 * n {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {lines} of {} messages reached the sink", 2 * n);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let total = started.elapsed().as_secs_f64();
    println!(
        "all {} messages written by the provider after {total:.1}s (the wait is {}s)",
        2 * n,
        args.wait
    );
    // Timer lateness: wait end → branch taken, from the history.
    let late: Vec<Ms> = diesel::sql_query(format!(
        "SELECT (extract(epoch FROM b.at - (w.detail->>'until')::timestamptz) * 1000)::float8 AS ms
         FROM journey_enrollments e
         JOIN journey_history w ON w.enrollment_id = e.id AND w.step = 'wait' AND w.action = 'waiting'
         JOIN journey_history b ON b.enrollment_id = e.id AND b.step = 'clicked'
         WHERE e.journey_id = '{journey_id}'"
    ))
    .load(&mut conn)
    .await?;
    let mut late: Vec<f64> = late.into_iter().map(|m| m.ms).collect();
    late.sort_by(f64::total_cmp);
    if late.is_empty() {
        bail!("no timer fired");
    }
    println!(
        "timer lateness (wait end → branch taken), {} timers: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (target p99 < 2000 ms)",
        late.len(),
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(f64::NAN)
    );
    let doubled = scalar(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM (SELECT r.customer_id FROM marketing_record r
             JOIN marketing_campaign m ON m.id = r.campaign_id
             WHERE m.trigger->>'journey_id' = '{journey_id}'
             GROUP BY r.customer_id, r.campaign_id HAVING count(*) <> 1) d"
        ),
    )
    .await?;
    let records = scalar(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM marketing_record r JOIN marketing_campaign m ON m.id = r.campaign_id
             WHERE m.trigger->>'journey_id' = '{journey_id}'"
        ),
    )
    .await?;
    let steps = scalar(
        &mut conn,
        &format!(
            "SELECT count(*) AS n FROM journey_history h JOIN journey_enrollments e ON e.id = h.enrollment_id
             WHERE e.journey_id = '{journey_id}'"
        ),
    )
    .await?;
    println!(
        "every step once: {records} records for {n} customers × 2 sends, {doubled} customer/step pairs with ≠ 1 record, {steps} history entries (expected {})",
        n * 5
    );
    println!(
        "campaign-svc resident memory: {rss_before:.0} MiB before, {rss_waiting:.0} MiB peak until all {n} waited, {rss_max:.0} MiB peak overall"
    );

    if args.event_rate > 0 {
        event_entries(&args, &api, token, &http, &sink, &mut conn, n).await?;
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

/// Event-driven entries at a sustained rate: event accepted → its message written.
async fn event_entries(
    args: &JourneysArgs,
    api: &str,
    token: &str,
    http: &reqwest::Client,
    sink: &std::path::Path,
    conn: &mut AsyncPgConnection,
    n: u64,
) -> anyhow::Result<()> {
    let journey: serde_json::Value = http
        .post(format!("{api}/journeys"))
        .bearer_auth(token)
        .json(&json!({
            "name": "signup",
            "entry": {"kind": "event", "event": "signup"},
            "start": "hello",
            "steps": {"hello": {"type": "send", "channel": "sms", "content": "{{ name }}，欢迎"}},
            "re_entry": {"cooldown_hours": 1}
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = journey["id"].as_str().context("journey id")?.to_owned();
    http.post(format!("{api}/journeys/{id}/activate"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?;
    let before = sink_lines(sink).len();
    let tick = Duration::from_millis(20);
    let per_batch = (args.event_rate * 20 / 1000).max(1);
    let batches = args.event_seconds * 1000 / 20;
    let mut accepted_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut in_flight = tokio::task::JoinSet::new();
    let started = Instant::now();
    let mut next = tokio::time::Instant::now();
    let mut customer = 0u64;
    for b in 0..batches {
        let mut events = Vec::with_capacity(per_batch as usize);
        let mut ids = Vec::with_capacity(per_batch as usize);
        for i in 0..per_batch {
            // Distinct customers (each enters once within the cooldown).
            customer = customer % n + 1;
            let event_id = format!("signup-{b}-{i}");
            events.push(json!({"event_id": event_id, "external_id": format!("bench-{customer}"), "name": "signup"}));
            ids.push(event_id);
        }
        let request = http
            .post(format!("{api}/events"))
            .bearer_auth(token)
            .json(&json!({"events": events}));
        in_flight.spawn(async move {
            let status = request.send().await.map(|r| r.status());
            (ids, status, Utc::now())
        });
        while let Some(done) = in_flight.try_join_next() {
            let (ids, status, at) = done?;
            if status? != reqwest::StatusCode::ACCEPTED {
                bail!("posting events failed");
            }
            for id in ids {
                accepted_at.insert(id, at);
            }
        }
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    while let Some(done) = in_flight.join_next().await {
        let (ids, status, at) = done?;
        if status? != reqwest::StatusCode::ACCEPTED {
            bail!("posting events failed");
        }
        for id in ids {
            accepted_at.insert(id, at);
        }
    }
    let posting = started.elapsed().as_secs_f64();
    let total = accepted_at.len();
    println!(
        "event-driven entries: posted {total} signup events in {posting:.1}s ({:.0}/s sustained, target {})",
        total as f64 / posting,
        args.event_rate
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    let lines = loop {
        let lines = sink_lines(sink);
        if lines.len() >= before + total {
            break lines;
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {total} welcome messages reached the sink",
                lines.len() - before
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let records: Vec<RecordEvent> = diesel::sql_query(format!(
        "SELECT r.id::text AS id, e.entry_event_id AS entry_event
         FROM marketing_record r
         JOIN marketing_campaign m ON m.id = r.campaign_id AND m.trigger->>'journey_id' = '{id}'
         JOIN journey_enrollments e ON e.id = split_part(r.event_id, ':', 2)::uuid
         WHERE e.journey_id = '{id}'"
    ))
    .load(conn)
    .await?;
    let event_of: HashMap<String, String> =
        records.into_iter().map(|r| (r.id, r.entry_event)).collect();
    let mut latencies: Vec<f64> = Vec::with_capacity(total);
    for line in &lines {
        let (Some(record), Some(at)) = (line["record_id"].as_str(), line["at"].as_str()) else {
            continue;
        };
        let Some(event) = event_of.get(record) else {
            continue;
        };
        let Some(accepted) = accepted_at.get(event) else {
            continue;
        };
        let at: DateTime<Utc> = at.parse()?;
        latencies.push((at - *accepted).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    }
    if latencies.is_empty() {
        bail!("no welcome message matched its event");
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "event accepted → first message written by the provider, {} messages: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
