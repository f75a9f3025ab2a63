//! Segment mode: how long counting a segment takes on a realistic customer table, against a plain
//! count of every customer measured in the same run.
//!
//! 1. Makes a fresh database beside the admin URL and migrates it as the services do
//!    ([`marketing_core::db::prepare`]).
//! 2. Seeds N customers in one `INSERT … SELECT FROM generate_series` with varied tags (0–4 of
//!    20, skewed), `attributes` (city of 30, points, vip_level, interests, address.province),
//!    locale, birthday (10 % missing), `created_at` over 3 years and 1 % erased; then one
//!    completed campaign with an execution and ~N/5 records sent, opened and clicked over the
//!    last 60 days; then `VACUUM ANALYZE`. The pseudo-random data is seeded, so runs compare.
//! 3. Times the baseline `SELECT count(*) FROM customers c WHERE c.erased_at IS NULL` and each
//!    rule's count, built exactly as campaign-svc's `count_segment` builds it (parse, compile
//!    from placeholder 1, boxed raw query, [`segment::bind_all`]): one warm-up, then `--runs`
//!    timed runs; reports the median and the max, and the median against the baseline's.
//! 4. Drops the database (unless `--keep`), also when a step failed.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use marketing_core::segment::{self, Bind, Rule};

use crate::{DEFAULT_ADMIN_URL, scalar};

#[derive(Debug, Args)]
pub struct SegmentsArgs {
    /// Customers to seed.
    #[arg(long, default_value_t = 1_000_000)]
    customers: u64,
    /// Engagement records (one campaign; default: a fifth of the customers).
    #[arg(long)]
    records: Option<u64>,
    /// Timed runs per query, after one warm-up run.
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Also print each rule's compiled SQL and `EXPLAIN ANALYZE` plan.
    #[arg(long)]
    explain: bool,
    /// PostgreSQL server URL (its `postgres` database); a fresh database is made beside it.
    #[arg(long, default_value = DEFAULT_ADMIN_URL)]
    database_admin_url: String,
    /// Keep the benchmark database afterwards.
    #[arg(long)]
    keep: bool,
}

/// The slowest a count may take for the summary to call it fine.
const LIMIT: Duration = Duration::from_secs(1);

const TAGS: [&str; 20] = [
    "newsletter",
    "app_user",
    "wechat_follower",
    "new",
    "vip",
    "coupon",
    "returning",
    "high_value",
    "student",
    "parent",
    "birthday_club",
    "beauty",
    "sports",
    "electronics",
    "travel",
    "churn_risk",
    "offline_store",
    "referral",
    "b2b",
    "employee",
];

/// (city, province); the first cities are the most frequent.
const CITIES: [(&str, &str); 30] = [
    ("上海", "上海"),
    ("北京", "北京"),
    ("广州", "广东"),
    ("深圳", "广东"),
    ("杭州", "浙江"),
    ("成都", "四川"),
    ("南京", "江苏"),
    ("苏州", "江苏"),
    ("武汉", "湖北"),
    ("重庆", "重庆"),
    ("西安", "陕西"),
    ("天津", "天津"),
    ("长沙", "湖南"),
    ("东莞", "广东"),
    ("佛山", "广东"),
    ("宁波", "浙江"),
    ("郑州", "河南"),
    ("青岛", "山东"),
    ("济南", "山东"),
    ("厦门", "福建"),
    ("福州", "福建"),
    ("合肥", "安徽"),
    ("昆明", "云南"),
    ("沈阳", "辽宁"),
    ("大连", "辽宁"),
    ("无锡", "江苏"),
    ("哈尔滨", "黑龙江"),
    ("南昌", "江西"),
    ("南宁", "广西"),
    ("贵阳", "贵州"),
];

const INTERESTS: [&str; 10] = [
    "美妆", "运动", "数码", "旅行", "美食", "母婴", "家居", "服饰", "图书", "宠物",
];

/// `ARRAY['a', 'b', …]` (the constants hold no quotes).
fn sql_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items.into_iter().map(|s| format!("'{s}'")).collect();
    format!("ARRAY[{}]::text[]", quoted.join(", "))
}

#[derive(QueryableByName)]
struct Plan {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct S {
    #[diesel(sql_type = Text)]
    s: String,
}

/// Runs the segment count benchmark.
pub async fn run(args: SegmentsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.customers > 0, "--customers must be positive");
    anyhow::ensure!(args.runs > 0, "--runs must be positive");
    let db_name = format!("bench_seg_{}", uuid::Uuid::new_v4().simple());
    let base = args
        .database_admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .context("admin URL")?;
    let db_url = format!("{base}/{db_name}");
    let result = bench(&args, &db_url).await;
    if args.keep {
        println!("kept database {db_name}");
    } else if let Err(e) = drop_database(&args.database_admin_url, &db_name).await {
        eprintln!("could not drop database {db_name}: {e:#}");
        if result.is_ok() {
            return Err(e);
        }
    }
    result
}

