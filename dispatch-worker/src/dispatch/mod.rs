//! One batch of jobs: claim the records, decide and deliver each, write the outcomes, then ack.
//! The order (claim → send → flush → write → ack) means a crash can only ever leave messages
//! whose outcome is unknown (sent, not yet written), never a job acked without its outcome. What
//! happens to those when their jobs come back is the channel's delivery mode ([`claim`]):
//! at_least_once re-claims and re-sends them with the same idempotency key (exactly once at a
//! vendor that honours it); at_most_once fails them as "outcome unknown" and sends nothing
//! twice. A crash after the write brings back jobs whose records are final: acked without
//! sending.
//!
//! The claimed records are held by the batch's transaction while they are sent, which commits
//! with their outcomes, so a duplicate job waits for the batch and then finds its record final.
//! See [`store::claim`], [`store::hold`].

mod attempts;
mod claim;
mod deliver;
mod parked;
mod spend;

pub use claim::OUTCOME_UNKNOWN;
pub use parked::JobChannel;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager as _};
use futures::StreamExt as _;
use lapin::Channel as AmqpChannel;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicRejectOptions};
use marketing_core::db::PgPool;
use marketing_core::jobs::SendJob;
use marketing_core::render::Content;
use marketing_core::tracking::{FrequencyCap, Signer};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::config::DeliveryModes;
use crate::control::Control;
use crate::store::{self, Outcome, Written};
use marketing_core::cost::Amount;
use marketing_core::vocabulary::Channel;

/// Retry policy for transient provider errors.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub max_attempts: u32,
    pub base: Duration,
}

/// What happens to a job once its batch is written.
enum Verdict {
    Ack,
    /// Dead-letter it: it kept failing.
    DeadLetter,
    /// Leave it unacked: its message waits, outside the batch, for the provider that may have
    /// it ([`parked`]); the job is settled when that provider tells.
    Park(Box<parked::Parked>),
}

/// One record's result in a batch.
struct Delivered {
    id: Uuid,
    outcome: Outcome,
    verdict: Verdict,
    /// The channel, for metrics.
    channel: &'static str,
    /// What it reserved against its campaign's spend cap (settled when its outcome is written).
    reserved: Amount,
}

impl Delivered {
    /// A record failed without calling any provider.
    fn not_sent(id: Uuid, channel: Channel, reason: String) -> Self {
        Delivered {
            id,
            outcome: Outcome::Failed {
                reason,
                provider: None,
            },
            verdict: Verdict::Ack,
            channel: channel.as_str(),
            reserved: Amount::ZERO,
        }
    }

    fn written(&self) -> Written {
        Written {
            id: self.id,
            outcome: self.outcome.clone(),
            reserved: self.reserved,
        }
    }
}

type PooledConnection = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// A batch's connection while its transaction is open. Dropped before the transaction ended (an
/// error, a batch given up), the connection is closed instead of going back to the pool, so
/// PostgreSQL rolls the transaction back and releases the batch's records at once (a pooled
/// connection left in a transaction would hold them until its next checkout).
struct Held(Option<PooledConnection>);

impl Held {
    fn conn(&mut self) -> anyhow::Result<&mut AsyncPgConnection> {
        self.0
            .as_deref_mut()
            .context("the batch's connection was released")
    }

    /// The transaction ended: the connection may go back to the pool.
    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(PooledConnection::take(conn));
        }
    }
}

/// A batch whose messages went out: its transaction (holding its records) is open until
/// [`Dispatcher::settle`] writes their outcomes. Dropped unsettled, the transaction is rolled back
/// with its connection and the jobs come back.
struct Sent {
    started: std::time::Instant,
    conn: Held,
    jobs: Vec<(u64, SendJob, bool)>,
    results: Vec<Delivered>,
    /// Campaigns whose spend cap stopped messages of this batch.
    capped_out: Vec<Uuid>,
}

type CompiledContents = Result<HashMap<Option<String>, Arc<Content>>, String>;

/// How long the outcomes of a batch already sent are retried before the batch is given up (its
/// jobs then come back and are sent again).
const WRITE_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(60);

pub struct Dispatcher {
    pool: PgPool,
    /// Each channel's providers behind their rate limits, pauses and breakers.
    control: Control,
    retry: Retry,
    concurrency: usize,
    /// Checked again at send time: the trigger enforced it, but other messages may have gone
    /// out since (or the cap was set after the trigger).
    frequency_cap: Option<FrequencyCap>,
    /// Compiled contents by execution, then by variant (or the error that stops them).
    contents: Mutex<HashMap<Uuid, Arc<CompiledContents>>>,
    /// Signs the tracking and unsubscribe links of each message.
    signer: Signer,
    /// Whether a channel's messages a dead worker may have sent are sent again or failed.
    modes: DeliveryModes,
}

