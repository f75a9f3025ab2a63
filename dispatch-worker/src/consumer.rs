//! The AMQP side of the worker: consumes send jobs with manual acks and a bounded prefetch,
//! groups them into batches, reconnects after any broker or connection failure, and on shutdown
//! stops consuming, finishes the batch in hand and closes (unacked jobs return to the queue).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::{FutureExt as _, StreamExt as _};
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use marketing_core::jobs::{Topology, connect};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::dispatch::{Dispatcher, JobChannel};

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub amqp_url: String,
    pub topology: Topology,
    pub prefetch: u16,
    pub batch_size: usize,
    pub batch_wait: Duration,
}

/// Consumes until `stop` turns true, reconnecting with backoff after failures.
pub async fn run(
    links: crate::health::BrokerLinks,

    dispatcher: Arc<Dispatcher>,
    settings: ConsumerSettings,
    mut stop: watch::Receiver<bool>,
    name: String,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if *stop.borrow() {
            return;
        }
        match session(&dispatcher, &settings, stop.clone(), &name, &links).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(consumer = %name, error = %format!("{e:#}"), "consumer failed; reconnecting");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One connection's life: returns `Ok` only on a requested shutdown.
async fn session(
    dispatcher: &Arc<Dispatcher>,
    s: &ConsumerSettings,
    mut stop: watch::Receiver<bool>,
    name: &str,
    links: &crate::health::BrokerLinks,
) -> anyhow::Result<()> {
    let conn = connect(&s.amqp_url, name)
        .await
        .context("connecting to RabbitMQ")?;
    let ch = conn.create_channel().await.context("opening a channel")?;
    s.topology.declare(&ch).await.context("declaring queues")?;
    ch.basic_qos(s.prefetch, BasicQosOptions::default())
        .await
        .context("setting prefetch")?;
    let mut consumer = ch
        .basic_consume(
            s.topology.send_queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("starting to consume")?;
    tracing::info!(consumer = %name, queue = %s.topology.send_queue, "consuming send jobs");
    let jobs = JobChannel::new(ch.clone());
    let _connected = links.connected();
    loop {
        let first = tokio::select! {
            d = consumer.next() => d,
            _ = stopped(&mut stop) => {
                // Bounded: a broker that went away must not hold the shutdown up.
                let bye = async {
                    let _ = ch.basic_cancel(consumer.tag(), BasicCancelOptions::default()).await;
                    let _ = conn.close(200, "shutdown".into()).await;
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), bye).await;
                tracing::info!(consumer = %name, "stopped consuming");
                return Ok(());
            }
        };
        let first = first
            .context("the consumer was cancelled")?
            .context("receiving a job")?;
        let mut batch = vec![first];
        fill(&mut consumer, &mut batch, s.batch_size, s.batch_wait).await;
        dispatcher.process(&jobs, batch).await?;
    }
}

/// How often a filling batch takes what has arrived: per tick, not per job, so the worker's
/// threads are not woken for each delivery.
const FILL_TICK: Duration = Duration::from_millis(1);

/// Adds to `batch` what arrives within `wait`, up to `size` jobs. Jobs already received are taken
/// at once; the rest are collected every [`FILL_TICK`] rather than awaited one by one: waiting on
/// each delivery woke a worker thread per job, and those thread switches were a quarter of the
/// worker's CPU (bench, `perf`).
async fn fill(
    consumer: &mut lapin::Consumer,
    batch: &mut Vec<Delivery>,
    size: usize,
    wait: Duration,
) {
    let deadline = Instant::now() + wait;
    loop {
        while batch.len() < size {
            match consumer.next().now_or_never() {
                Some(Some(Ok(d))) => batch.push(d),
                Some(Some(Err(e))) => {
                    tracing::warn!(error = %e, "consumer error while filling a batch");
                    return;
                }
                // Nothing more yet; or the consumer ended, which the next receive reports.
                Some(None) | None => break,
            }
        }
        let now = Instant::now();
        if batch.len() >= size || now >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline.min(now + FILL_TICK)).await;
    }
}

/// Resolves once `stop` is true (without holding the watch guard across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