pub(crate) async fn drop_database(admin_url: &str, db_name: &str) -> anyhow::Result<()> {
    let mut admin = AsyncPgConnection::establish(admin_url).await?;
    diesel::sql_query(format!(
        "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
    ))
    .execute(&mut admin)
    .await?;
    Ok(())
}

/// Median and max of a query's timed runs, and what it counted.
pub(crate) struct Timing {
    pub(crate) matched: i64,
    pub(crate) median: Duration,
    pub(crate) max: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The count campaign-svc runs for a compiled rule (`None`: the baseline, every customer).
fn count_sql(where_sql: Option<&str>) -> String {
    match where_sql {
        Some(w) => {
            format!("SELECT count(*) AS n FROM customers c WHERE c.erased_at IS NULL AND ({w})")
        }
        None => "SELECT count(*) AS n FROM customers c WHERE c.erased_at IS NULL".to_owned(),
    }
}

/// One count as campaign-svc runs it: `where_sql` with `binds` from `$1`.
async fn count_once(
    conn: &mut AsyncPgConnection,
    where_sql: Option<&str>,
    binds: &[Bind],
) -> anyhow::Result<(i64, Duration)> {
    let query = diesel::sql_query(count_sql(where_sql)).into_boxed();
    let start = Instant::now();
    let row: crate::N = segment::bind_all(query, binds).get_result(conn).await?;
    Ok((row.n, start.elapsed()))
}

/// One warm-up run, then `runs` timed ones.
pub(crate) async fn measure(
    conn: &mut AsyncPgConnection,
    where_sql: Option<&str>,
    binds: &[Bind],
    runs: usize,
) -> anyhow::Result<Timing> {
    let (matched, _) = count_once(conn, where_sql, binds).await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (n, t) = count_once(conn, where_sql, binds).await?;
        anyhow::ensure!(
            n == matched,
            "the count changed between runs ({matched} → {n})"
        );
        times.push(t);
    }
    times.sort();
    Ok(Timing {
        matched,
        median: times[times.len() / 2],
        max: times[times.len() - 1],
    })
}

pub(crate) async fn explain(
    conn: &mut AsyncPgConnection,
    where_sql: &str,
    binds: &[Bind],
) -> anyhow::Result<Vec<String>> {
    let query = diesel::sql_query(format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        count_sql(Some(where_sql))
    ))
    .into_boxed();
    let plan: Vec<Plan> = segment::bind_all(query, binds).load(conn).await?;
    Ok(plan.into_iter().map(|p| p.line).collect())
}

