//! Trigger mode: how long `POST /api/marketing/campaigns/:id/trigger` takes to answer for a large
//! audience, against the same for an audience of 100 in the same run; and, with `--complete`, one
//! campaign of N recipients run to the end with every process's memory sampled every second and
//! the disk each record takes.
//!
//! Response time (the default):
//!
//! 1. Seeds N customers tagged `big` and 100 more tagged `small` into a fresh database
//!    (`INSERT … SELECT … FROM generate_series`), starts campaign-svc and W dispatch-workers (the
//!    release binaries beside this one, `log` provider writing to /dev/null).
//! 2. Creates `--triggers` campaigns to `big` and as many to `small`, then triggers them one at a
//!    time, alternating small and big (so the box's drift touches both alike), each over REST on
//!    a fresh connection, timing the request client-side from send to the whole body read.
//! 3. Between two triggers the run goes quiet again: a small campaign runs to its end (every
//!    record sent); a big one is **ended** right after its answer (its `end_time` set to now,
//!    in SQL, since the API refuses to edit an active campaign): the freeze stops at its next
//!    chunk, the scheduler completes the campaign and fails what is still pending ("not sent:
//!    the campaign ended…"), and the bench waits for that and for an empty send queue. Each
//!    big trigger so writes one or two chunks (`FREEZE_CHUNK`, 10,000) instead of N records:
//!    20 × 1,000,000 records delivered would take about 20 minutes and ~8 GB here, and the
//!    trigger's answer does not depend on what happens after it.
//! 4. Reports p50 / p99 / max of both series and their ratio, and the load average.
//!
//! Completion (`--complete`, with `--triggers 1` and usually `--recipients 10000000`):
//!
//! 1. Seeds N customers tagged `big`, starts campaign-svc and W workers as above, and samples
//!    every second the resident memory (`VmRSS` in `/proc/<pid>/status`) of campaign-svc, of each
//!    worker, and the totals of all `postgres` and all RabbitMQ (`beam.smp`) processes.
//! 2. Triggers one campaign to all N (its answer timed as above), waits until every record is
//!    final, and reports the total time and rate, each process's memory at the start, its peak,
//!    at 10% of the records final (the same process after 1/10 of the work: "flat" means no
//!    growth from there to the end) and at the end, and the disk per record: the size of
//!    `marketing_record` with its indexes and TOAST over its rows, the per-execution tables, and
//!    the database's growth over the run per record.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;

use crate::fanout::{Procs, free_port, percentile};
use crate::scalar;

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// Customers in the large audience.
    #[arg(long, default_value_t = 1_000_000)]
    recipients: u64,
    /// Triggers timed for the large audience (and as many for the 100-customer baseline).
    #[arg(long, default_value_t = 20)]
    triggers: usize,
    /// Customers in the baseline audience.
    #[arg(long, default_value_t = 100)]
    baseline_recipients: u64,
    /// Instead of timing triggers: one campaign to every recipient, run to its end, with every
    /// process's memory sampled each second and the disk per record.
    #[arg(long)]
    complete: bool,
    /// dispatch-worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// PostgreSQL server URL (its `postgres` database); a fresh database is made beside it.
    #[arg(long, default_value = crate::DEFAULT_ADMIN_URL)]
    database_admin_url: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Give up on the `--complete` campaign after this many minutes.
    #[arg(long, default_value_t = 45)]
    timeout_minutes: u64,
    /// Refuse to start without room for the run plus this many GiB on the disk holding
    /// PostgreSQL's data, and stop a `--complete` run (dropping its database) when less is left:
    /// a full disk would stop PostgreSQL for everyone on the box.
    #[arg(long, default_value_t = 2.0)]
    min_free_gib: f64,
    /// Keep the benchmark database afterwards.
    #[arg(long)]
    keep: bool,
}

impl TriggerArgs {
    /// The settings `start` needs to seed `recipients` customers tagged `big` and
    /// `baseline_recipients` tagged `small` and start campaign-svc with `workers` workers.
    pub(crate) fn seeding(
        recipients: u64,
        baseline_recipients: u64,
        workers: usize,
        database_admin_url: String,
        amqp_url: String,
    ) -> Self {
        Self {
            recipients,
            triggers: 1,
            baseline_recipients,
            complete: false,
            workers,
            database_admin_url,
            amqp_url,
            timeout_minutes: 45,
            min_free_gib: 2.0,
            keep: false,
        }
    }
}

