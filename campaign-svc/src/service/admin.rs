//! The admin API: inspecting and replaying the dead-letter queue (`<QUEUE_PREFIX>.send.dlq`).
//!
//! Nothing read here is ever lost. The dead-letter queue is a quorum queue, and a quorum queue
//! may drop a message that was handed out and returned too often (RabbitMQ 4 gives every quorum
//! queue a delivery limit, and this one has nowhere to dead-letter to), so a job read is never
//! returned: a copy is published back to the queue, and the one read is acknowledged only once
//! the broker confirmed the copy. A pass reads the queue's whole depth (up to [`ROTATION_CAP`]),
//! so the copies come back in the order they were: the queue turns once.
//!
//! Replay: a `failed` record goes back to `pending` (its failure taken out of the counters, its
//! execution and campaign running again if they had completed), then its job is published to the
//! send queue and confirmed, and only then is the dead-lettered copy acknowledged. A record the
//! worker already sent is never sent again: its job is dropped from the queue, not republished
//! (the worker would skip it anyway: it claims only `pending` records).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation};
use marketing_core::jobs::{SendJob, Topology};
use uuid::Uuid;

use super::MarketingService;
use crate::auth::Caller;
use crate::error::{Error, Result};

/// Where the dead-letter queue lives.
#[derive(Clone)]
pub struct DeadLetterQueue {
    pub amqp_url: String,
    pub topology: Topology,
}

impl std::fmt::Debug for DeadLetterQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeadLetterQueue({})", self.topology.dead_letter_queue)
    }
}

/// The most jobs one pass turns; past it, the jobs read go to the back of the queue.
pub const ROTATION_CAP: u64 = 10_000;

/// One dead-lettered job and its record's state now.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message_id: String,
    /// `None` when the payload is not a readable send job.
    pub job: Option<SendJob>,
    pub reason: String,
    pub queue: String,
    pub death_count: u64,
    pub dead_lettered_at: Option<DateTime<Utc>>,
    pub record_status: Option<String>,
    pub error_message: Option<String>,
}

/// What replay did with one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayOutcome {
    Replayed,
    AlreadySent,
    Kept,
}

impl ReplayOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayOutcome::Replayed => "replayed",
            ReplayOutcome::AlreadySent => "already_sent",
            ReplayOutcome::Kept => "kept",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Replayed {
    pub record_id: String,
    pub outcome: ReplayOutcome,
    pub message: String,
}

/// Which jobs to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplaySelection {
    /// Empty: any.
    pub record_ids: Vec<Uuid>,
    /// `None`: all that match.
    pub limit: Option<u32>,
}