async fn seed(
    conn: &mut AsyncPgConnection,
    customers: u64,
    records: u64,
    campaign_id: uuid::Uuid,
) -> anyhow::Result<()> {
    // Reproducible data: the session's random() sequence starts from a fixed seed.
    diesel::sql_query("SELECT setseed(0.42)")
        .execute(conn)
        .await?;
    let tags = sql_array(TAGS);
    let cities = sql_array(CITIES.iter().map(|(c, _)| *c));
    let provinces = sql_array(CITIES.iter().map(|(_, p)| *p));
    let interests = sql_array(INTERESTS);
    let t = Instant::now();
    // The per-row randoms are drawn in the inner SELECT (volatile, so evaluated per row); the
    // ARRAY(…) subqueries refer to the row, so they run per row too.
    diesel::sql_query(format!(
        "INSERT INTO customers (id, external_id, name, phone, tags, attributes, locale, birthday,
                                erased_at, created_at, updated_at)
         SELECT uuid_v7(),
                'seg-' || s.i,
                '客户' || s.i,
                '+86138' || lpad(s.i::text, 8, '0'),
                ARRAY(SELECT DISTINCT k.tags[1 + floor(power(random(), 1.6) * 20)::int]
                      FROM generate_series(1, s.ntags)),
                jsonb_strip_nulls(jsonb_build_object(
                    'city', k.cities[s.city],
                    'points', CASE WHEN s.r_points < 0.92 THEN floor(random() * 100001)::int END,
                    'vip_level', floor(power(s.r_vip, 2.5) * 6)::int,
                    'interests', to_jsonb(ARRAY(
                        SELECT DISTINCT k.interests[1 + floor(random() * 10)::int]
                        FROM generate_series(1, s.ninterests))),
                    'address', jsonb_build_object('province', k.provinces[s.city],
                                                  'city', k.cities[s.city]))),
                CASE WHEN s.r_locale < 0.55 THEN 'zh-CN'
                     WHEN s.r_locale < 0.67 THEN 'zh-TW'
                     WHEN s.r_locale < 0.82 THEN 'en-US'
                     WHEN s.r_locale < 0.88 THEN 'de-DE' END,
                CASE WHEN s.r_birthday >= 0.1 THEN date '1950-01-01'
                     + floor(random() * (date '2008-12-31' - date '1950-01-01' + 1))::int END,
                CASE WHEN s.r_erased < 0.01 THEN s.created_at + (now() - s.created_at) * random() END,
                s.created_at,
                s.created_at
         FROM (SELECT i,
                      floor(random() * 5)::int AS ntags,
                      floor(random() * 4)::int AS ninterests,
                      1 + floor(power(random(), 1.5) * 30)::int AS city,
                      random() AS r_points,
                      random() AS r_vip,
                      random() AS r_locale,
                      random() AS r_birthday,
                      random() AS r_erased,
                      now() - random() * interval '3 years' AS created_at
               FROM generate_series(1, {customers}) AS i) s
         CROSS JOIN (SELECT {tags} AS tags, {cities} AS cities, {provinces} AS provinces,
                            {interests} AS interests) k"
    ))
    .execute(conn)
    .await
    .context("seeding customers")?;
    println!(
        "seeded {customers} customers in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let execution_id = uuid::Uuid::now_v7();
    let author = uuid::Uuid::new_v4();
    diesel::sql_query(format!(
        "INSERT INTO marketing_campaign (id, name, type, status, content, created_by, updated_by,
                                         actual_start_time, actual_end_time, created_at)
         VALUES ('{campaign_id}', 'segment bench', 'sms', 'completed', '双11快乐', '{author}',
                 '{author}', now() - interval '60 days', now(), now() - interval '61 days')"
    ))
    .execute(conn)
    .await
    .context("seeding the campaign")?;
    diesel::sql_query(format!(
        "INSERT INTO campaign_executions (id, campaign_id, execution_type, status, planned,
                                          publish_done, published_count, sent_count, created_at,
                                          finished_at)
         VALUES ('{execution_id}', '{campaign_id}', 'actual', 'completed', {records}, true,
                 {records}, {records}, now() - interval '60 days', now())"
    ))
    .execute(conn)
    .await
    .context("seeding the execution")?;
    // Sent over the last 60 days; 35 % opened within two days, 10 % also clicked.
    let seeded = diesel::sql_query(format!(
        "INSERT INTO marketing_record (id, campaign_id, execution_id, customer_id, channel, status,
                                       attempts, sent_at, delivered_at, opened_at, clicked_at,
                                       created_at, updated_at)
         SELECT uuid_v7(), '{campaign_id}', '{execution_id}', s.id, 'sms',
                CASE WHEN s.r < 0.10 THEN 'clicked' WHEN s.r < 0.35 THEN 'opened'
                     ELSE 'delivered' END,
                1, s.sent_at, s.sent_at,
                CASE WHEN s.r < 0.35 THEN s.opened_at END,
                CASE WHEN s.r < 0.10 THEN LEAST(now(), s.opened_at + s.r_click * interval '2 hours') END,
                s.sent_at, now()
         FROM (SELECT c.id, c.sent_at, c.r, c.r_click,
                      LEAST(now(), c.sent_at + c.r_open * interval '48 hours') AS opened_at
               FROM (SELECT id, now() - random() * interval '60 days' AS sent_at,
                            random() AS r, random() AS r_open, random() AS r_click
                     FROM (SELECT id FROM customers WHERE erased_at IS NULL
                           ORDER BY random() LIMIT {records}) picked) c) s"
    ))
    .execute(conn)
    .await
    .context("seeding marketing records")?;
    println!(
        "seeded 1 campaign, 1 execution, {seeded} records in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    diesel::sql_query("VACUUM ANALYZE customers")
        .execute(conn)
        .await?;
    diesel::sql_query("VACUUM ANALYZE marketing_record")
        .execute(conn)
        .await?;
    diesel::sql_query("ANALYZE").execute(conn).await?;
    println!("VACUUM ANALYZE in {:.1}s", t.elapsed().as_secs_f64());
    Ok(())
}