/// Bytes of disk a `--complete` run needs per recipient before it starts: the customer
/// (~300 B with its indexes), its record (~400 B with indexes) and WAL headroom.
const NEED_PER_RECIPIENT: f64 = 1000.0;

/// Free bytes on the file system holding `dir` (from `df`), if it tells.
fn free_bytes(dir: &str) -> Option<f64> {
    let out = Command::new("df")
        .args(["-B1", "--output=avail", dir])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// PostgreSQL's data directory (the bench connects as a superuser), else `/`.
async fn data_directory(conn: &mut AsyncPgConnection) -> String {
    #[derive(diesel::QueryableByName)]
    struct Dir {
        #[diesel(sql_type = diesel::sql_types::Text)]
        setting: String,
    }
    diesel::sql_query("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
        .get_result::<Dir>(conn)
        .await
        .map(|d| d.setting)
        .unwrap_or_else(|_| "/".into())
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The trigger's p99 target for a large audience (ms).
const P99_TARGET_MS: f64 = 200.0;

pub(crate) struct Setup {
    pub(crate) db_name: String,
    pub(crate) prefix: String,
    pub(crate) conn: AsyncPgConnection,
    pub(crate) procs: Procs,
    pub(crate) http: reqwest::Client,
    pub(crate) api: String,
    pub(crate) token: &'static str,
}

pub async fn run(args: TriggerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    println!("load average at start: {}", load_average());
    let mut setup = start(&args).await?;
    let result = if args.complete {
        complete(&args, &mut setup).await
    } else {
        response_times(&args, &mut setup).await
    };
    println!("load average at end: {}", load_average());
    println!("whole run: {:.0}s", started.elapsed().as_secs_f64());
    let Setup {
        db_name,
        prefix,
        conn,
        procs,
        ..
    } = setup;
    drop(procs);
    drop(conn);
    if !args.keep {
        cleanup(&args, &db_name, &prefix).await?;
    }
    result
}

/// Seeds the database and starts campaign-svc and the workers.
pub(crate) async fn start(args: &TriggerArgs) -> anyhow::Result<Setup> {
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
    let n = args.recipients;
    {
        // The response-time run writes the customers and a chunk or two per big trigger.
        let per_recipient = if args.complete {
            NEED_PER_RECIPIENT
        } else {
            NEED_PER_RECIPIENT / 2.0
        };
        let dir = data_directory(&mut conn).await;
        let need = n as f64 * per_recipient + args.min_free_gib * GIB;
        if let Some(free) = free_bytes(&dir).filter(|f| *f < need) {
            drop(conn);
            cleanup(args, &db_name, &prefix).await?;
            bail!(
                "{:.1} GiB free on the disk of {dir}; {n} recipients need about {:.1} GiB (and --min-free-gib {} left over)",
                free / GIB,
                n as f64 * per_recipient / GIB,
                args.min_free_gib
            );
        }
    }
    let t = Instant::now();
    // In slices of a million, so that a 10M seed shows its progress and no statement holds
    // 10M rows' worth of WAL at once.
    let slice = 1_000_000u64;
    let mut from = 1u64;
    while from <= n {
        let to = (from + slice - 1).min(n);
        diesel::sql_query(format!(
            "INSERT INTO customers (id, external_id, name, phone, tags)
             SELECT uuid_v7(), 'bench-' || i, '客户' || i, '+86138' || lpad(i::text, 8, '0'), ARRAY['big']
             FROM generate_series({from}, {to}) AS i"
        ))
        .execute(&mut conn)
        .await?;
        if n > slice {
            println!("  seeded {to} of {n} ({:.0}s)", t.elapsed().as_secs_f64());
        }
        from = to + 1;
    }
    if !args.complete {
        let small = args.baseline_recipients;
        diesel::sql_query(format!(
            "INSERT INTO customers (id, external_id, name, phone, tags)
             SELECT uuid_v7(), 'small-' || i, '客户' || i, '+86139' || lpad(i::text, 8, '0'), ARRAY['small']
             FROM generate_series(1, {small}) AS i"
        ))
        .execute(&mut conn)
        .await?;
    }
    diesel::sql_query("VACUUM ANALYZE customers")
        .execute(&mut conn)
        .await?;
    println!(
        "seeded {n} customers{} in {:.1}s",
        if args.complete {
            String::new()
        } else {
            format!(" (+{} for the baseline)", args.baseline_recipients)
        },
        t.elapsed().as_secs_f64()
    );

    let http_port = free_port()?;
    let token = "bench-token";
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
        // The console (`bench report` opens it), when it is built.
        .env(
            "CONSOLE_DIR",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../console/dist"),
        )
        .env("HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("GRPC_ADDR", format!("127.0.0.1:{}", free_port()?))
        .spawn()?;
    let mut procs = Procs(vec![("campaign-svc".into(), svc)]);
    for i in 0..args.workers {
        let w = service("dispatch-worker", &format!("dispatch-worker-{i}"))
            .env("LOG_SINK_PATH", "/dev/null")
            .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()?))
            .spawn()?;
        procs.0.push((format!("dispatch-worker #{i}"), w));
    }
    let http = reqwest::Client::new();
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
    Ok(Setup {
        db_name,
        prefix,
        conn,
        procs,
        http,
        api: format!("http://127.0.0.1:{http_port}/api/marketing"),
        token,
    })
}

pub(crate) async fn create_campaign(
    setup: &Setup,
    name: &str,
    tag: &str,
) -> anyhow::Result<String> {
    let campaign: serde_json::Value = setup
        .http
        .post(format!("{}/campaigns", setup.api))
        .bearer_auth(setup.token)
        .json(
            &serde_json::json!({"name": name, "type": "sms", "target_tags": [tag],
                                  "content": "亲爱的[客户姓名]，双11快乐！"}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(campaign["id"]
        .as_str()
        .with_context(|| format!("creating a campaign: {campaign}"))?
        .to_owned())
}

/// Triggers `campaign` on a fresh connection (so no trigger profits from a warm one) and returns
/// its execution and the response time in ms, from sending the request to the body read.
pub(crate) async fn trigger(setup: &Setup, campaign: &str) -> anyhow::Result<(String, f64)> {
    let client = reqwest::Client::builder().build()?;
    let t = Instant::now();
    let response = client
        .post(format!("{}/campaigns/{campaign}/trigger", setup.api))
        .bearer_auth(setup.token)
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if status != reqwest::StatusCode::ACCEPTED {
        bail!(
            "the trigger answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let reply: serde_json::Value = serde_json::from_slice(&body)?;
    let execution = reply["execution_id"]
        .as_str()
        .with_context(|| format!("no execution_id in {reply}"))?
        .to_owned();
    Ok((execution, ms))
}

/// Waits until `sql` (a query of one `n`) gives 0, polling every 200 ms.
pub(crate) async fn until_zero(
    conn: &mut AsyncPgConnection,
    sql: &str,
    limit: Duration,
    what: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while scalar(conn, sql).await? != 0 {
        if Instant::now() > deadline {
            bail!("{what} did not happen within {}s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Ready messages in the benchmark's send queue.
async fn queue_depth(amqp_url: &str, prefix: &str) -> anyhow::Result<u32> {
    let conn = lapin::Connection::connect(amqp_url, Default::default()).await?;
    let ch = conn.create_channel().await?;
    let queue = marketing_core::jobs::Topology::new(prefix).send_queue;
    let q = ch
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let depth = q.message_count();
    let _ = conn.close(200, "done".into()).await;
    Ok(depth)
}

async fn response_times(args: &TriggerArgs, setup: &mut Setup) -> anyhow::Result<()> {
    let n = args.recipients;
    let small_n = args.baseline_recipients;
    let count = args.triggers.max(1);
    let mut big = Vec::with_capacity(count);
    let mut small = Vec::with_capacity(count);
    for i in 0..count {
        big.push(create_campaign(setup, &format!("big {i}"), "big").await?);
        small.push(create_campaign(setup, &format!("small {i}"), "small").await?);
    }
    println!(
        "{count} campaigns to {n} customers and {count} to {small_n}; triggering them alternately"
    );
    let mut big_ms = Vec::with_capacity(count);
    let mut small_ms = Vec::with_capacity(count);
    let mut written = 0i64;
    for i in 0..count {
        // The baseline: 100 recipients, run to its end.
        let (execution, ms) = trigger(setup, &small[i]).await?;
        small_ms.push(ms);
        until_zero(
            &mut setup.conn,
            &format!(
                "SELECT count(*) AS n FROM campaign_executions WHERE id = '{execution}' AND status = 'running'"
            ),
            Duration::from_secs(60),
            "a 100-recipient campaign's completion",
        )
        .await?;
        // The large audience: answered, then ended at once (see the module's documentation).
        let (execution, ms) = trigger(setup, &big[i]).await?;
        big_ms.push(ms);
        diesel::sql_query(format!(
            "UPDATE marketing_campaign SET end_time = now() WHERE id = '{}'",
            big[i]
        ))
        .execute(&mut setup.conn)
        .await?;
        until_zero(
            &mut setup.conn,
            &format!(
                "SELECT count(*) AS n FROM campaign_executions
                 WHERE id = '{execution}' AND (status = 'running' OR NOT materialize_done)"
            ),
            Duration::from_secs(120),
            "an ended campaign's completion",
        )
        .await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while queue_depth(&args.amqp_url, &setup.prefix).await? > 0 {
            if Instant::now() > deadline {
                bail!("the send queue did not drain within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let planned = scalar(
            &mut setup.conn,
            &format!("SELECT planned AS n FROM campaign_executions WHERE id = '{execution}'"),
        )
        .await?;
        written += planned;
        println!(
            "  trigger {:>2}: {n} recipients {:>7.1} ms ({planned} records written before it was ended); {small_n} recipients {:>7.1} ms; load {}",
            i + 1,
            big_ms[i],
            small_ms[i],
            load_average()
        );
    }
    for (name, child) in &mut setup.procs.0 {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{name} exited during the run ({status}); the figures are not valid");
        }
    }
    let mut sorted_big = big_ms.clone();
    sorted_big.sort_by(f64::total_cmp);
    let mut sorted_small = small_ms.clone();
    sorted_small.sort_by(f64::total_cmp);
    let stat = |s: &[f64]| {
        (
            percentile(s, 0.5),
            percentile(s, 0.99),
            s.last().copied().unwrap_or(f64::NAN),
        )
    };
    let (b50, b99, bmax) = stat(&sorted_big);
    let (s50, s99, smax) = stat(&sorted_small);
    println!(
        "trigger response, {n} recipients, {count} triggers: p50 {b50:.1} ms, p99 {b99:.1} ms, max {bmax:.1} ms"
    );
    println!(
        "trigger response, {small_n} recipients, {count} triggers: p50 {s50:.1} ms, p99 {s99:.1} ms, max {smax:.1} ms"
    );
    println!(
        "ratio {n} / {small_n} recipients: p50 {:.2}×, p99 {:.2}×, max {:.2}× ({written} records written by the {count} large campaigns before they were ended)",
        b50 / s50,
        b99 / s99,
        bmax / smax
    );
    println!(
        "{}: p99 {b99:.1} ms < {P99_TARGET_MS} ms at {n} recipients",
        if b99 < P99_TARGET_MS { "PASS" } else { "FAIL" }
    );
    Ok(())
}

/// Resident memory of a process in MiB (`VmRSS`), if it is still there.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Summed `VmRSS` (MiB) of every process whose command name is `comm`. PostgreSQL's backends
/// share its buffer pool, which each one counts as far as it touched it: the total overstates
/// the memory used, but its growth is what tells.
fn rss_of_all(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == comm)
                .unwrap_or(false)
        })
        .filter_map(rss_mib)
        .sum()
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// One sample: seconds since the trigger, records final so far, then MiB per process column.
type Sample = (f64, i64, Vec<f64>);

async fn complete(args: &TriggerArgs, setup: &mut Setup) -> anyhow::Result<()> {
    let n = args.recipients;
    let mut columns: Vec<String> = setup.procs.0.iter().map(|(n, _)| n.clone()).collect();
    let pids: Vec<u32> = setup.procs.0.iter().map(|(_, c)| c.id()).collect();
    columns.push("PostgreSQL (all processes)".into());
    columns.push("RabbitMQ (beam.smp)".into());
    let db_before = scalar(
        &mut setup.conn,
        &format!("SELECT pg_database_size('{}') AS n", setup.db_name),
    )
    .await?;
    let campaign = create_campaign(setup, "big", "big").await?;

    // Sampling every second in a task of its own; the progress (records final) is read by the
    // main loop and handed over.
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let progress = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let t0 = Instant::now();
    let sampler = {
        let samples = samples.clone();
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let mut row: Vec<f64> = pids
                    .iter()
                    .map(|p| rss_mib(*p).unwrap_or(f64::NAN))
                    .collect();
                row.push(rss_of_all("postgres"));
                row.push(rss_of_all("beam.smp"));
                let done = std::sync::atomic::AtomicI64::load(
                    &progress,
                    std::sync::atomic::Ordering::Relaxed,
                );
                if let Ok(mut s) = samples.lock() {
                    s.push((t0.elapsed().as_secs_f64(), done, row));
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let dir = data_directory(&mut setup.conn).await;
    let mut min_free = f64::INFINITY;
    let start = Instant::now();
    let (execution, ms) = trigger(setup, &campaign).await?;
    println!("trigger answered in {ms:.1} ms");
    let mut frozen_at = None;
    let mut published_at = None;
    let mut last_report = Instant::now();
    let limit = Duration::from_secs(args.timeout_minutes * 60);
    let finished = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The execution's counters, as the relay and the workers keep them (a count over 10M
        // records each time would load the database being measured).
        #[derive(diesel::QueryableByName)]
        struct State {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            planned: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            published: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            done: i64,
            #[diesel(sql_type = diesel::sql_types::Bool)]
            frozen: bool,
            #[diesel(sql_type = diesel::sql_types::Bool)]
            publish_done: bool,
        }
        let s: State = diesel::sql_query(format!(
            "SELECT planned, published_count AS published, sent_count + failed_count AS done,
                    materialize_done AS frozen, publish_done
             FROM campaign_executions WHERE id = '{execution}'"
        ))
        .get_result(&mut setup.conn)
        .await?;
        progress.store(s.done, std::sync::atomic::Ordering::Relaxed);
        if let Some(free) = free_bytes(&dir) {
            min_free = min_free.min(free);
            if free < args.min_free_gib * GIB {
                bail!(
                    "stopped: {:.1} GiB free on the disk of {dir} (under --min-free-gib {}) with {} of {} records final",
                    free / GIB,
                    args.min_free_gib,
                    s.done,
                    s.planned
                );
            }
        }
        if s.frozen && frozen_at.is_none() {
            frozen_at = Some(start.elapsed());
        }
        if s.frozen && s.published >= s.planned && published_at.is_none() {
            published_at = Some(start.elapsed());
        }
        if last_report.elapsed() > Duration::from_secs(60) {
            last_report = Instant::now();
            println!(
                "  {:>5.0}s: {} records written, {} published, {} final; load {}",
                start.elapsed().as_secs_f64(),
                s.planned,
                s.published,
                s.done,
                load_average()
            );
        }
        if s.frozen && s.publish_done && s.done >= s.planned {
            break start.elapsed();
        }
        if start.elapsed() > limit {
            // Reported all the same: memory and disk per record so far are figures too.
            println!(
                "INCOMPLETE: the campaign did not finish within {} minutes ({} of {} records written, {} final); figures so far:",
                args.timeout_minutes, s.planned, n, s.done
            );
            break start.elapsed();
        }
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sampler.abort();
    println!("least free disk during the run: {:.1} GiB", min_free / GIB);
    for (name, child) in &mut setup.procs.0 {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{name} exited during the run ({status}); the figures are not valid");
        }
    }
    let samples = samples
        .lock()
        .map_err(|_| anyhow::anyhow!("the sampler panicked"))?
        .clone();

    let sent = scalar(
        &mut setup.conn,
        &format!("SELECT sent_count AS n FROM campaign_executions WHERE id = '{execution}'"),
    )
    .await?;
    let planned = scalar(
        &mut setup.conn,
        &format!("SELECT planned AS n FROM campaign_executions WHERE id = '{execution}'"),
    )
    .await?;
    let secs = finished.as_secs_f64();
    println!(
        "{planned} records, {sent} sent: trigger → every record written {:.0}s, → every job published {:.0}s, → every record final {secs:.0}s = {:.0} records/s",
        frozen_at.map_or(f64::NAN, |d| d.as_secs_f64()),
        published_at.map_or(f64::NAN, |d| d.as_secs_f64()),
        planned as f64 / secs
    );
    if sent as u64 != n {
        println!("FAIL: {sent} of {n} records sent");
    }

    // Memory: start (before the trigger), peak, at 10% of the records final, end.
    let tenth = samples
        .iter()
        .find(|(_, done, _)| *done as u64 >= n / 10)
        .cloned();
    println!(
        "resident memory (VmRSS, MiB, sampled every second; {} samples): start / at 10% final / peak / end",
        samples.len()
    );
    for (i, name) in columns.iter().enumerate() {
        let col: Vec<f64> = samples
            .iter()
            .map(|(_, _, row)| row.get(i).copied().unwrap_or(f64::NAN))
            .filter(|v| v.is_finite())
            .collect();
        let (Some(first), Some(last)) = (<[f64]>::first(&col), <[f64]>::last(&col)) else {
            println!("  {name}: no samples");
            continue;
        };
        let peak = col.iter().copied().fold(f64::MIN, f64::max);
        let at_tenth = tenth
            .as_ref()
            .and_then(|(_, _, row)| row.get(i).copied())
            .unwrap_or(f64::NAN);
        println!(
            "  {name}: {first:.0} / {at_tenth:.0} / {peak:.0} / {last:.0} (end − at 10%: {:+.0})",
            last - at_tenth
        );
    }

    // Disk per record.
    diesel::sql_query("ANALYZE marketing_record")
        .execute(&mut setup.conn)
        .await?;
    #[derive(diesel::QueryableByName)]
    struct Size {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        heap: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        indexes: i64,
    }
    let sizes: Vec<Size> = diesel::sql_query(
        "SELECT c.relname::text AS name, pg_total_relation_size(c.oid) AS total,
                pg_relation_size(c.oid) AS heap, pg_indexes_size(c.oid) AS indexes
         FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE c.relkind = 'r' AND s.nspname = 'public' AND pg_total_relation_size(c.oid) > 1048576
         ORDER BY 2 DESC",
    )
    .load(&mut setup.conn)
    .await?;
    let records = planned.max(1) as f64;
    println!("disk (tables over 1 MiB; per record = over the campaign's {planned} records):");
    for s in &sizes {
        println!(
            "  {}: {:.0} MiB total (heap {:.0} MiB, indexes {:.0} MiB){}",
            s.name,
            s.total as f64 / 1048576.0,
            s.heap as f64 / 1048576.0,
            s.indexes as f64 / 1048576.0,
            if s.name == "customers" {
                String::from(" (seeded before the run)")
            } else {
                format!(" = {:.0} bytes per record", s.total as f64 / records)
            }
        );
    }
    let indexes: Vec<Size> = diesel::sql_query(
        "SELECT i.relname::text AS name, pg_relation_size(i.oid) AS total,
                pg_relation_size(i.oid) AS heap, 0::bigint AS indexes
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         WHERE x.indrelid = 'marketing_record'::regclass ORDER BY 2 DESC",
    )
    .load(&mut setup.conn)
    .await?;
    for s in &indexes {
        println!(
            "    index {}: {:.0} MiB = {:.0} bytes per record",
            s.name,
            s.total as f64 / 1048576.0,
            s.total as f64 / records
        );
    }
    let db_after = scalar(
        &mut setup.conn,
        &format!("SELECT pg_database_size('{}') AS n", setup.db_name),
    )
    .await?;
    println!(
        "database growth over the campaign: {:.0} MiB = {:.0} bytes per record (every table and index; not WAL)",
        (db_after - db_before) as f64 / 1048576.0,
        (db_after - db_before) as f64 / records
    );
    Ok(())
}

/// Drops the benchmark's database and queues.
pub(crate) async fn cleanup(args: &TriggerArgs, db_name: &str, prefix: &str) -> anyhow::Result<()> {
    let mut admin = AsyncPgConnection::establish(&args.database_admin_url).await?;
    diesel::sql_query(format!("DROP DATABASE \"{db_name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    let amqp = lapin::Connection::connect(&args.amqp_url, Default::default()).await?;
    let ch = amqp.create_channel().await?;
    let topology = marketing_core::jobs::Topology::new(prefix);
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
    Ok(())
}
