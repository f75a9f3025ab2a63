//! Report mode: how long the console's campaign report takes to render in a real browser for a
//! campaign of N records (default 1,000,000), against the same report for 100 records in the
//! same run.
//!
//! 1. Seeds N customers tagged `big` and 100 tagged `small`, starts campaign-svc (serving the
//!    built `console/dist`) and the workers as `bench trigger` does.
//! 2. Sends one campaign to each audience through the whole pipeline (every record written,
//!    published, delivered by the `log` provider) and waits until both are final and the hourly
//!    statistics are rolled up (the report draws them).
//! 3. Runs `console/e2e/report-timing.mjs` (node, playwright-core, Debian's chromium): each
//!    round opens both reports in a fresh browser context and times, from the navigation's
//!    start, the first frame where the report is complete (funnel equal to the API's, every
//!    chart drawn, nothing loading).
//! 4. Reports p50 / max of both series and their ratio against the target (under 1 s).
//!
//! Needs the release binaries beside this one and the console built (`scripts/console.sh
//! --browser`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;

use crate::fanout::percentile;
use crate::trigger_time::{
    Setup, TriggerArgs, cleanup, create_campaign, load_average, start, trigger, until_zero,
};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Records of the large campaign (one per customer).
    #[arg(long, default_value_t = 1_000_000)]
    recipients: u64,
    /// Records of the baseline campaign.
    #[arg(long, default_value_t = 100)]
    baseline_recipients: u64,
    /// Times each report is opened.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// dispatch-worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// PostgreSQL server URL (its `postgres` database); a fresh database is made beside it.
    #[arg(long, default_value = crate::DEFAULT_ADMIN_URL)]
    database_admin_url: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// Keep the benchmark database afterwards.
    #[arg(long)]
    keep: bool,
}

/// The report's render time target (ms) for the large campaign.
const TARGET_MS: f64 = 1000.0;

pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = repo.join("console/e2e/report-timing.mjs");
    if !repo.join("console/dist/index.html").is_file() {
        bail!("the console is not built: run scripts/console.sh --browser first");
    }
    let started = Instant::now();
    println!("load average at start: {}", load_average());
    let seeding = TriggerArgs::seeding(
        args.recipients,
        args.baseline_recipients,
        args.workers,
        args.database_admin_url.clone(),
        args.amqp_url.clone(),
    );
    let mut setup = start(&seeding).await?;
    let result = measure(&args, &mut setup, &script).await;
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
        cleanup(&seeding, &db_name, &prefix).await?;
    }
    result
}

async fn measure(args: &ReportArgs, setup: &mut Setup, script: &PathBuf) -> anyhow::Result<()> {
    let big = create_campaign(setup, "big", "big").await?;
    let small = create_campaign(setup, "small", "small").await?;
    let t = Instant::now();
    let (big_execution, _) = trigger(setup, &big).await?;
    let (small_execution, _) = trigger(setup, &small).await?;
    until_zero(
        &mut setup.conn,
        &format!(
            "SELECT count(*) AS n FROM campaign_executions
             WHERE id IN ('{big_execution}', '{small_execution}')
               AND NOT (materialize_done AND publish_done AND sent_count + failed_count >= planned)"
        ),
        Duration::from_secs(45 * 60),
        "both campaigns final",
    )
    .await?;
    println!(
        "both campaigns sent ({} + {} records) in {:.0}s",
        args.recipients,
        args.baseline_recipients,
        t.elapsed().as_secs_f64()
    );
    // The hourly series is rolled up once a minute (STATS_ROLLUP_SECS): wait for the large
    // campaign's to hold every message, so its chart is drawn with the whole campaign.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let hourly: serde_json::Value = setup
            .http
            .get(format!("{}/campaigns/{big}/stats/hourly", setup.api))
            .bearer_auth(setup.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let sent: i64 = hourly["hours"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| h["sent"].as_i64().unwrap_or(0))
            .sum();
        if sent as u64 >= args.recipients {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the hourly statistics hold {sent} of {} sends after 3 minutes: {hourly}",
                args.recipients
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let base = setup
        .api
        .strip_suffix("/api/marketing")
        .context("API URL")?
        .to_owned();
    let output = tokio::process::Command::new("node")
        .arg(script)
        .env("CONSOLE_URL", &base)
        .env("API_TOKEN", setup.token)
        .env("CAMPAIGNS", format!("big:{big},small:{small}"))
        .env("ROUNDS", args.rounds.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .context("running node")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "report-timing.mjs failed\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let result: serde_json::Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(serde_json::from_str)
        .transpose()?
        .with_context(|| format!("no RESULT line in\n{stdout}"))?;
    let series = |label: &str| -> Vec<f64> {
        let mut v: Vec<f64> = result[label]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (big_ms, small_ms) = (series("big"), series("small"));
    if big_ms.is_empty() || small_ms.is_empty() {
        bail!("no render times in {result}");
    }
    let max = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
    println!(
        "report render, {} rounds (fresh browser context each, navigation start → report complete):",
        args.rounds
    );
    for (name, v) in [
        (format!("{} records", args.recipients), &big_ms),
        (format!("{} records", args.baseline_recipients), &small_ms),
    ] {
        println!(
            "  {name}: p50 {:.0} ms, max {:.0} ms",
            percentile(v, 0.5),
            max(v)
        );
    }
    let p50_ratio = percentile(&big_ms, 0.5) / percentile(&small_ms, 0.5);
    println!(
        "ratio {} / {}: p50 {p50_ratio:.2}×, max {:.2}×",
        args.recipients,
        args.baseline_recipients,
        max(&big_ms) / max(&small_ms)
    );
    let verdict = if max(&big_ms) < TARGET_MS {
        "PASS"
    } else {
        "FAIL"
    };
    println!(
        "{verdict}: the {}-record report rendered in at most {:.0} ms (target < {TARGET_MS:.0} ms)",
        args.recipients,
        max(&big_ms)
    );
    Ok(())
}
