//! Parked messages: a message whose outcome at the primary is unknown (it timed out there) may go
//! to no other provider, and while the primary's breaker is open it would hold its whole batch
//! (and, since every message in flight when a primary goes silent is in that state, every batch
//! of every worker) until the primary answers. So it leaves the batch: the batch writes its
//! record `sending` with the provider noted and commits, leaves its job unacked, and a task tries
//! the primary again whenever the breaker lets it, with the message's remaining attempts, then
//! writes the outcome and settles the job.
//!
//! While jobs of a consumer's channel are parked, its batches ack their jobs one by one (a
//! multiple ack would settle the parked ones too). A parked task whose AMQP channel closes (a
//! reconnect, a shutdown) gives up: its job comes back, and the record's `provider` pins the
//! message to the same provider wherever it is claimed next.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lapin::Channel as AmqpChannel;
use lapin::options::{BasicAckOptions, BasicRejectOptions};
use tracing::Instrument as _;

use super::attempts::{Attempt, Tries};
use super::{Dispatcher, Verdict};
use crate::providers::OutboundMessage;
use crate::store::Written;

/// A message waiting, outside its batch, for the provider that may have it.
pub(super) struct Parked {
    pub message: OutboundMessage,
    pub tries: Tries,
    /// What it reserved against its campaign's spend cap, settled with its outcome.
    pub reserved: marketing_core::cost::Amount,
}

/// The AMQP channel a consumer's jobs arrive on, with the count of its jobs parked.
#[derive(Clone)]
pub struct JobChannel {
    pub amqp: AmqpChannel,
    parked: Arc<AtomicUsize>,
}

impl JobChannel {
    pub fn new(amqp: AmqpChannel) -> Self {
        JobChannel {
            amqp,
            parked: Arc::default(),
        }
    }

    /// Whether jobs of this channel are parked (acks must then name one job each).
    pub(super) fn has_parked(&self) -> bool {
        self.parked.load(Ordering::SeqCst) > 0
    }
}

/// How often a parked task looks whether its channel is still open.
const CHANNEL_CHECK: Duration = Duration::from_millis(250);

impl Dispatcher {
    /// Tries the parked message of the job `tag` in the background until its outcome is known,
    /// then writes it and settles the job.
    pub(super) fn park(self: &Arc<Self>, channel: &JobChannel, tag: u64, parked: Parked) {
        channel.parked.fetch_add(1, Ordering::SeqCst);
        let this = self.clone();
        let channel = channel.clone();
        let Parked {
            message,
            tries,
            reserved,
        } = parked;
        let span = tracing::info_span!("parked", record_id = %message.record_id, channel = %message.channel);
        tracing::info!(parent: &span, "the provider may have this message and fails: it waits for the provider, outside its batch");
        tokio::spawn(
            async move {
                tokio::select! {
                    _ = this.settle_parked(&channel.amqp, tag, &message, tries, reserved) => {}
                    _ = closed(&channel.amqp) => {
                        tracing::info!("the job's channel closed: it comes back, pinned to the provider");
                    }
                }
                channel.parked.fetch_sub(1, Ordering::SeqCst);
            }
            .instrument(span),
        );
    }

    async fn settle_parked(
        &self,
        amqp: &AmqpChannel,
        tag: u64,
        message: &OutboundMessage,
        mut tries: Tries,
        reserved: marketing_core::cost::Amount,
    ) {
        let (outcome, verdict) = loop {
            match self.attempt(message, tries, false).await {
                Attempt::Done(outcome, verdict) => break (outcome, verdict),
                Attempt::Parked { tries: t, .. } => tries = t,
            }
        };
        let settled = match self
            .write_outcomes(&[Written {
                id: message.record_id,
                outcome: outcome.clone(),
                reserved,
            }])
            .await
        {
            Ok(()) => {
                super::count(message.channel.as_str(), &outcome, &verdict);
                match verdict {
                    Verdict::DeadLetter => {
                        amqp.basic_reject(tag, BasicRejectOptions { requeue: false })
                            .await
                    }
                    _ => {
                        amqp.basic_ack(tag, BasicAckOptions { multiple: false })
                            .await
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "writing a parked message's outcome failed; its job comes back");
                amqp.basic_reject(tag, BasicRejectOptions { requeue: true })
                    .await
            }
        };
        if let Err(e) = settled {
            tracing::warn!(error = %e, "settling a parked job failed; it comes back");
        }
    }
}

/// Resolves once `amqp` is no longer open.
async fn closed(amqp: &AmqpChannel) {
    while amqp.status().connected() {
        tokio::time::sleep(CHANNEL_CHECK).await;
    }
}
