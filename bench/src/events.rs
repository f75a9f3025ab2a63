//! Customer events: ingest through the real REST endpoint against a plain multi-row INSERT
//! (`events`), and "no `order_paid` in 30 days" over a million customers and ten million
//! events (`churn`).
//!
//! `events`:
//! 1. Makes a fresh database beside the admin URL (migrated as the service does), seeds
//!    `--customers` customers and starts the release `campaign-svc` built beside this binary.
//! 2. Builds `--events` events in batches of `--batch` (customers by `external_id`, 10 names,
//!    small properties) once, as the JSON bodies and as the rows.
//! 3. Baseline: `--clients` connections each insert their share of the batches as plain
//!    multi-row `INSERT INTO customer_events (…) VALUES (…), (…), …` statements (one per batch,
//!    no idempotency, no customer lookup); events/s.
//! 4. `TRUNCATE`, then `--clients` HTTP clients post the same batches (bodies serialised
//!    before the clock starts) to `POST /api/marketing/events`; events/s, and the ratio.
//!
//! `churn`: seeds `--customers` customers and `--events` events with `generate_series` (10
//! names, `order_paid` a tenth of them, `occurred_at` over the last year; indexes built after
//! the load, as a bulk load would), `VACUUM ANALYZE`, then counts
//! `{"not": {"event": "order_paid", "within_days": 30}}` exactly as the segment count API does
//! (parse, compile, bind) and prints the timing and `EXPLAIN ANALYZE`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use diesel::ExpressionMethods as _;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use marketing_core::schema::customer_events;
use marketing_core::segment::{self, Rule};
use std::process::{Command, Stdio};

use crate::fanout::{Procs, free_port};
use crate::segments::{drop_database, explain, measure};
use crate::{DEFAULT_ADMIN_URL, scalar};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Events posted (and inserted for the baseline).
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events per call / statement (1 to 1,000).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent clients (HTTP clients, and database connections for the baseline).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Customers the events are about.
    #[arg(long, default_value_t = 100_000)]
    customers: u64,
    #[arg(long, default_value = DEFAULT_ADMIN_URL)]
    database_admin_url: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Args)]
pub struct ChurnArgs {
    #[arg(long, default_value_t = 1_000_000)]
    customers: u64,
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Timed runs, after one warm-up run.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value = DEFAULT_ADMIN_URL)]
    database_admin_url: String,
    #[arg(long)]
    keep: bool,
}

const NAMES: [&str; 10] = [
    "order_paid",
    "page_view",
    "add_to_cart",
    "login",
    "search",
    "coupon_claimed",
    "order_refunded",
    "review_posted",
    "app_open",
    "share",
];

/// A fresh database beside the admin URL, dropped after `body` (unless `keep`).
async fn with_database<F, Fut>(
    admin_url: &str,
    keep: bool,
    prefix: &str,
    body: F,
) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let db_name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .context("admin URL")?;
    let result = body(format!("{base}/{db_name}")).await;
    if keep {
        println!("kept database {db_name}");
    } else if let Err(e) = drop_database(admin_url, &db_name).await {
        eprintln!("could not drop database {db_name}: {e:#}");
        if result.is_ok() {
            return Err(e);
        }
    }
    result
}

struct Event {
    event_id: String,
    customer: u64,
    name: &'static str,
    properties: serde_json::Value,
    occurred_at: chrono::DateTime<chrono::Utc>,
}

fn events(n: usize, customers: u64, tag: &str) -> Vec<Event> {
    let now = chrono::Utc::now();
    (0..n)
        .map(|i| {
            // A cheap, reproducible spread (multiplicative hashing), no RNG crate needed.
            let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            Event {
                event_id: format!("{tag}-{i}"),
                customer: 1 + h % customers,
                name: NAMES[(h >> 20) as usize % NAMES.len()],
                properties: serde_json::json!({"amount": (h >> 32) % 10_000, "channel": "app"}),
                occurred_at: now - chrono::Duration::seconds(((h >> 40) % 86_400) as i64),
            }
        })
        .collect()
}