async fn bench(args: &SegmentsArgs, db_url: &str) -> anyhow::Result<()> {
    let records = args
        .records
        .unwrap_or(args.customers / 5)
        .min(args.customers * 99 / 100);
    marketing_core::db::prepare(db_url, 1)
        .await
        .context("creating and migrating the benchmark database")?;
    let mut conn = AsyncPgConnection::establish(db_url).await?;
    let server: Vec<S> = diesel::sql_query(
        "SELECT split_part(version(), ' on ', 1) || ', shared_buffers ' \
         || current_setting('shared_buffers') || ', work_mem ' || current_setting('work_mem') \
         || ', max_parallel_workers_per_gather ' \
         || current_setting('max_parallel_workers_per_gather') AS s",
    )
    .load(&mut conn)
    .await?;
    if let Some(s) = server.into_iter().next() {
        println!("server: {}", s.s);
    }
    println!(
        "customers: {}; records: {records}; runs per query: 1 warm-up + {}",
        args.customers, args.runs
    );

    let campaign_id = uuid::Uuid::now_v7();
    seed(&mut conn, args.customers, records, campaign_id).await?;
    let size = scalar(&mut conn, "SELECT pg_total_relation_size('customers') AS n").await?;
    println!(
        "customers table with indexes: {:.0} MiB",
        size as f64 / (1024.0 * 1024.0)
    );

    // A sign-up cut-off a year back, as the RFC 3339 the rule language reads.
    let since: Vec<S> = diesel::sql_query(
        "SELECT to_char(date_trunc('day', now() - interval '365 days') AT TIME ZONE 'UTC', \
         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS s",
    )
    .load(&mut conn)
    .await?;
    let since = since.into_iter().next().context("cut-off date")?.s;
    let rules: Vec<(&str, serde_json::Value)> = vec![
        ("tag vip", serde_json::json!({"tag": "vip"})),
        (
            "tags_any of 3",
            serde_json::json!({"tags_any": ["student", "travel", "b2b"]}),
        ),
        (
            "city = 上海",
            serde_json::json!({"attribute": "city", "op": "=", "value": "上海"}),
        ),
        (
            "points >= 50000 AND vip_level in [3,4,5]",
            serde_json::json!({"and": [
                {"attribute": "points", "op": ">=", "value": 50000},
                {"attribute": "vip_level", "op": "in", "value": [3, 4, 5]}
            ]}),
        ),
        (
            "tag OR birthday June OR locale zh*",
            serde_json::json!({"or": [
                {"tag": "birthday_club"},
                {"field": "birthday_month", "op": "=", "value": 6},
                {"field": "locale", "op": "prefix", "value": "zh"}
            ]}),
        ),
        (
            "NOT opened 30d AND created_at >= 1y ago",
            serde_json::json!({"and": [
                {"not": {"engagement": "opened", "campaign_id": campaign_id.to_string(),
                         "within_days": 30}},
                {"field": "created_at", "op": ">=", "value": since}
            ]}),
        ),
        (
            "address.province = 广东",
            serde_json::json!({"attribute": "address.province", "op": "=", "value": "广东"}),
        ),
    ];

    println!();
    println!("rules:");
    for (name, json) in &rules {
        println!("  {name}: {json}");
    }
    println!();

    let baseline = measure(&mut conn, None, &[], args.runs).await?;
    let name_width = rules
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
        .max("baseline: count(*) not erased".len());
    // CJK characters are two columns wide in a terminal; pad by display width.
    let pad = |name: &str| {
        let width: usize = name
            .chars()
            .map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 })
            .sum();
        format!(
            "{name}{}",
            " ".repeat((name_width + 2).saturating_sub(width))
        )
    };
    println!(
        "{}{:>10} {:>7} {:>10} {:>10} {:>10}",
        pad("query"),
        "matched",
        "share",
        "median ms",
        "max ms",
        "× baseline"
    );
    let row = |name: &str, t: &Timing| {
        println!(
            "{}{:>10} {:>6.1}% {:>10.1} {:>10.1} {:>10.2}",
            pad(name),
            t.matched,
            100.0 * t.matched as f64 / baseline.matched.max(1) as f64,
            ms(t.median),
            ms(t.max),
            t.median.as_secs_f64() / baseline.median.as_secs_f64()
        );
    };
    row("baseline: count(*) not erased", &baseline);

    let mut slow = Vec::new();
    let mut slowest = Duration::ZERO;
    for (name, json) in &rules {
        let rule = Rule::parse(json).map_err(|e| anyhow::anyhow!("rule {name}: {e}"))?;
        let compiled = segment::compile(&rule, 1);
        let t = measure(&mut conn, Some(&compiled.sql), &compiled.binds, args.runs)
            .await
            .with_context(|| format!("counting rule {name}"))?;
        row(name, &t);
        if args.explain {
            println!("    SQL: {}", compiled.sql);
            for line in explain(&mut conn, &compiled.sql, &compiled.binds).await? {
                println!("    | {line}");
            }
        }
        slowest = slowest.max(t.max);
        if t.max >= LIMIT {
            slow.push(*name);
        }
    }
    println!();
    if slow.is_empty() {
        println!(
            "summary: every rule's max is under 1 s (slowest max {:.1} ms; baseline median {:.1} ms) \
             over {} customers",
            ms(slowest),
            ms(baseline.median),
            args.customers
        );
    } else {
        println!(
            "summary: NOT every rule's max is under 1 s: {} (slowest max {:.1} ms) over {} customers",
            slow.join(", "),
            ms(slowest),
            args.customers
        );
    }
    Ok(())
}
