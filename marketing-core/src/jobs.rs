//! The send job that travels from campaign-svc to dispatch-worker, and the RabbitMQ topology
//! both sides declare (idempotently, with the same arguments).
//!
//! Topology for a prefix `p` (default `marketing`):
//! - `p.send`: durable quorum queue of send jobs (published through the default exchange);
//!   dead-letters to `p.dlx` after `x-delivery-limit` redeliveries or on reject;
//! - `p.dlx` → `p.send.dlq`: fanout exchange and quorum queue holding jobs that kept failing.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One recipient of one campaign execution. The record id is also the AMQP `message_id` and the
/// provider's idempotency key; everything else the worker reads from the database at claim time,
/// so a job stays small and never carries stale content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendJob {
    pub record_id: Uuid,
    pub campaign_id: Uuid,
    pub execution_id: Uuid,
    pub customer_id: Uuid,
    pub channel: crate::vocabulary::Channel,
}

/// Publishes handed to lapin's I/O thread at once (by the relay and the benchmark's baseline):
/// a publish completes once that thread wrote it, so awaiting them one at a time costs two
/// thread hand-offs per message.
pub const PUBLISH_BATCH: usize = 128;

/// Names of the queues and exchanges under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub send_queue: String,
    pub dead_letter_exchange: String,
    pub dead_letter_queue: String,
    /// Deliveries of one job before the broker dead-letters it (a worker crashing on it, say).
    pub delivery_limit: i64,
}

impl Topology {
    pub fn new(prefix: &str) -> Self {
        Topology {
            send_queue: format!("{prefix}.send"),
            dead_letter_exchange: format!("{prefix}.dlx"),
            dead_letter_queue: format!("{prefix}.send.dlq"),
            delivery_limit: 10,
        }
    }

    /// Declares everything; safe to call from every process at every (re)connect.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                self.dead_letter_exchange.as_str().into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let mut dlq_args = FieldTable::default();
        dlq_args.insert(
            ShortString::from("x-queue-type"),
            AMQPValue::LongString("quorum".into()),
        );
        channel
            .queue_declare(self.dead_letter_queue.as_str().into(), durable, dlq_args)
            .await?;
        channel
            .queue_bind(
                self.dead_letter_queue.as_str().into(),
                self.dead_letter_exchange.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut args = FieldTable::default();
        args.insert(
            ShortString::from("x-queue-type"),
            AMQPValue::LongString("quorum".into()),
        );
        args.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(self.dead_letter_exchange.as_str().into()),
        );
        args.insert(
            ShortString::from("x-delivery-limit"),
            AMQPValue::LongLongInt(self.delivery_limit),
        );
        channel
            .queue_declare(self.send_queue.as_str().into(), durable, args)
            .await?;
        Ok(())
    }
}

/// Connects to RabbitMQ with a connection name that shows up in the management UI.
pub async fn connect(url: &str, name: &str) -> lapin::Result<lapin::Connection> {
    let props = lapin::ConnectionProperties::default().with_connection_name(name.into());
    lapin::Connection::connect(url, props).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_round_trips_as_json() {
        let job = SendJob {
            record_id: Uuid::now_v7(),
            campaign_id: Uuid::now_v7(),
            execution_id: Uuid::now_v7(),
            customer_id: Uuid::now_v7(),
            channel: crate::vocabulary::Channel::Sms,
        };
        let bytes = serde_json::to_vec(&job).unwrap();
        assert_eq!(serde_json::from_slice::<SendJob>(&bytes).unwrap(), job);
        assert!(
            bytes.len() < 300,
            "a job stays small: {} bytes",
            bytes.len()
        );
    }

    #[test]
    fn names_follow_the_prefix() {
        let t = Topology::new("t1");
        assert_eq!(t.send_queue, "t1.send");
        assert_eq!(t.dead_letter_queue, "t1.send.dlq");
    }
}