pub async fn run_events(args: EventsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=1000).contains(&args.batch),
        "--batch must be 1 to 1000"
    );
    anyhow::ensure!(
        args.clients > 0 && args.customers > 0,
        "--clients and --customers must be positive"
    );
    let admin = args.database_admin_url.clone();
    with_database(&admin, args.keep, "bench_ev", |db_url| {
        bench_events(args, db_url)
    })
    .await
}

async fn bench_events(args: EventsArgs, db_url: String) -> anyhow::Result<()> {
    let bin = std::env::current_exe()?
        .parent()
        .context("binary directory")?
        .join("campaign-svc");
    if !bin.exists() {
        bail!(
            "campaign-svc is not built next to bench: run `cargo build --release --workspace --bins` first"
        );
    }
    marketing_core::db::prepare(&db_url, 1).await?;
    let mut conn = AsyncPgConnection::establish(&db_url).await?;
    diesel::sql_query(format!(
        "INSERT INTO customers (id, external_id) SELECT uuid_v7(), 'ev-' || i \
         FROM generate_series(1, {}) AS i",
        args.customers
    ))
    .execute(&mut conn)
    .await?;
    diesel::sql_query("VACUUM ANALYZE customers")
        .execute(&mut conn)
        .await?;
    println!(
        "{} customers; {} events in batches of {}; {} clients",
        args.customers, args.events, args.batch, args.clients
    );

    let http_port = free_port()?;
    let token = "bench-token";
    let svc = Command::new(&bin)
        .env(
            "DATABASE_URL",
            format!("{db_url}?application_name=campaign-svc"),
        )
        .env("AMQP_URL", &args.amqp_url)
        .env(
            "QUEUE_PREFIX",
            format!("bench_{}", uuid::Uuid::new_v4().simple()),
        )
        .env("RUST_LOG", "warn")
        .env("API_TOKENS", token)
        .env("HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("GRPC_ADDR", format!("127.0.0.1:{}", free_port()?))
        .stdout(Stdio::null())
        .spawn()?;
    let svc_pid = svc.id();
    let _procs = Procs(vec![("campaign-svc".into(), svc)]);
    let db_name = db_url.rsplit('/').next().unwrap_or_default().to_owned();
    let services = [("campaign-svc".to_owned(), svc_pid)];
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{http_port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{base}/readyz"))
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

    // The same rows both ways; ids differ per run so that nothing is a duplicate.
    let rows = events(args.events, args.customers, "b");
    let batches: Vec<&[Event]> = rows.chunks(args.batch).collect();

    // Baseline: plain multi-row INSERT … VALUES, customers resolved beforehand.
    let ids: Vec<uuid::Uuid> = {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            id: uuid::Uuid,
        }
        let rows: Vec<Id> = diesel::sql_query(
            "SELECT id FROM customers ORDER BY substring(external_id from 4)::bigint",
        )
        .load(&mut conn)
        .await?;
        rows.into_iter().map(|r| r.id).collect()
    };
    let statements: Vec<Vec<_>> = batches
        .iter()
        .map(|b| {
            b.iter()
                .map(|e| {
                    (
                        customer_events::event_id.eq(e.event_id.clone()),
                        customer_events::customer_id.eq(ids[(e.customer - 1) as usize]),
                        customer_events::name.eq(e.name),
                        customer_events::properties.eq(e.properties.clone()),
                        customer_events::occurred_at.eq(e.occurred_at),
                    )
                })
                .collect()
        })
        .collect();
    let mut shares: Vec<Vec<Vec<_>>> = (0..args.clients).map(|_| Vec::new()).collect();
    for (i, s) in statements.into_iter().enumerate() {
        shares[i % args.clients].push(s);
    }
    let mut conns = Vec::new();
    for _ in 0..args.clients {
        conns.push(
            AsyncPgConnection::establish(&format!("{db_url}?application_name=baseline")).await?,
        );
    }
    let cpu_before = crate::cpu::snapshot(&mut conn, &db_name, &services).await;
    let start = Instant::now();
    let tasks: Vec<_> = shares
        .into_iter()
        .zip(conns)
        .map(|(share, mut c)| {
            tokio::spawn(async move {
                for values in share {
                    diesel::insert_into(customer_events::table)
                        .values(values)
                        .execute(&mut c)
                        .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let baseline_secs = start.elapsed().as_secs_f64();
    let cpu_after = crate::cpu::snapshot(&mut conn, &db_name, &services).await;
    let stored = scalar(&mut conn, "SELECT count(*) AS n FROM customer_events").await?;
    anyhow::ensure!(
        stored as usize == args.events,
        "baseline stored {stored} rows"
    );
    let baseline = args.events as f64 / baseline_secs;
    println!(
        "baseline: plain multi-row INSERT … VALUES, {} clients: {:.0} events/s ({:.2} s)",
        args.clients, baseline, baseline_secs
    );
    println!(
        "  CPU µs per event: {}",
        crate::cpu::report(&cpu_before, &cpu_after, args.events as u64, baseline_secs)
    );

    diesel::sql_query("TRUNCATE customer_events")
        .execute(&mut conn)
        .await?;
    diesel::sql_query("VACUUM ANALYZE customer_events")
        .execute(&mut conn)
        .await?;

    let bodies: Vec<Vec<u8>> = batches
        .iter()
        .map(|b| {
            let items: Vec<_> = b
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "event_id": e.event_id, "external_id": format!("ev-{}", e.customer),
                        "name": e.name, "properties": e.properties,
                        "occurred_at": e.occurred_at.to_rfc3339(),
                    })
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({"events": items}))
        })
        .collect::<Result<_, _>>()?;
    let mut shares: Vec<Vec<Vec<u8>>> = (0..args.clients).map(|_| Vec::new()).collect();
    for (i, b) in bodies.into_iter().enumerate() {
        shares[i % args.clients].push(b);
    }
    let url = format!("{base}/api/marketing/events");
    let cpu_before = crate::cpu::snapshot(&mut conn, &db_name, &services).await;
    let start = Instant::now();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let mut accepted = 0u64;
                for body in share {
                    let resp = http
                        .post(&url)
                        .bearer_auth(token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    anyhow::ensure!(resp.status().as_u16() == 202, "status {}", resp.status());
                    let out: serde_json::Value = resp.json().await?;
                    accepted += out["accepted"].as_u64().unwrap_or(0);
                }
                anyhow::Ok(accepted)
            })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??;
    }
    let api_secs = start.elapsed().as_secs_f64();
    let cpu_after = crate::cpu::snapshot(&mut conn, &db_name, &services).await;
    anyhow::ensure!(
        accepted as usize == args.events,
        "the API accepted {accepted}"
    );
    let api = args.events as f64 / api_secs;
    println!(
        "POST /api/marketing/events, {} clients: {:.0} events/s ({:.2} s)",
        args.clients, api, api_secs
    );
    println!(
        "  CPU µs per event: {} (the HTTP clients are in \"everything else\")",
        crate::cpu::report(&cpu_before, &cpu_after, args.events as u64, api_secs)
    );
    println!(
        "summary: ingest through the API is {:.2}× the plain INSERT (target ≥ 0.5×)",
        api / baseline
    );
    Ok(())
}

pub async fn run_churn(args: ChurnArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.customers > 0 && args.runs > 0,
        "--customers and --runs must be positive"
    );
    let admin = args.database_admin_url.clone();
    with_database(&admin, args.keep, "bench_churn", |db_url| {
        bench_churn(args, db_url)
    })
    .await
}

