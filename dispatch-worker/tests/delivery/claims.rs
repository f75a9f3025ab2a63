//! How workers claim records, on the real database: a first delivery holds its record with a lock
//! in the batch's transaction; a duplicate job waits for that batch and then finds the record
//! final, or claims it when the worker holding it died; a redelivered job claims durably; an
//! at_most_once job reserves durably and holds, telling a live holder from a dead one.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Integer, Nullable, Text};
use diesel_async::{
    AnsiTransactionManager, AsyncPgConnection, RunQueryDsl as _, TransactionManager as _,
};
use dispatch_worker::store::{self, Outcome, Written};
use marketing_core::cost::Amount;
use testkit::{TestApp, spawn_app};
use uuid::Uuid;

use crate::common::{customers, send_campaign};

/// A campaign's record ids (no worker runs: they stay `pending`).
async fn pending_records(app: &TestApp, n: usize) -> (String, Vec<Uuid>) {
    customers(app, n).await;
    let campaign = send_campaign(app, "sms", "hello").await;
    let (_, records) = app
        .get(&format!("/api/marketing/records?campaign_id={campaign}"))
        .await;
    let mut ids: Vec<Uuid> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), n);
    (campaign, ids)
}

/// Starts claiming `ids` as first deliveries on `conn`, in the background (no transaction: the
/// statement's own locks end with it); resolves to how many records it claimed.
fn claim_in_background(
    mut conn: AsyncPgConnection,
    ids: Vec<Uuid>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        store::claim(&mut conn, &ids, false, None)
            .await
            .expect("claim runs")
            .len()
    })
}

/// A record as stored.
#[derive(Debug, QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Bool)]
    claimed: bool,
    #[diesel(sql_type = Nullable<Text>)]
    provider_message_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    error_message: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    provider: Option<String>,
}

