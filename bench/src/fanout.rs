//! Fan-out mode: a whole campaign on this machine, with the broker's raw rate as the baseline.
//!
//! 1. Measures the broker's raw confirmed-publish rate: persistent messages of a send job's size
//!    to a quorum queue, one channel, the same window of confirms in flight and the same batches
//!    of publishes handed to lapin as the relay; again after the campaign, and uses the mean of
//!    the two (the box is shared and drifts).
//! 2. Seeds N customers into a fresh database, starts campaign-svc and W dispatch-workers (the
//!    release binaries beside this one, `log` provider writing to /dev/null).
//! 3. Triggers one campaign to all N and measures fan-out (trigger → every job confirmed) and
//!    end-to-end delivery (trigger → every record final; the trigger answers before the records
//!    are written), each process's peak RSS, and the CPU
//!    time each component spent per message over that span (see [`cpu`]).
//! 4. Once every record is final, times `GET /api/marketing/campaigns/{id}/stats` (500 sequential
//!    calls over one keep-alive client, after 20 warm-up calls) against `GET /healthz` timed the
//!    same way, and checks that the stats p99 stays under [`STATS_P99_LIMIT_MS`].

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lapin::BasicProperties;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use marketing_core::jobs::SendJob;

use crate::{FanoutArgs, cpu, scalar};

/// The broker's confirmed-publish rate for `count` messages like `payload`.
pub(crate) struct Baseline {
    /// Messages per second.
    pub(crate) rate: f64,
    /// CPU per message (µs) of the broker and of the publishing client, when `/proc` tells.
    pub(crate) cpu: Option<(f64, f64)>,
}

impl Baseline {
    pub(crate) fn describe(&self) -> String {
        match self.cpu {
            Some((broker, client)) => format!(
                "{:.0} msg/s (CPU per message: broker {broker:.1} µs, publisher {client:.1} µs)",
                self.rate
            ),
            None => format!("{:.0} msg/s", self.rate),
        }
    }
}

pub(crate) async fn raw_publish_rate(
    url: &str,
    window: usize,
    batch: usize,
    count: u64,
    payload: &[u8],
) -> anyhow::Result<Baseline> {
    let conn = lapin::Connection::connect(url, Default::default()).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let queue = format!("bench_baseline_{}", uuid::Uuid::new_v4().simple());
    declare_quorum(&ch, &queue).await?;
    let cpu_before = cpu::broker_and_self();
    let start = Instant::now();
    publish_confirmed(&ch, &queue, count, payload, window, batch).await?;
    let rate = count as f64 / start.elapsed().as_secs_f64();
    let cpu = cpu::broker_and_self_per_message(cpu_before, count);
    ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    conn.close(200, "done".into()).await?;
    Ok(Baseline { rate, cpu })
}

/// Declares a durable quorum queue, as the send queue is.
pub(crate) async fn declare_quorum(ch: &lapin::Channel, queue: &str) -> anyhow::Result<()> {
    let mut queue_args = FieldTable::default();
    queue_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        queue_args,
    )
    .await?;
    Ok(())
}

/// Publishes `count` persistent copies of `payload` to `queue` on a confirm-mode channel and
/// waits for every confirm, with at most `window` in flight.
pub(crate) async fn publish_confirmed(
    ch: &lapin::Channel,
    queue: &str,
    count: u64,
    payload: &[u8],
    window: usize,
    batch: usize,
) -> anyhow::Result<()> {
    // Publishes are handed to lapin's I/O thread in batches, as the relay does: awaiting each
    // one alone measured the client's thread hand-offs (a fifth slower), not the broker.
    let batch = batch.min(window).max(1) as u64;
    let mut in_flight = VecDeque::with_capacity(window);
    let mut i = 0;
    while i < count {
        let n = batch.min(count - i);
        while in_flight.len() as u64 + n > window as u64 {
            let Some(c) = in_flight.pop_front() else {
                break;
            };
            c.await?;
        }
        let publishes = (i..i + n).map(|k| {
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(k.to_string().into());
            ch.basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                payload,
                props,
            )
        });
        in_flight.extend(futures::future::try_join_all(publishes).await?);
        i += n;
    }
    for c in in_flight {
        c.await?;
    }
    Ok(())
}

/// A send job's body, as the relay publishes it (the baseline's message size).
pub(crate) fn job_payload() -> anyhow::Result<Vec<u8>> {
    let job = SendJob {
        record_id: uuid::Uuid::now_v7(),
        campaign_id: uuid::Uuid::now_v7(),
        execution_id: uuid::Uuid::now_v7(),
        customer_id: uuid::Uuid::now_v7(),
        channel: marketing_core::vocabulary::Channel::Sms,
    };
    Ok(serde_json::to_vec(&job)?)
}

/// Calls timed per endpoint in the statistics latency check, after [`LATENCY_WARMUP`] untimed.
const LATENCY_CALLS: usize = 500;
const LATENCY_WARMUP: usize = 20;
/// The statistics p99 the benchmark asserts (ms).
const STATS_P99_LIMIT_MS: f64 = 50.0;

