//! What a SIGKILLed worker does to a provider that ignores the idempotency key, in each delivery
//! mode: worker processes with the `log` provider writing to a file are killed three times
//! mid-campaign, each time just after a batch reached the file, and the file's lines are counted
//! per record. at_least_once may write a record
//! twice (up to the open batch per kill) and loses none; at_most_once writes none twice and fails
//! the ones it cannot vouch for as "outcome unknown".

use std::collections::HashMap;
use std::time::Duration;

use testkit::{TestApp, wait_until};
use uuid::Uuid;

use crate::common::{Process, customers, send_campaign, wait_final, worker_args, worker_process};

const RECIPIENTS: usize = 20_000;
/// Sink lines at which a worker is killed (each time the next one is started).
const KILL_AT: [usize; 3] = [3_000, 8_000, 13_000];
/// The worker's default BATCH_SIZE: what one consumer has open when it dies.
const BATCH_SIZE: usize = 150;

/// The `log` sink's lines per record id. A line cut short by the kill counts if its record id is
/// whole (the provider did get that far), so nothing torn hides a duplicate, and a write cut
/// inside a multi-byte character hides nothing after it.
fn sink_counts(path: &std::path::Path) -> HashMap<Uuid, usize> {
    // A kill can cut a write anywhere, even inside a character of the Chinese copy: the file is
    // then not valid UTF-8 at that point, which must not hide the rest of it.
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let key = "\"record_id\":\"";
    let mut counts = HashMap::new();
    for (at, _) in text.match_indices(key) {
        let start = at + key.len();
        if let Some(id) = text
            .get(start..start + 36)
            .and_then(|s| s.parse::<Uuid>().ok())
        {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

fn duplicates(counts: &HashMap<Uuid, usize>) -> usize {
    counts.values().map(|n| n - 1).sum()
}

/// A campaign's records: id, status, and whether it failed as "outcome unknown".
async fn records(app: &TestApp, campaign: &str) -> Vec<(Uuid, String, bool)> {
    use diesel::sql_types::{Bool, Text, Uuid as SqlUuid};
    use diesel_async::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = Bool)]
        unknown: bool,
    }
    let mut conn = app.db().await;
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT id, status, COALESCE(error_message LIKE '{}%', false) AS unknown \
         FROM marketing_record WHERE campaign_id = '{campaign}'",
        dispatch_worker::dispatch::OUTCOME_UNKNOWN
    ))
    .load(&mut conn)
    .await
    .expect("records load");
    rows.into_iter()
        .map(|r| (r.id, r.status, r.unknown))
        .collect()
}

async fn outcome_unknown_count(app: &TestApp, campaign: &str) -> usize {
    records(app, campaign)
        .await
        .iter()
        .filter(|(_, _, unknown)| *unknown)
        .count()
}

/// Kills `worker` as soon as the sink grows: a batch was just flushed to it and its outcomes are
/// being written, the moment a crash leaves the most messages whose outcome is unknown. (Killed
/// at another moment, a worker leaves fewer or none: its open batch was not sent yet, or its
/// outcomes were committed.)
fn kill_right_after_a_flush(worker: &mut Process, sink: &std::path::Path) {
    let size = || std::fs::metadata(sink).map_or(0, |m| m.len());
    let before = size();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // Polled far more often than a batch takes to write its outcomes (milliseconds).
    tokio::task::block_in_place(|| {
        while size() == before {
            assert!(
                std::time::Instant::now() < deadline,
                "the sink stopped growing"
            );
            std::thread::sleep(Duration::from_micros(100));
        }
        worker.0.kill().expect("SIGKILL the worker");
        let _ = worker.0.wait();
    });
}

/// One run: a campaign of [`RECIPIENTS`] SMS, its worker killed at each of [`KILL_AT`] and a new
/// one started, until every record is final.
struct Run {
    app: TestApp,
    campaign: String,
    sink: std::path::PathBuf,
    /// Duplicate lines that each kill caused.
    duplicates_per_kill: Vec<usize>,
    /// Records failed as "outcome unknown" after each kill.
    unknown_per_kill: Vec<usize>,
    /// The `outcome="unknown"` count the last worker's metrics reported.
    last_worker_unknown_metric: usize,
    /// The last worker's "outcome unknown" records, counted in the database.
    last_worker_unknown: usize,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.sink);
    }
}