async fn record(app: &TestApp, id: Uuid) -> Stored {
    let mut conn = app.db().await;
    diesel::sql_query(
        "SELECT status, attempts, claimed_at IS NOT NULL AS claimed, provider_message_id, \
         error_message, provider FROM marketing_record WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .get_result(&mut conn)
    .await
    .expect("the record exists")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_job_waits_for_the_batch_holding_its_record_and_finds_it_sent() {
    let app = spawn_app().await;
    let (_, ids) = pending_records(&app, 2).await;
    let mut worker = app.db().await;
    AnsiTransactionManager::begin_transaction(&mut worker)
        .await
        .unwrap();
    let held = store::claim(&mut worker, &ids, false, None).await.unwrap();
    assert_eq!(held.len(), 2, "the batch holds both records");
    assert_eq!(held[0].name.as_deref(), Some("客户0"), "with the customer");

    let duplicate = claim_in_background(app.db().await, vec![ids[0]]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !duplicate.is_finished(),
        "the duplicate waits while the batch is in flight"
    );

    let sent_at = chrono::Utc::now();
    let outcomes = [
        (
            ids[0],
            Outcome::Sent {
                at: sent_at,
                provider_message_id: Some("v-1".into()),
                provider: "http".into(),
                cost: Amount::ZERO,
            },
        ),
        (
            ids[1],
            Outcome::Failed {
                reason: "refused".into(),
                provider: Some("http".into()),
            },
        ),
    ];
    assert_eq!(
        store::write(&mut worker, &outcomes.clone().map(Written::from))
            .await
            .unwrap(),
        2
    );
    AnsiTransactionManager::commit_transaction(&mut worker)
        .await
        .unwrap();
    assert_eq!(
        duplicate.await.unwrap(),
        0,
        "the duplicate finds the record final and claims nothing"
    );

    let sent = record(&app, ids[0]).await;
    assert_eq!(sent.status, "sent");
    assert_eq!(sent.provider_message_id.as_deref(), Some("v-1"));
    assert_eq!(sent.attempts, 1, "{sent:?}");
    assert!(sent.claimed, "{sent:?}");
    assert_eq!(
        sent.provider.as_deref(),
        Some("http"),
        "the provider that sent it"
    );
    let failed = record(&app, ids[1]).await;
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.error_message.as_deref(), Some("refused"));
    assert_eq!(
        failed.provider.as_deref(),
        Some("http"),
        "the provider that refused it"
    );
    // Written again (a retry after a lost connection): nothing moves, nothing counts twice.
    assert_eq!(
        store::write(&mut worker, &outcomes.clone().map(Written::from))
            .await
            .unwrap(),
        0
    );
    assert_eq!(record(&app, ids[0]).await.attempts, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_held_by_a_worker_that_died_is_claimed_by_the_duplicate() {
    let app = spawn_app().await;
    let (_, ids) = pending_records(&app, 1).await;
    let mut worker = app.db().await;
    AnsiTransactionManager::begin_transaction(&mut worker)
        .await
        .unwrap();
    assert_eq!(
        store::claim(&mut worker, &ids, false, None)
            .await
            .unwrap()
            .len(),
        1
    );
    let duplicate = claim_in_background(app.db().await, ids.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!duplicate.is_finished(), "the duplicate waits");
    // The worker's process dies: its connection closes and its transaction is rolled back.
    drop(worker);
    let claimed = tokio::time::timeout(Duration::from_secs(10), duplicate)
        .await
        .expect("the lock goes with the dead worker's connection")
        .unwrap();
    assert_eq!(claimed, 1, "the record is claimed again and will be sent");
    assert_eq!(record(&app, ids[0]).await.status, "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redelivered_job_claims_its_record_durably_before_sending() {
    let app = spawn_app().await;
    let (campaign, ids) = pending_records(&app, 2).await;
    let mut worker = app.db().await;
    let claimed = store::claim(&mut worker, &ids[..1], true, None)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // Committed at once: a worker crashing on this job leaves a trace (`sending`, one attempt)
    // for the stale-record sweep once the broker dead-letters the job.
    let r = record(&app, ids[0]).await;
    assert_eq!((r.status.as_str(), r.attempts), ("sending", 1), "{r:?}");
    assert_eq!(app.records_with_status(&campaign, "pending").await, 1);
    // Redelivered again (that worker died too): claimed again, attempts counted.
    assert_eq!(
        store::claim(&mut worker, &ids[..1], true, None)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(record(&app, ids[0]).await.attempts, 2);
    // A first-delivery duplicate of a record already `sending` claims nothing.
    assert_eq!(
        store::claim(&mut worker, &ids[..1], false, None)
            .await
            .unwrap()
            .len(),
        0
    );
    let outcome = [(
        ids[0],
        Outcome::Sent {
            at: chrono::Utc::now(),
            provider_message_id: None,
            provider: "log".into(),
            cost: Amount::ZERO,
        },
    )];
    assert_eq!(
        store::write(&mut worker, &outcome.clone().map(Written::from))
            .await
            .unwrap(),
        1
    );
    let r = record(&app, ids[0]).await;
    assert_eq!(r.status, "sent");
    assert_eq!(
        r.attempts, 2,
        "the final write does not count a claim twice"
    );
}

/// Starts holding `ids` (at_most_once) on `conn`, in the background; resolves to the ids still
/// `sending` once locked.
fn hold_in_background(
    mut conn: AsyncPgConnection,
    ids: Vec<Uuid>,
) -> tokio::task::JoinHandle<Vec<Uuid>> {
    tokio::spawn(async move {
        store::hold(&mut conn, &ids, None)
            .await
            .expect("hold runs")
            .into_iter()
            .map(|c| c.id)
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_once_reserves_once_and_tells_a_live_holder_from_a_dead_one() {
    let app = spawn_app().await;
    let (campaign, ids) = pending_records(&app, 3).await;
    let mut worker = app.db().await;
    // Reserved durably, outside any transaction, and only once.
    assert_eq!(
        store::reserve(&mut worker, &ids[..2]).await.unwrap(),
        ids[..2]
    );
    let r = record(&app, ids[0]).await;
    assert_eq!((r.status.as_str(), r.attempts), ("sending", 1), "{r:?}");
    assert!(store::reserve(&mut worker, &ids).await.unwrap() == ids[2..]);
    assert!(store::reserve(&mut worker, &ids).await.unwrap().is_empty());

    // A live batch holds what it reserved: a duplicate job waits, then finds the record final.
    AnsiTransactionManager::begin_transaction(&mut worker)
        .await
        .unwrap();
    let held = store::hold(&mut worker, &ids[..2], None).await.unwrap();
    assert_eq!(held.len(), 2);
    let duplicate = hold_in_background(app.db().await, vec![ids[0]]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !duplicate.is_finished(),
        "the duplicate waits for the batch"
    );
    let outcome = [(
        ids[0],
        Outcome::Sent {
            at: chrono::Utc::now(),
            provider_message_id: None,
            provider: "log".into(),
            cost: Amount::ZERO,
        },
    )];
    assert_eq!(
        store::write(&mut worker, &outcome.clone().map(Written::from))
            .await
            .unwrap(),
        1
    );
    // ids[1] is held while "sent" when its worker dies: the lock goes with the connection and
    // a job coming back finds the record still `sending`, with no one holding it.
    let comeback = hold_in_background(app.db().await, vec![ids[1]]);
    AnsiTransactionManager::commit_transaction(&mut worker)
        .await
        .unwrap();
    assert!(duplicate.await.unwrap().is_empty(), "final: nothing to do");
    assert_eq!(comeback.await.unwrap(), vec![ids[1]]);
    let mut dying = app.db().await;
    AnsiTransactionManager::begin_transaction(&mut dying)
        .await
        .unwrap();
    assert_eq!(
        store::hold(&mut dying, &ids[1..2], None)
            .await
            .unwrap()
            .len(),
        1
    );
    let comeback = hold_in_background(app.db().await, vec![ids[1]]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!comeback.is_finished(), "waits while the holder lives");
    drop(dying);
    let orphaned = tokio::time::timeout(Duration::from_secs(10), comeback)
        .await
        .expect("the lock goes with the dead worker's connection")
        .unwrap();
    assert_eq!(orphaned, vec![ids[1]], "left `sending` by a dead worker");

    // A reservation none of whose messages went out is given back.
    assert_eq!(
        store::release(&mut worker, &ids[2..]).await.unwrap(),
        ids[2..]
    );
    let r = record(&app, ids[2]).await;
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 0), "{r:?}");
    assert_eq!(app.records_with_status(&campaign, "sending").await, 1);
}
