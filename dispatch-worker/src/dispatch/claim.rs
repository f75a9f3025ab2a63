//! A batch's claim on its records, by the delivery mode of each job's channel.
//!
//! at_least_once (the default): first deliveries are locked in the batch's transaction (`pending`
//! only), redelivered jobs are claimed durably (`pending`/`sending` → `sending`) and sent again
//! with the same idempotency key.
//!
//! at_most_once: every job reserves its record durably (`pending` → `sending`, committed before
//! anything is sent) and the batch then locks what it reserved, so that a record is sent by the
//! one batch that reserved it and by no other. A job whose record is `sending` and not held by a
//! live batch was left by a worker that died between reserving and writing the outcome: its
//! message may or may not have gone out, so it is not sent again and the record is failed with
//! [`OUTCOME_UNKNOWN`].

use std::collections::HashSet;

use anyhow::Context as _;
use diesel_async::{AnsiTransactionManager, TransactionManager as _};
use marketing_core::jobs::SendJob;
use uuid::Uuid;

use super::{Delivered, Dispatcher, Held};
use crate::config::{DeliveryMode, DeliveryModes};
use crate::store::{self, Claimed};

/// How the error message of a record failed because a worker died while sending it starts
/// (also how the metrics tell these failures apart).
pub const OUTCOME_UNKNOWN: &str = "outcome unknown";

/// What a batch holds once claimed: its transaction (open on `held`), the records to send, and
/// the at_most_once records left `sending` by a dead worker.
pub(super) struct Claim {
    pub held: Held,
    pub to_send: Vec<Claimed>,
    pub unknown: Vec<Claimed>,
}

/// A batch's record ids by how they are claimed.
#[derive(Default)]
struct ByMode {
    first: Vec<Uuid>,
    redelivered: Vec<Uuid>,
    at_most_once: Vec<Uuid>,
}

impl ByMode {
    fn split(jobs: &[(u64, SendJob, bool)], modes: &DeliveryModes) -> Self {
        let mut by = ByMode::default();
        for (_, job, redelivered) in jobs {
            let mode = modes.for_channel(job.channel);
            match (mode, redelivered) {
                (DeliveryMode::AtMostOnce, _) => by.at_most_once.push(job.record_id),
                (DeliveryMode::AtLeastOnce, true) => by.redelivered.push(job.record_id),
                (DeliveryMode::AtLeastOnce, false) => by.first.push(job.record_id),
            }
        }
        by
    }
}

impl Dispatcher {
    /// Claims the records of `jobs`, opens the batch's transaction and loads their contents.
    /// Nothing is sent yet: if this fails after at_most_once records were reserved, they are
    /// given back, so a database error is not taken for a crash when their jobs come back.
    pub(super) async fn claim(&self, jobs: &[(u64, SendJob, bool)]) -> anyhow::Result<Claim> {
        let by = ByMode::split(jobs, &self.modes);
        let mut conn = self.pool.get().await.context("database pool")?;
        let reserved = store::reserve(&mut conn, &by.at_most_once)
            .await
            .context("reserving at-most-once records")?;
        let claimed = async {
            // Jobs that came back are claimed durably before anything is sent (so a job a worker
            // keeps crashing on leaves a trace); first deliveries by a lock in the transaction
            // that writes their outcome.
            let mut to_send = store::claim(&mut conn, &by.redelivered, true, self.frequency_cap)
                .await
                .context("claiming redelivered records")?;
            AnsiTransactionManager::begin_transaction(&mut *conn)
                .await
                .context("beginning the batch's transaction")?;
            let mut held = Held(Some(conn));
            let tx = held.conn()?;
            to_send.extend(
                store::claim(tx, &by.first, false, self.frequency_cap)
                    .await
                    .context("claiming records")?,
            );
            let reserved: HashSet<Uuid> = reserved.iter().copied().collect();
            let (mine, unknown): (Vec<Claimed>, Vec<Claimed>) =
                store::hold(tx, &by.at_most_once, self.frequency_cap)
                    .await
                    .context("holding reserved records")?
                    .into_iter()
                    .partition(|c| reserved.contains(&c.id));
            to_send.extend(mine);
            self.load_contents(tx, &to_send).await?;
            anyhow::Ok(Claim {
                held,
                to_send,
                unknown,
            })
        }
        .await;
        if claimed.is_err() && !reserved.is_empty() {
            self.release(&reserved).await;
        }
        claimed
    }

    /// Gives back at_most_once reservations none of whose messages went out (best effort: if
    /// the database is unreachable, the records stay `sending` and their jobs, when they come
    /// back, fail them as [`OUTCOME_UNKNOWN`]).
    async fn release(&self, reserved: &[Uuid]) {
        let released = async {
            let mut conn = self.pool.get().await.context("database pool")?;
            store::release(&mut conn, reserved)
                .await
                .context("releasing reserved records")
        };
        match released.await {
            Ok(ids) => tracing::info!(records = ids.len(), "released unsent reservations"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), records = reserved.len(), "releasing unsent reservations failed")
            }
        }
    }
}

/// The outcome of an at_most_once record found `sending` with no live batch holding it.
pub(super) fn outcome_unknown(c: &Claimed) -> Delivered {
    let reason = format!(
        "{OUTCOME_UNKNOWN}: the worker sending this message stopped before recording whether \
         the provider took it; not sent again ({}=at_most_once)",
        DeliveryModes::setting(c.channel)
    );
    Delivered::not_sent(c.id, c.channel, reason)
}