impl ReplaySelection {
    /// Parses ids (`record_ids[i]`) and a limit (0: none; at most 10,000).
    pub fn parse(record_ids: &[String], limit: u32) -> Result<Self> {
        let record_ids = record_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                Uuid::try_parse(id.trim()).map_err(|_| {
                    Error::invalid(format!("record_ids[{i}]"), format!("`{id}` is not a UUID"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if limit > 10_000 {
            return Err(Error::invalid("limit", "must be between 0 (all) and 10000"));
        }
        Ok(ReplaySelection {
            record_ids,
            limit: (limit > 0).then_some(limit),
        })
    }
}

#[derive(QueryableByName)]
struct RecordState {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    error_message: Option<String>,
}

/// Puts a `failed` record back to `pending` and takes its failure out of the counters; its
/// execution and campaign run again if they had completed, unless the campaign ended or is
/// neither active nor completed (archived, say). Returns `reset`, `not_failed`, `ended` or the
/// campaign's status (then nothing changed).
const RESET_SQL: &str = "
WITH r AS (
    SELECT r.id, r.execution_id, r.campaign_id, COALESCE(r.variant, '') AS variant,
           c.status AS campaign_status,
           (c.end_time IS NOT NULL AND c.end_time <= now()) AS ended
    FROM marketing_record r JOIN marketing_campaign c ON c.id = r.campaign_id
    WHERE r.id = $1 AND r.status = 'failed'
    FOR UPDATE OF r
), ok AS (
    SELECT * FROM r WHERE campaign_status IN ('active', 'completed') AND NOT ended
), rec AS (
    UPDATE marketing_record m SET status = 'pending', error_message = NULL, sent_at = NULL,
           updated_at = now()
    FROM ok WHERE m.id = ok.id
    RETURNING m.id
), stats AS (
    UPDATE campaign_stats s SET send_failed = greatest(s.send_failed - 1, 0)
    FROM ok WHERE s.execution_id = ok.execution_id AND s.variant = ok.variant
    RETURNING 1
), exec AS (
    UPDATE campaign_executions e
    SET failed_count = greatest(e.failed_count - 1, 0),
        status = 'running', finished_at = NULL
    FROM ok WHERE e.id = ok.execution_id
    RETURNING 1
), camp AS (
    UPDATE marketing_campaign c SET status = 'active', actual_end_time = NULL, updated_at = now()
    FROM ok WHERE c.id = ok.campaign_id AND c.status = 'completed'
    RETURNING 1
)
SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM r) THEN 'not_failed'
            WHEN EXISTS (SELECT 1 FROM rec) THEN 'reset'
            WHEN (SELECT ended FROM r) THEN 'ended'
            ELSE (SELECT campaign_status FROM r) END AS status,
       NULL::text AS error_message";

impl MarketingService {
    /// Lists up to `limit` dead-lettered jobs (1..1000; 0: 100), oldest first, and the depth.
    pub async fn list_dead_letters(
        &self,
        caller: &Caller,
        limit: u32,
    ) -> Result<(Vec<DeadLetter>, u64)> {
        caller.require_admin()?;
        if limit > 1000 {
            return Err(Error::invalid(
                "limit",
                "must be between 1 and 1000 (0: 100)",
            ));
        }
        let limit = if limit == 0 { 100 } else { limit } as usize;
        let dlq = self.dead_letter_queue();
        let (conn, ch, depth) = open(dlq).await?;
        let mut listed = Vec::new();
        let turn = async {
            for _ in 0..depth.min(ROTATION_CAP.max(limit as u64)) {
                let Some(got) = get(&ch, &dlq.topology).await? else {
                    break;
                };
                if listed.len() < limit {
                    listed.push(self.describe(&got.delivery).await?);
                }
                put_back(&ch, &dlq.topology, &got.delivery).await?;
            }
            Ok::<_, Error>(())
        }
        .await;
        close(conn, ch).await;
        turn?;
        Ok((listed, depth))
    }

    /// Replays the selected dead-lettered jobs; see the module's comment.
    pub async fn replay_dead_letters(
        &self,
        caller: &Caller,
        selection: ReplaySelection,
    ) -> Result<Vec<Replayed>> {
        caller.require_admin()?;
        let dlq = self.dead_letter_queue();
        let (conn, ch, depth) = open(dlq).await?;
        let mut results = Vec::new();
        let turn = async {
            for _ in 0..depth.min(ROTATION_CAP) {
                let Some(got) = get(&ch, &dlq.topology).await? else {
                    break;
                };
                let d = &got.delivery;
                let job = serde_json::from_slice::<SendJob>(&d.data).ok();
                let wanted = selection.limit.is_none_or(|l| results.len() < l as usize)
                    && match &job {
                        Some(j) => {
                            selection.record_ids.is_empty()
                                || selection.record_ids.contains(&j.record_id)
                        }
                        None => selection.record_ids.is_empty(),
                    };
                if !wanted {
                    put_back(&ch, &dlq.topology, d).await?;
                    continue;
                }
                let Some(job) = job else {
                    put_back(&ch, &dlq.topology, d).await?;
                    results.push(Replayed {
                        record_id: String::new(),
                        outcome: ReplayOutcome::Kept,
                        message: "not a readable send job; left in the queue".into(),
                    });
                    continue;
                };
                let (outcome, message) = self.replay_one(&ch, &dlq.topology, d, &job).await?;
                results.push(Replayed {
                    record_id: job.record_id.to_string(),
                    outcome,
                    message,
                });
            }
            Ok::<_, Error>(())
        }
        .await;
        close(conn, ch).await;
        turn?;
        Ok(results)
    }

    async fn replay_one(
        &self,
        ch: &Channel,
        topology: &Topology,
        d: &lapin::message::Delivery,
        job: &SendJob,
    ) -> Result<(ReplayOutcome, String)> {
        let state = self.record_state(job.record_id).await?;
        let keep = |message: String| (ReplayOutcome::Kept, message);
        let outcome = match state.as_ref().map(|s| s.status.as_str()) {
            None => keep("the record does not exist; left in the queue".into()),
            Some("sent" | "delivered" | "opened" | "clicked") => (
                ReplayOutcome::AlreadySent,
                "the record was already sent; removed without sending it again".into(),
            ),
            Some("sending") => keep(
                "the record is being sent (status sending); left in the queue, replay it once it \
                 is final"
                    .into(),
            ),
            Some("failed") => match self.reset_record(job.record_id).await?.as_str() {
                "reset" => (
                    ReplayOutcome::Replayed,
                    "sent to the send queue again".into(),
                ),
                "not_failed" => keep("the record changed meanwhile; left in the queue".into()),
                "ended" => keep("the campaign has ended; left in the queue".into()),
                status => keep(format!("the campaign is {status}; left in the queue")),
            },
            Some(_) => (
                ReplayOutcome::Replayed,
                "the record is pending: sent to the send queue again".into(),
            ),
        };
        match outcome.0 {
            ReplayOutcome::Replayed => {
                publish(ch, "", &topology.send_queue, d, false).await?;
                ack(ch, d).await?;
            }
            ReplayOutcome::AlreadySent => ack(ch, d).await?,
            ReplayOutcome::Kept => put_back(ch, topology, d).await?,
        }
        Ok(outcome)
    }

    async fn describe(&self, d: &lapin::message::Delivery) -> Result<DeadLetter> {
        let job = serde_json::from_slice::<SendJob>(&d.data).ok();
        let death = Death::of(d.properties.headers().as_ref());
        let state = match &job {
            Some(j) => self.record_state(j.record_id).await?,
            None => None,
        };
        Ok(DeadLetter {
            message_id: d
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default(),
            job,
            reason: death.reason,
            queue: death.queue,
            death_count: death.count,
            dead_lettered_at: death.time,
            record_status: state.as_ref().map(|s| s.status.clone()),
            error_message: state.and_then(|s| s.error_message),
        })
    }

    async fn record_state(&self, id: Uuid) -> Result<Option<RecordState>> {
        let mut conn = self.pool.get().await?;
        let mut rows: Vec<RecordState> =
            diesel::sql_query("SELECT status, error_message FROM marketing_record WHERE id = $1")
                .bind::<SqlUuid, _>(id)
                .load(&mut conn)
                .await?;
        Ok(rows.pop())
    }

    async fn reset_record(&self, id: Uuid) -> Result<String> {
        let mut conn = self.pool.get().await?;
        let rows: Vec<RecordState> = conn
            .transaction::<_, Error, _>(async |c| {
                Ok(diesel::sql_query(RESET_SQL)
                    .bind::<SqlUuid, _>(id)
                    .load(c)
                    .await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .map(|r| r.status)
            .unwrap_or_else(|| "not_failed".into()))
    }

    fn dead_letter_queue(&self) -> &DeadLetterQueue {
        &self.settings.dead_letters
    }
}

/// Closes the channel, then the connection (closing the connection under an open channel makes
/// lapin log an error); what a failed close leaves unacknowledged the broker puts back.
async fn close(conn: lapin::Connection, ch: Channel) {
    let _ = ch.close(200, "done".into()).await;
    let _ = conn.close(200, "done".into()).await;
}

fn broker(e: impl Into<anyhow::Error>, what: &'static str) -> Error {
    Error::Internal(e.into().context(what))
}

/// A connection and a confirming channel, the topology declared, and the queue's depth.
async fn open(dlq: &DeadLetterQueue) -> Result<(lapin::Connection, Channel, u64)> {
    let conn = marketing_core::jobs::connect(&dlq.amqp_url, "campaign-svc admin")
        .await
        .map_err(|e| broker(e, "connecting to RabbitMQ"))?;
    let opened = async {
        let ch = conn.create_channel().await.context("opening a channel")?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .context("enabling confirms")?;
        dlq.topology
            .declare(&ch)
            .await
            .context("declaring queues")?;
        let q = ch
            .queue_declare(
                dlq.topology.dead_letter_queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .context("reading the dead-letter queue's depth")?;
        anyhow::Ok((ch, u64::from(q.message_count())))
    }
    .await;
    match opened {
        Ok((ch, depth)) => Ok((conn, ch, depth)),
        Err(e) => {
            let _ = conn.close(200, "failed".into()).await;
            Err(Error::Internal(e.context("the dead-letter queue")))
        }
    }
}

async fn get(ch: &Channel, t: &Topology) -> Result<Option<lapin::message::BasicGetMessage>> {
    ch.basic_get(
        t.dead_letter_queue.as_str().into(),
        BasicGetOptions { no_ack: false },
    )
    .await
    .map_err(|e| broker(e, "reading the dead-letter queue"))
}

/// Returns a job read to the back of the dead-letter queue: a confirmed copy, then the ack.
async fn put_back(ch: &Channel, t: &Topology, d: &lapin::message::Delivery) -> Result<()> {
    publish(ch, "", &t.dead_letter_queue, d, true).await?;
    ack(ch, d).await
}

async fn ack(ch: &Channel, d: &lapin::message::Delivery) -> Result<()> {
    ch.basic_ack(d.delivery_tag, BasicAckOptions::default())
        .await
        .map_err(|e| broker(e, "acknowledging a dead-lettered job"))
}

/// Publishes `d`'s payload to `queue` and waits for the broker's confirm. A copy keeps every
/// property (its death headers too); a replayed job starts afresh.
async fn publish(
    ch: &Channel,
    exchange: &str,
    queue: &str,
    d: &lapin::message::Delivery,
    copy: bool,
) -> Result<()> {
    let properties = if copy {
        d.properties.clone()
    } else {
        let mut p = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_timestamp(Utc::now().timestamp().max(0) as u64);
        if let Some(id) = d.properties.message_id() {
            p = p.with_message_id(id.clone());
        }
        p
    };
    let confirm = ch
        .basic_publish(
            exchange.into(),
            queue.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            &d.data,
            properties,
        )
        .await
        .map_err(|e| broker(e, "publishing"))?;
    match confirm.await.map_err(|e| broker(e, "awaiting a confirm"))? {
        Confirmation::Ack(None) => Ok(()),
        other => Err(Error::Internal(anyhow::anyhow!(
            "the broker did not take the job for {queue}: {other:?}"
        ))),
    }
}

/// What the first `x-death` entry says.
#[derive(Default)]
struct Death {
    reason: String,
    queue: String,
    count: u64,
    time: Option<DateTime<Utc>>,
}

impl Death {
    fn of(headers: Option<&FieldTable>) -> Self {
        let Some(AMQPValue::FieldArray(deaths)) = headers.and_then(|h| h.inner().get("x-death"))
        else {
            return Death::default();
        };
        let Some(AMQPValue::FieldTable(first)) = deaths.as_slice().first() else {
            return Death::default();
        };
        let text = |k: &str| match first.inner().get(k) {
            Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            Some(AMQPValue::ShortString(s)) => s.to_string(),
            _ => String::new(),
        };
        let count = match first.inner().get("count") {
            Some(AMQPValue::LongLongInt(n)) => u64::try_from(*n).unwrap_or(0),
            Some(AMQPValue::LongInt(n)) => u64::try_from(*n).unwrap_or(0),
            Some(AMQPValue::LongUInt(n)) => u64::from(*n),
            _ => 0,
        };
        let time = match first.inner().get("time") {
            Some(AMQPValue::Timestamp(t)) => i64::try_from(*t)
                .ok()
                .and_then(|s| DateTime::from_timestamp(s, 0)),
            _ => None,
        };
        Death {
            reason: text("reason"),
            queue: text("queue"),
            count,
            time,
        }
    }
}