/// Latency percentiles of sequential calls, in ms.
struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
}

/// Nearest-rank percentile `q` (0–1) of sorted samples (at least one).
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Times `calls` sequential GETs of `url` over `http` (one keep-alive connection, reused), after
/// `warmup` untimed ones; each call reads the whole body and must succeed. Returns the
/// percentiles and the last body.
async fn time_gets(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    warmup: usize,
    calls: usize,
) -> anyhow::Result<(Latency, Vec<u8>)> {
    let get = |url: &str| {
        let req = http.get(url);
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    };
    let mut last = Vec::new();
    for _ in 0..warmup {
        let r = get(url).send().await?.error_for_status()?;
        last = r.bytes().await?.to_vec();
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let r = get(url).send().await?.error_for_status()?;
        let body = r.bytes().await?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
        last = body.to_vec();
    }
    samples.sort_by(f64::total_cmp);
    let latency = Latency {
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
        max: *samples.last().context("no samples")?,
    };
    Ok((latency, last))
}

/// Peak resident set size of a process, in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub(crate) struct Procs(pub(crate) Vec<(String, Child)>);

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Runs the fan-out benchmark.
pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
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
    let n = args.recipients;
    let payload = job_payload()?;
    println!(
        "message size: {} bytes; recipients: {n}; workers: {}",
        payload.len(),
        args.workers
    );

    let baseline_count = args.baseline_messages.unwrap_or(n).max(1);
    let baseline = || {
        raw_publish_rate(
            &args.amqp_url,
            args.window,
            args.baseline_batch,
            baseline_count,
            &payload,
        )
    };
    let raw_before = baseline().await?;
    println!(
        "baseline (before): raw confirmed publish of {baseline_count} messages, {} confirms in flight, {} publishes at a time: {}",
        args.window,
        args.baseline_batch,
        raw_before.describe()
    );

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
    let t = Instant::now();
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
    println!("seeded {n} customers in {:.1}s", t.elapsed().as_secs_f64());

    let http_port = free_port()?;
    let token = "bench-token";
    // A service process on the benchmark's database and queues; each names its database
    // sessions, so `pg_stat_activity` tells whose CPU a backend spends.
    let service = |binary: &str, name: &str| {
        let mut command = Command::new(bin_dir.join(binary));
        command
            .env("DATABASE_URL", format!("{db_url}?application_name={name}"))
            .env("AMQP_URL", &args.amqp_url)
            .env("QUEUE_PREFIX", &prefix)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        command
    };
    let svc = service("campaign-svc", "campaign-svc")
        .env("API_TOKENS", token)
        .env("HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("GRPC_ADDR", format!("127.0.0.1:{}", free_port()?))
        .env("PUBLISH_WINDOW", args.window.to_string())
        .spawn()?;
    let mut procs = Procs(vec![("campaign-svc".into(), svc)]);
    let spawn_workers = |procs: &mut Procs| -> anyhow::Result<()> {
        for i in 0..args.workers {
            let w = service("dispatch-worker", &format!("dispatch-worker-{i}"))
                .env("LOG_SINK_PATH", "/dev/null")
                .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()?))
                .spawn()?;
            procs.0.push((format!("dispatch-worker #{i}"), w));
        }
        Ok(())
    };
    if !args.workers_after_fanout {
        spawn_workers(&mut procs)?;
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
        .json(&serde_json::json!({"name": "bench", "type": "sms", "target_tags": ["bench"], "content": "亲爱的[客户姓名]，双11快乐！"}))
        .send()
        .await?
        .json()
        .await?;
    let id = campaign["id"].as_str().context("campaign id")?.to_owned();

    let pids = |procs: &Procs| -> Vec<(String, u32)> {
        procs.0.iter().map(|(n, c)| (n.clone(), c.id())).collect()
    };
    let cpu_before = cpu::snapshot(&mut conn, &db_name, &pids(&procs)).await;
    let start = Instant::now();
    let trigger: serde_json::Value = http
        .post(format!("{api}/campaigns/{id}/trigger"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let answered = start.elapsed();
    let execution = trigger["execution_id"]
        .as_str()
        .with_context(|| format!("the trigger failed: {trigger}"))?
        .to_owned();
    println!(
        "trigger: {} in {:.1}s",
        trigger["message"],
        answered.as_secs_f64()
    );
    // Progress is read from the execution's counters (what the relay and the workers maintain),
    // not by counting records: a count over a million records every 200 ms would take a
    // noticeable share of the database's CPU away from the system being measured.
    let mut fanned_out = None;
    let finished = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let published = scalar(
            &mut conn,
            &format!(
                "SELECT published_count AS n FROM campaign_executions WHERE id = '{execution}'"
            ),
        )
        .await?;
        if fanned_out.is_none() && published as u64 >= n {
            fanned_out = Some(start.elapsed());
            if args.workers_after_fanout {
                spawn_workers(&mut procs)?;
            }
        }
        let open = scalar(&mut conn, &format!(
            "SELECT planned - sent_count - failed_count AS n FROM campaign_executions WHERE id = '{execution}'"
        ))
        .await?;
        if open <= 0 && fanned_out.is_some() {
            break start.elapsed();
        }
        if start.elapsed() > Duration::from_secs(1800) {
            bail!("the campaign did not finish within 30 minutes");
        }
    };
    let cpu_after = cpu::snapshot(&mut conn, &db_name, &pids(&procs)).await;
    let fanned_out = fanned_out.context("fan-out time")?;
    // The baseline again, right after the campaign (the services idle): this box is shared and
    // its speed drifts, so the ratios use the mean of the two.
    let raw_after = baseline().await?;
    let raw = (raw_before.rate + raw_after.rate) / 2.0;
    println!(
        "baseline (after): {}; baseline used: mean {raw:.0} msg/s",
        raw_after.describe()
    );
    // The records themselves, counted once at the end: every one final, every one sent.
    let sent = scalar(&mut conn, &format!(
        "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{id}' AND status = 'sent'"
    ))
    .await?;
    let open = scalar(&mut conn, &format!(
        "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{id}' AND status IN ('pending', 'sending')"
    ))
    .await?;
    if open > 0 {
        bail!("{open} records are not final although the execution's counters say so");
    }
    let fan_rate = n as f64 / fanned_out.as_secs_f64();
    let e2e_rate = n as f64 / finished.as_secs_f64();
    println!(
        "trigger answered in {:.1} ms (the records are written in the background; see `bench trigger`)",
        answered.as_secs_f64() * 1000.0
    );
    let alone = if args.workers_after_fanout {
        ", workers started after it"
    } else {
        ""
    };
    println!(
        "fan-out (trigger → all {n} jobs confirmed{alone}): {:.1}s = {fan_rate:.0}/s = {:.2}× raw",
        fanned_out.as_secs_f64(),
        fan_rate / raw
    );
    println!(
        "end-to-end (trigger → all records final, {sent} sent): {:.1}s = {e2e_rate:.0}/s = {:.2}× raw",
        finished.as_secs_f64(),
        e2e_rate / raw
    );

    println!(
        "CPU per message, µs (trigger → all records final): {}",
        cpu::report(&cpu_before, &cpu_after, n, finished.as_secs_f64())
    );

    // Statistics latency, with every record final; /healthz timed the same way as the baseline.
    let health = format!("http://127.0.0.1:{http_port}/healthz");
    let (health_lat, _) = time_gets(&http, &health, None, LATENCY_WARMUP, LATENCY_CALLS).await?;
    let (stats_lat, body) = time_gets(
        &http,
        &format!("{api}/campaigns/{id}/stats"),
        Some(token),
        LATENCY_WARMUP,
        LATENCY_CALLS,
    )
    .await?;
    let stats: serde_json::Value =
        serde_json::from_slice(&body).context("stats response is not JSON")?;
    let totals = &stats["totals"];
    let total = |k: &str| {
        totals[k]
            .as_u64()
            .with_context(|| format!("stats totals.{k}"))
    };
    let (planned, stats_sent, attempted) = (total("planned")?, total("sent")?, total("attempted")?);
    println!(
        "stats latency over {LATENCY_CALLS} calls: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         (healthz p50 {:.2} ms, p99 {:.2} ms); totals: planned {planned} sent {stats_sent} attempted {attempted}",
        stats_lat.p50, stats_lat.p99, stats_lat.max, health_lat.p50, health_lat.p99
    );
    let covers = planned == n && attempted == n && stats_sent == sent as u64;
    println!(
        "{}: stats p99 {:.2} ms < {STATS_P99_LIMIT_MS} ms (p99 {:.1}× healthz p99)",
        if stats_lat.p99 < STATS_P99_LIMIT_MS {
            "PASS"
        } else {
            "FAIL"
        },
        stats_lat.p99,
        stats_lat.p99 / health_lat.p99
    );
    println!(
        "{}: stats totals cover all {n} records (planned {planned}, attempted {attempted}, sent {stats_sent} vs {sent} sent records)",
        if covers { "PASS" } else { "FAIL" }
    );

    for (name, child) in &mut procs.0 {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{name} exited during the run ({status}); the figures are not valid");
        }
    }
    for (name, child) in &procs.0 {
        match peak_rss_mib(child.id()) {
            Some(mib) => println!("peak RSS {name}: {mib:.0} MiB"),
            None => println!("peak RSS {name}: unavailable"),
        }
    }
    drop(procs);
    drop(conn);
    if !args.keep {
        let mut admin = AsyncPgConnection::establish(&args.database_admin_url).await?;
        diesel::sql_query(format!("DROP DATABASE \"{db_name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
        let amqp = lapin::Connection::connect(&args.amqp_url, Default::default()).await?;
        let ch = amqp.create_channel().await?;
        let topology = marketing_core::jobs::Topology::new(&prefix);
        for q in [&topology.send_queue, &topology.dead_letter_queue] {
            let _ = ch
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = ch
            .exchange_delete(
                topology.dead_letter_exchange.as_str().into(),
                Default::default(),
            )
            .await;
    }
    Ok(())
}
