//! Broker floor: what a campaign's message flow costs RabbitMQ alone, with nothing else running
//! (no PostgreSQL, no rendering, neither service).
//!
//! One publisher sends N persistent messages of a send job's size to a durable quorum queue the
//! way the relay does (one confirm-mode channel, the same window of confirms in flight, the same
//! batches of publishes handed to lapin) while W consumers, each on its own connection like a
//! dispatch-worker, take them with the workers' prefetch and settle each batch with one
//! multiple-ack. Both run at once, as in a campaign, and are compared with the raw
//! confirmed-publish rate measured in the same run (before and after, mean).
//!
//! A real campaign does all of this plus PostgreSQL's work and both services' on the same
//! cores, so these ratios bound what the fan-out benchmark can reach on this machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use futures::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;

use crate::{cpu, fanout};

#[derive(Debug, Args)]
pub struct FloorArgs {
    /// Messages published and consumed.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Consumers, each on its own connection (the benchmark's dispatch-workers).
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// Unacknowledged messages a consumer may hold (dispatch-worker's `PREFETCH` default).
    #[arg(long, default_value_t = 300)]
    prefetch: u16,
    /// Messages settled per multiple-ack (dispatch-worker's `BATCH_SIZE` default); a consumer
    /// idle for 10 ms settles what it holds.
    #[arg(long, default_value_t = 150)]
    batch: usize,
    /// Confirms in flight, for the baseline and the publisher alike.
    #[arg(long, default_value_t = 2000)]
    window: usize,
    /// Publishes handed to lapin at once, for the baseline and the publisher alike.
    #[arg(long, default_value_t = marketing_core::jobs::PUBLISH_BATCH)]
    publish_batch: usize,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
}

/// How long a consumer waits for the next message before settling what it holds.
const IDLE: Duration = Duration::from_millis(10);

pub async fn run(args: FloorArgs) -> anyhow::Result<()> {
    let payload = fanout::job_payload()?;
    let n = args.messages.max(1);
    println!(
        "message size: {} bytes; messages: {n}; consumers: {}, prefetch {}, one ack per {}",
        payload.len(),
        args.consumers,
        args.prefetch,
        args.batch
    );
    let baseline = |count| {
        fanout::raw_publish_rate(
            &args.amqp_url,
            args.window,
            args.publish_batch,
            count,
            &payload,
        )
    };
    let before = baseline(n).await?;
    println!("baseline (before): {}", before.describe());

    let conn = lapin::Connection::connect(&args.amqp_url, Default::default()).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let queue = format!("bench_floor_{}", uuid::Uuid::new_v4().simple());
    fanout::declare_quorum(&ch, &queue).await?;
    let settled = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu::broker_and_self();
    let start = Instant::now();
    let consumers: Vec<_> = (0..args.consumers.max(1))
        .map(|i| {
            tokio::spawn(consume(
                args.amqp_url.clone(),
                queue.clone(),
                format!("bench-floor-{i}"),
                args.prefetch,
                args.batch.max(1),
                n,
                settled.clone(),
            ))
        })
        .collect();
    fanout::publish_confirmed(&ch, &queue, n, &payload, args.window, args.publish_batch).await?;
    let published = start.elapsed();
    let mut finished = published;
    for c in consumers {
        let last_ack = c.await.context("a consumer panicked")??;
        finished = finished.max(last_ack.duration_since(start));
    }
    let cpu = cpu::broker_and_self_per_message(cpu_before, n);
    ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    conn.close(200, "done".into()).await?;

    let after = baseline(n).await?;
    println!("baseline (after): {}", after.describe());
    let raw = (before.rate + after.rate) / 2.0;
    println!("baseline used: mean {raw:.0} msg/s");
    let pub_rate = n as f64 / published.as_secs_f64();
    let end_rate = n as f64 / finished.as_secs_f64();
    println!(
        "published (every message confirmed, consumers running): {:.1}s = {pub_rate:.0}/s = {:.2}× raw",
        published.as_secs_f64(),
        pub_rate / raw
    );
    println!(
        "settled (every message consumed and acked): {:.1}s = {end_rate:.0}/s = {:.2}× raw",
        finished.as_secs_f64(),
        end_rate / raw
    );
    if let Some((broker, client)) = cpu {
        println!(
            "CPU per message: broker {broker:.1} µs, publisher and consumers {client:.1} µs (baseline: broker {})",
            [&before, &after]
                .iter()
                .filter_map(|b| b.cpu.map(|(broker, _)| format!("{broker:.1} µs")))
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    Ok(())
}

/// Consumes from `queue` until `total` messages are settled across all consumers; returns when
/// this consumer last acked.
async fn consume(
    url: String,
    queue: String,
    name: String,
    prefetch: u16,
    batch: usize,
    total: u64,
    settled: Arc<AtomicU64>,
) -> anyhow::Result<Instant> {
    let conn = lapin::Connection::connect(&url, Default::default()).await?;
    let ch = conn.create_channel().await?;
    ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let mut consumer = ch
        .basic_consume(
            queue.as_str().into(),
            name.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut held = 0u64;
    let mut last_tag = 0;
    let mut last_ack = Instant::now();
    loop {
        let next = tokio::time::timeout(IDLE, consumer.next()).await;
        let settle = match next {
            Ok(Some(delivery)) => {
                last_tag = delivery?.delivery_tag;
                held += 1;
                held >= batch as u64
            }
            Ok(None) => anyhow::bail!("consumer {name} was cancelled"),
            Err(_) => held > 0,
        };
        if settle {
            ch.basic_ack(last_tag, BasicAckOptions { multiple: true })
                .await?;
            last_ack = Instant::now();
            settled.fetch_add(held, Ordering::Relaxed);
            held = 0;
        }
        if held == 0 && settled.load(Ordering::Relaxed) >= total {
            break;
        }
    }
    conn.close(200, "done".into()).await?;
    Ok(last_ack)
}