#[derive(diesel::QueryableByName)]
struct Def {
    #[diesel(sql_type = diesel::sql_types::Text)]
    def: String,
}

async fn bench_churn(args: ChurnArgs, db_url: String) -> anyhow::Result<()> {
    marketing_core::db::prepare(&db_url, 1).await?;
    let mut conn = AsyncPgConnection::establish(&db_url).await?;
    diesel::sql_query("SELECT setseed(0.42)")
        .execute(&mut conn)
        .await?;
    let t = Instant::now();
    diesel::sql_query(format!(
        "INSERT INTO customers (id, external_id, created_at) \
         SELECT md5(i::text)::uuid, 'churn-' || i, now() - random() * interval '3 years' \
         FROM generate_series(1, {}) AS i",
        args.customers
    ))
    .execute(&mut conn)
    .await?;
    println!(
        "seeded {} customers in {:.1}s",
        args.customers,
        t.elapsed().as_secs_f64()
    );

    // Load without the secondary indexes, then build them (what a bulk load does): their
    // definitions are read from the migrated table, so they are exactly the service's.
    let defs: Vec<Def> = diesel::sql_query(
        "SELECT indexdef AS def FROM pg_indexes WHERE tablename = 'customer_events' \
         AND indexname <> 'customer_events_pkey'",
    )
    .load(&mut conn)
    .await?;
    diesel::sql_query(
        "DO $$ DECLARE i text; BEGIN FOR i IN SELECT indexname FROM pg_indexes \
         WHERE tablename = 'customer_events' AND indexname <> 'customer_events_pkey' \
         LOOP EXECUTE 'DROP INDEX ' || quote_ident(i); END LOOP; END $$",
    )
    .execute(&mut conn)
    .await?;
    let names = NAMES
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let t = Instant::now();
    diesel::sql_query(format!(
        "INSERT INTO customer_events (event_id, customer_id, name, properties, occurred_at, received_at) \
         SELECT 'ev-' || g, md5((1 + floor(random() * {c}))::bigint::text)::uuid, \
                (ARRAY[{names}])[1 + floor(random() * 10)::int], \
                jsonb_build_object('amount', floor(random() * 10000)::int), \
                now() - random() * interval '365 days', now() \
         FROM generate_series(1, {e}) AS g",
        c = args.customers,
        e = args.events
    ))
    .execute(&mut conn)
    .await
    .context("seeding events")?;
    println!(
        "seeded {} events in {:.1}s",
        args.events,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    diesel::sql_query("SET maintenance_work_mem = '512MB'")
        .execute(&mut conn)
        .await?;
    for d in &defs {
        diesel::sql_query(&d.def).execute(&mut conn).await?;
    }
    diesel::sql_query("VACUUM ANALYZE customers")
        .execute(&mut conn)
        .await?;
    diesel::sql_query("VACUUM ANALYZE customer_events")
        .execute(&mut conn)
        .await?;
    println!(
        "built {} indexes and VACUUM ANALYZE in {:.1}s",
        defs.len(),
        t.elapsed().as_secs_f64()
    );
    let size = scalar(
        &mut conn,
        "SELECT pg_total_relation_size('customer_events') AS n",
    )
    .await?;
    println!(
        "customer_events with indexes: {:.0} MiB",
        size as f64 / (1024.0 * 1024.0)
    );

    let json = serde_json::json!({"not": {"event": "order_paid", "within_days": 30}});
    let rule = Rule::parse(&json).map_err(|e| anyhow::anyhow!("{e}"))?;
    let compiled = segment::compile(&rule, 1);
    println!("rule: {json}");
    println!("SQL: {}", compiled.sql);
    // One transaction: `now()` (and so the 30-day window) stays put across the runs, so events
    // ageing out of the window while it runs cannot change the count between them.
    let runs = args.runs;
    let t = conn
        .transaction::<_, anyhow::Error, _>(async |conn| {
            measure(conn, Some(&compiled.sql), &compiled.binds, runs).await
        })
        .await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("plan (EXPLAIN ANALYZE):");
    for line in explain(&mut conn, &compiled.sql, &compiled.binds).await? {
        println!("  | {line}");
    }
    println!(
        "summary: {} of {} customers without order_paid in 30 days; median {:.1} ms, max {:.1} ms over {} runs (target < 1000 ms)",
        t.matched,
        args.customers,
        ms(t.median),
        ms(t.max),
        args.runs
    );
    Ok(())
}