async fn kill_workers_mid_campaign(mode: &str) -> Run {
    let app = testkit::spawn_app().await;
    customers(&app, RECIPIENTS).await;
    let sink = std::env::temp_dir().join(format!("crash-modes-{}.jsonl", Uuid::now_v7()));
    let sink_arg = sink.to_string_lossy().into_owned();
    let args = worker_args(
        &app,
        &testkit::amqp_url(),
        &["--log-sink-path", &sink_arg, "--batch-size", "150"],
    );
    // Through the environment, as deployments set it.
    let spawn = |args: &[String]| worker_process(args, &[("SMS_DELIVERY", mode)]);
    let campaign = send_campaign(&app, "sms", "亲爱的[客户姓名]").await;
    // The whole campaign waits in the queue first, so the workers are busy (a batch open) when
    // they are killed, not waiting for the relay.
    wait_until(
        Duration::from_secs(120),
        "the campaign published",
        || async {
            app.count(&format!(
                "SELECT COALESCE(max(published_count), 0) AS n FROM campaign_executions \
             WHERE campaign_id = '{campaign}'"
            ))
            .await
                >= RECIPIENTS as i64
        },
    )
    .await;
    let mut worker: Process = spawn(&args);
    let mut duplicates_per_kill = Vec::new();
    let mut unknown_per_kill = Vec::new();
    let (mut dupes_before, mut unknown_before) = (0, 0);
    let mut last_worker_from = 0;
    let mut metrics_addr = String::new();
    for (i, at) in KILL_AT.into_iter().enumerate() {
        wait_until(
            Duration::from_secs(120),
            "the worker to be mid-campaign",
            || {
                let sink = sink.clone();
                async move { sink_counts(&sink).values().sum::<usize>() >= at }
            },
        )
        .await;
        if i > 0 {
            // The previous kill's jobs came back first (a quorum queue delivers returned
            // messages before the rest): what they did is settled by now.
            let counts = sink_counts(&sink);
            let unknown = outcome_unknown_count(&app, &campaign).await;
            duplicates_per_kill.push(duplicates(&counts) - dupes_before);
            unknown_per_kill.push(unknown - unknown_before);
        }
        kill_right_after_a_flush(&mut worker, &sink);
        let counts = sink_counts(&sink);
        let written = counts.values().sum::<usize>();
        assert!(
            counts.len() < RECIPIENTS,
            "killed before the end ({written} lines)"
        );
        dupes_before = duplicates(&counts);
        unknown_before = outcome_unknown_count(&app, &campaign).await;
        let mut next = args.clone();
        if i + 1 == KILL_AT.len() {
            // The last worker's metrics are read at the end.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            metrics_addr = format!("127.0.0.1:{port}");
            let at = next.iter().position(|a| a == "--metrics-addr").unwrap();
            next[at + 1] = metrics_addr.clone();
            last_worker_from = unknown_before;
        }
        worker = spawn(&next);
    }
    wait_final(&app, &campaign, Duration::from_secs(180)).await;
    let counts = sink_counts(&sink);
    let unknown = outcome_unknown_count(&app, &campaign).await;
    duplicates_per_kill.push(duplicates(&counts) - dupes_before);
    unknown_per_kill.push(unknown - unknown_before);
    let metrics = testkit::http_client()
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("the last worker serves /metrics")
        .text()
        .await
        .expect("metrics text");
    let last_worker_unknown_metric = metrics
        .lines()
        .find(|l| l.starts_with(r#"worker_deliveries_total{channel="sms",outcome="unknown"}"#))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0);
    drop(worker);
    Run {
        app,
        campaign,
        sink,
        duplicates_per_kill,
        unknown_per_kill,
        last_worker_unknown_metric,
        last_worker_unknown: unknown - last_worker_from,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn at_least_once_log_sink_resends_the_open_batch_of_a_killed_worker_and_loses_nothing() {
    let run = kill_workers_mid_campaign("at_least_once").await;
    let counts = sink_counts(&run.sink);
    let by_status = run
        .app
        .rows(&format!(
            "SELECT status || ': ' || count(*) || ' ' || COALESCE(min(error_message), '') AS line
             FROM marketing_record WHERE campaign_id = '{}' GROUP BY status",
            run.campaign
        ))
        .await;
    eprintln!("records by status: {by_status:?}");
    assert_eq!(
        run.app.records_with_status(&run.campaign, "sent").await,
        RECIPIENTS as i64,
        "every record sent"
    );
    assert_eq!(counts.len(), RECIPIENTS, "every record is in the sink");
    let records = records(&run.app, &run.campaign).await;
    assert!(
        records.iter().all(|(id, _, _)| counts.contains_key(id)),
        "the sink holds every record of the campaign"
    );
    eprintln!(
        "at_least_once, log sink, {RECIPIENTS} recipients, {} kills: duplicates per kill {:?} \
         (total {}), {} sink lines",
        KILL_AT.len(),
        run.duplicates_per_kill,
        duplicates(&counts),
        counts.values().sum::<usize>()
    );
    for (kill, d) in run.duplicates_per_kill.iter().enumerate() {
        assert!(
            *d <= BATCH_SIZE,
            "kill {kill}: {d} duplicates, more than the open batch ({BATCH_SIZE})"
        );
    }
    assert_eq!(run.unknown_per_kill.iter().sum::<usize>(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_once_log_sink_never_writes_a_record_twice_and_fails_the_unknown_ones() {
    let run = kill_workers_mid_campaign("at_most_once").await;
    let counts = sink_counts(&run.sink);
    let records = records(&run.app, &run.campaign).await;
    let sent: Vec<Uuid> = records
        .iter()
        .filter(|(_, status, _)| status == "sent")
        .map(|(id, _, _)| *id)
        .collect();
    let unknown: Vec<Uuid> = records
        .iter()
        .filter(|(_, status, unknown)| status == "failed" && *unknown)
        .map(|(id, _, _)| *id)
        .collect();
    let other = records.len() - sent.len() - unknown.len();
    let unknown_in_sink = unknown.iter().filter(|id| counts.contains_key(id)).count();
    eprintln!(
        "at_most_once, log sink, {RECIPIENTS} recipients, {} kills: duplicates per kill {:?} \
         (total {}); outcome unknown per kill {:?}: {} records, {} of them in the sink (sent \
         before the kill), {} not; sent {}, other {other}; last worker's \
         outcome=\"unknown\" metric {} for {} records",
        KILL_AT.len(),
        run.duplicates_per_kill,
        duplicates(&counts),
        run.unknown_per_kill,
        unknown.len(),
        unknown_in_sink,
        unknown.len() - unknown_in_sink,
        sent.len(),
        run.last_worker_unknown_metric,
        run.last_worker_unknown,
    );
    assert_eq!(records.len(), RECIPIENTS);
    assert_eq!(
        duplicates(&counts),
        0,
        "no record is in the sink twice: {:?}",
        counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(
        sent.iter().all(|id| counts.get(id) == Some(&1)),
        "every sent record is in the sink, once"
    );
    assert_eq!(
        other, 0,
        "every record is sent or failed as outcome unknown"
    );
    assert_eq!(sent.len() + unknown.len() + other, RECIPIENTS);
    for (kill, u) in run.unknown_per_kill.iter().enumerate() {
        assert!(
            *u <= BATCH_SIZE,
            "kill {kill}: {u} outcome-unknown records, more than the open batch ({BATCH_SIZE})"
        );
    }
    assert_eq!(
        counts.len(),
        sent.len() + unknown_in_sink,
        "the sink holds only this campaign's records"
    );
    assert_eq!(
        run.last_worker_unknown_metric, run.last_worker_unknown,
        "the metrics count every outcome-unknown record the last worker wrote"
    );
}
