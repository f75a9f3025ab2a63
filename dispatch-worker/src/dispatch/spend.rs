//! Spend caps at send time: before a batch's messages go out, those of capped campaigns reserve
//! their price ([`store::spend::reserve`], one statement per batch, committed on its own so no
//! worker waits for another's batch). A message the cap has no room for is not sent: its record
//! is `failed` with [`SPEND_CAP_REACHED`], and once the batch is settled the campaign's other
//! unsent records are failed at once, set-based ([`store::spend::fail_pending`]).
//!
//! A message reserves the price of its channel's dearer provider (which of primary and secondary
//! takes it is only known once sent); its outcome write turns that into its provider's actual
//! price, or gives it all back. So the counter, which includes the reservations of messages in
//! flight, never passes the cap, and what the sent messages cost is at most the counter.
//! A worker killed between reserving and writing leaves its batch's reservations in the counter
//! (at most its in-flight messages' prices): the campaign may then stop that much short of its
//! cap, never beyond it.

use std::collections::HashMap;

use anyhow::Context as _;
use marketing_core::cost::Amount;
use uuid::Uuid;

use super::deliver::Ready;
use super::{Delivered, Dispatcher};
use crate::store::spend::{Ask, SPEND_CAP_REACHED};
use crate::store::{self};

/// A batch's prepared messages after reserving: those to send with what each reserved, and
/// those refused.
pub(super) struct Reserved {
    pub ready: Vec<(Ready, Amount)>,
    pub refused: Vec<Delivered>,
    /// The campaigns whose caps refused messages.
    pub capped_out: Vec<Uuid>,
}

impl Dispatcher {
    /// Reserves the price of each message of a capped campaign in `ready` (messages costing
    /// nothing reserve nothing); refuses those the caps have no room for.
    pub(super) async fn reserve_spend(&self, ready: Vec<Ready>) -> anyhow::Result<Reserved> {
        let price = |r: &Ready| {
            if r.spend_capped {
                self.control.lanes(r.message.channel).reservation_price()
            } else {
                Amount::ZERO
            }
        };
        let mut asks: Vec<Ask> = Vec::new();
        for r in &ready {
            let p = price(r);
            if p.is_zero() {
                continue;
            }
            match asks.iter_mut().find(|a| a.campaign_id == r.campaign_id) {
                Some(a) => a.messages += 1,
                None => asks.push(Ask {
                    campaign_id: r.campaign_id,
                    messages: 1,
                    price: p.micros(),
                }),
            }
        }
        if asks.is_empty() {
            return Ok(Reserved {
                ready: ready.into_iter().map(|r| (r, Amount::ZERO)).collect(),
                refused: Vec::new(),
                capped_out: Vec::new(),
            });
        }
        let granted = {
            let mut conn = self.control.pool().get().await.context("database pool")?;
            store::spend::reserve(&mut conn, &asks)
                .await
                .context("reserving spend")?
        };
        let mut room: HashMap<Uuid, i32> = asks
            .iter()
            .zip(&granted)
            .map(|(a, g)| (a.campaign_id, *g))
            .collect();
        let mut out = Reserved {
            ready: Vec::with_capacity(ready.len()),
            refused: Vec::new(),
            capped_out: Vec::new(),
        };
        for r in ready {
            let p = price(&r);
            if p.is_zero() {
                out.ready.push((r, Amount::ZERO));
                continue;
            }
            match room.get_mut(&r.campaign_id) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    out.ready.push((r, p));
                }
                _ => {
                    if !out.capped_out.contains(&r.campaign_id) {
                        tracing::info!(campaign_id = %r.campaign_id, price = %p,
                            "the campaign's spend cap is reached: its unsent messages are not sent");
                        out.capped_out.push(r.campaign_id);
                    }
                    out.refused.push(Delivered::not_sent(
                        r.message.record_id,
                        r.message.channel,
                        SPEND_CAP_REACHED.to_owned(),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Fails the unsent records of campaigns whose caps are reached. Best effort: a record this
    /// misses is refused, like this batch's, when its job is claimed.
    pub(super) async fn fail_capped_out(&self, campaigns: &[Uuid]) {
        if campaigns.is_empty() {
            return;
        }
        let failed = async {
            let mut conn = self.pool.get().await.context("database pool")?;
            store::spend::fail_pending(&mut conn, campaigns)
                .await
                .context("failing the unsent records of capped campaigns")
        };
        match failed.await {
            Ok(n) => {
                tracing::info!(
                    campaigns = campaigns.len(),
                    records = n,
                    "unsent records of campaigns at their spend cap failed"
                );
                if n > 0 {
                    metrics::counter!("worker_spend_capped_records_total").increment(n);
                }
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "failing the unsent records of capped campaigns failed; each is refused when claimed")
            }
        }
    }
}