impl Dispatcher {
    pub fn new(
        pool: PgPool,
        control: Control,
        retry: Retry,
        concurrency: usize,
        frequency_cap: Option<FrequencyCap>,
        signer: Signer,
        modes: DeliveryModes,
    ) -> Self {
        Dispatcher {
            pool,
            control,
            retry,
            concurrency: concurrency.max(1),
            frequency_cap,
            contents: Mutex::new(HashMap::new()),
            signer,
            modes,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Processes one batch of deliveries from `jobs` and settles every one of them (parked ones
    /// later). An error leaves the batch unsettled: the broker redelivers it once the channel
    /// closes.
    pub async fn process(
        self: &Arc<Self>,
        jobs: &JobChannel,
        batch: Vec<Delivery>,
    ) -> anyhow::Result<()> {
        let sent = self.send(&jobs.amqp, batch).await?;
        self.settle(jobs, sent).await
    }

    /// Claims and sends one batch of deliveries from `amqp`.
    async fn send(&self, amqp: &AmqpChannel, batch: Vec<Delivery>) -> anyhow::Result<Sent> {
        let started = std::time::Instant::now();
        let now = chrono::Utc::now().timestamp();
        if let Some(oldest) = batch
            .iter()
            .filter_map(|d| d.properties.timestamp().map(|t| t as i64))
            .min()
        {
            metrics::gauge!("worker_queue_lag_seconds").set((now - oldest).max(0) as f64);
        }
        let mut traces: HashMap<Uuid, String> = HashMap::new();
        let mut jobs: Vec<(u64, SendJob, bool)> = Vec::with_capacity(batch.len());
        for d in &batch {
            match serde_json::from_slice::<SendJob>(&d.data) {
                Ok(job) => {
                    if let Some(tp) =
                        marketing_core::telemetry::amqp_traceparent(d.properties.headers().as_ref())
                    {
                        traces.insert(job.record_id, tp);
                    }
                    jobs.push((d.delivery_tag, job, d.redelivered))
                }
                Err(e) => {
                    tracing::error!(error = %e, "unreadable send job; dead-lettering it");
                    metrics::counter!("worker_deliveries_total", "channel" => "unknown", "outcome" => "dead_lettered").increment(1);
                    amqp.basic_reject(d.delivery_tag, BasicRejectOptions { requeue: false })
                        .await?;
                }
            }
        }
        let claim::Claim {
            held,
            to_send,
            unknown,
        } = self.claim(&jobs).await?;
        let mut results: Vec<Delivered> = Vec::new();
        let mut ready = Vec::with_capacity(to_send.len());
        for c in to_send {
            match self.prepare(c) {
                Ok(r) => ready.push(r),
                Err(not_sent) => results.push(not_sent),
            }
        }
        let spend::Reserved {
            ready,
            refused,
            capped_out,
        } = self.reserve_spend(ready).await?;
        results.extend(refused);
        let delivered: Vec<Delivered> = futures::stream::iter(ready)
            .map(|(r, reserved)| {
                let id = r.message.record_id;
                let span =
                    tracing::info_span!("deliver", record_id = %id, channel = %r.message.channel);
                if let Some(tp) = traces.get(&id) {
                    marketing_core::telemetry::set_parent_traceparent(&span, tp);
                }
                self.deliver(r, reserved).instrument(span)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        results.extend(delivered);
        results.extend(unknown.iter().map(claim::outcome_unknown));
        self.control.flush().await?;
        Ok(Sent {
            started,
            conn: held,
            jobs,
            results,
            capped_out,
        })
    }

    /// Writes the outcomes of a batch [`Dispatcher::send`] sent, commits its transaction, then
    /// acks its jobs (rejecting into the dead-letter queue those that kept failing, and leaving
    /// parked ones to their background tries).
    async fn settle(self: &Arc<Self>, channel: &JobChannel, sent: Sent) -> anyhow::Result<()> {
        let Sent {
            started,
            mut conn,
            jobs,
            results,
            capped_out,
        } = sent;
        let outcomes: Vec<Written> = results.iter().map(Delivered::written).collect();
        let committed = async {
            let conn = conn.conn()?;
            store::write(conn, &outcomes).await?;
            AnsiTransactionManager::commit_transaction(conn).await?;
            anyhow::Ok(())
        }
        .await;
        match committed {
            Ok(()) => conn.release(),
            Err(e) => {
                // The messages went out: their outcomes must still be written before the jobs
                // are acked, on a new connection (the locks go with this one).
                tracing::warn!(error = %format!("{e:#}"), records = outcomes.len(), "writing outcomes failed; retrying");
                drop(conn);
                self.write_outcomes(&outcomes).await?;
            }
        }
        let mut verdicts: HashMap<Uuid, Verdict> = HashMap::with_capacity(results.len());
        for d in results {
            if !matches!(d.verdict, Verdict::Park(_)) {
                count(d.channel, &d.outcome, &d.verdict);
            }
            verdicts.insert(d.id, d.verdict);
        }
        metrics::histogram!("worker_batch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        // Batches are settled in order on this channel, so one multiple-ack settles every job up
        // to the highest acknowledged tag (rejected ones are settled already; acking a settled
        // tag itself would close the channel) — unless jobs of this channel are parked, which a
        // multiple-ack would settle too: then each job is acked alone.
        let mut parking = Vec::new();
        for (tag, job, _) in &jobs {
            // A record two jobs carry (a page published twice) is parked with the first.
            if let Some(Verdict::Park(_)) = verdicts.get(&job.record_id)
                && let Some(Verdict::Park(p)) = verdicts.insert(job.record_id, Verdict::Ack)
            {
                parking.push((*tag, p));
            }
        }
        let parked_tags: HashSet<u64> = parking.iter().map(|(tag, _)| *tag).collect();
        for (tag, parked) in parking {
            self.park(channel, tag, *parked);
        }
        let one_by_one = channel.has_parked();
        let amqp = &channel.amqp;
        let mut last_ack = None;
        for (tag, job, _) in &jobs {
            if parked_tags.contains(tag) {
                continue;
            }
            match verdicts.get(&job.record_id) {
                Some(Verdict::DeadLetter) => {
                    amqp.basic_reject(*tag, BasicRejectOptions { requeue: false })
                        .await?;
                }
                _ if one_by_one => {
                    amqp.basic_ack(*tag, BasicAckOptions { multiple: false })
                        .await?;
                }
                _ => last_ack = last_ack.max(Some(*tag)),
            }
        }
        if let Some(tag) = last_ack {
            amqp.basic_ack(tag, BasicAckOptions { multiple: true })
                .await?;
        }
        self.fail_capped_out(&capped_out).await;
        Ok(())
    }

    /// Writes the outcomes of messages already handed to providers. A failure here would bring
    /// the jobs back and send them again, so transient database errors (a dropped connection,
    /// a restart, a deadlock victim) are retried for up to [`WRITE_RETRY_FOR`], each attempt on
    /// its own connection (the batch's transaction and its locks are gone). Retrying is safe: the
    /// write only moves records not yet final, and counts only what it moved.
    async fn write_outcomes(&self, outcomes: &[Written]) -> anyhow::Result<()> {
        let give_up = std::time::Instant::now() + WRITE_RETRY_FOR;
        let mut backoff = std::time::Duration::from_millis(50);
        loop {
            let attempt = async {
                let mut conn = self.pool.get().await.context("database pool")?;
                store::write(&mut conn, outcomes)
                    .await
                    .context("writing outcomes")
            };
            match attempt.await {
                Ok(_) => return Ok(()),
                Err(e) if std::time::Instant::now() + backoff < give_up => {
                    tracing::warn!(error = %format!("{e:#}"), records = outcomes.len(), "writing outcomes failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Counts a settled record in `worker_deliveries_total`.
fn count(channel: &'static str, outcome: &Outcome, verdict: &Verdict) {
    let outcome = match (outcome, verdict) {
        (_, Verdict::DeadLetter) => "dead_lettered",
        (Outcome::Sent { .. }, _) => "sent",
        (Outcome::Failed { reason, .. }, _) if reason.starts_with("not sent") => "skipped",
        (Outcome::Failed { reason, .. }, _) if reason.starts_with(OUTCOME_UNKNOWN) => "unknown",
        (Outcome::Failed { .. }, _) => "failed",
        (Outcome::Unsettled { .. }, _) => return,
    };
    metrics::counter!("worker_deliveries_total", "channel" => channel, "outcome" => outcome)
        .increment(1);
}
