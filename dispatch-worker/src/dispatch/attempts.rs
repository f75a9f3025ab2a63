//! One message through its channel's providers: the gate (shared rate limit and throttling
//! pause) before every try, retries with backoff, and the secondary provider while the
//! primary's breaker is open.
//!
//! **Nothing goes out through both providers.** A message is handed to the secondary only while
//! the primary certainly does not have it: it never reached it (breaker open), or every try there
//! was refused before the vendor took anything (no connection, 503, a throttle). A try whose
//! outcome is unknown (a timeout, a connection lost after the request went out, another 5xx)
//! *pins* the message to that provider: it is retried there only, with the same idempotency key
//! (which an `http` vendor honours), waiting out an open breaker instead of failing over. A
//! timeout still counts against the breaker, so a hanging primary sends the other messages to
//! the secondary. A message pinned to a primary whose breaker is open does not wait inside its
//! batch (every message in flight when a primary goes silent is pinned: all batches would stop):
//! it is *parked* ([`super::parked`]), its record left `sending` with the provider noted, which
//! also pins it after a worker crash.
//!
//! **Throttling is not failing.** A throttling answer pauses the provider for every worker
//! ([`crate::control::Gate::throttled`]) and the message is tried again after the pause without
//! counting an attempt, up to `THROTTLE_RETRIES` times; beyond, each throttle counts as a failed
//! attempt, so a message is tried at most `THROTTLE_RETRIES + MAX_ATTEMPTS` times per provider.

use std::sync::Arc;

use super::{Dispatcher, Verdict};
use crate::control::{self, Lanes, Route};
use crate::providers::{OutboundMessage, SendError};
use crate::store::Outcome;

/// A message's tries so far.
#[derive(Debug, Default)]
pub(super) struct Tries {
    /// Failed attempts through the primary and the secondary.
    primary: u32,
    secondary: u32,
    /// Throttling answers not counted as attempts.
    throttled: u32,
    /// The provider that may have the message (an unknown outcome): the only one it goes to.
    pinned: Option<Route>,
}

impl Tries {
    /// The tries of a claimed record: pinned to the provider a worker left it with (`marker`,
    /// the record's `provider` while it is not final), if the channel still has it.
    pub fn resume(lanes: &Lanes, marker: Option<&str>) -> Self {
        let pinned = marker.and_then(|m| {
            [Route::Primary, Route::Secondary]
                .into_iter()
                .find(|r| lanes.has(*r) && &**lanes.lane(*r).label() == m)
        });
        Tries {
            pinned,
            ..Tries::default()
        }
    }

    fn count(&mut self, route: Route) -> &mut u32 {
        match route {
            Route::Primary => &mut self.primary,
            Route::Secondary => &mut self.secondary,
        }
    }
}

/// How a message's tries ended.
pub(super) enum Attempt {
    Done(Outcome, Verdict),
    /// Pinned to `provider`, whose breaker is open: to be tried again outside the batch.
    Parked {
        provider: Arc<str>,
        tries: Tries,
    },
}

impl Dispatcher {
    /// Sends a rendered message, continuing `tries`; returns its outcome and what becomes of its
    /// job, or, when `may_park`, [`Attempt::Parked`] instead of waiting for an open breaker.
    pub(super) async fn attempt(
        &self,
        message: &OutboundMessage,
        mut tries: Tries,
        may_park: bool,
    ) -> Attempt {
        let lanes = self.control.lanes(message.channel);
        let max = self.retry.max_attempts;
        loop {
            let route = match tries.pinned {
                Some(Route::Primary) => {
                    if may_park && lanes.primary_shunned() {
                        let provider = lanes.lane(Route::Primary).label().clone();
                        return Attempt::Parked { provider, tries };
                    }
                    lanes.wait_for_primary().await;
                    Route::Primary
                }
                Some(Route::Secondary) => Route::Secondary,
                None => lanes.route(tries.primary >= max),
            };
            let lane = lanes.lane(route);
            if let Err(e) = lane.gate.acquire().await {
                tracing::error!(record_id = %message.record_id, error = %e, "cannot send");
                return failed(format!("not sent: {e}"), None, Verdict::DeadLetter);
            }
            let sent = control::send(lane, message).await;
            lanes.report(route, &sent);
            let error = match sent {
                Ok(provider_message_id) => {
                    let outcome = Outcome::Sent {
                        at: chrono::Utc::now(),
                        provider_message_id,
                        provider: lane.label().clone(),
                        cost: lane.price,
                    };
                    return Attempt::Done(outcome, Verdict::Ack);
                }
                Err(SendError::Permanent(e)) => {
                    let reason = format!("{} refused the message: {e}", lane.label());
                    return failed(reason, Some(lane.label()), Verdict::Ack);
                }
                Err(e) => e,
            };
            if let SendError::Throttled { retry_after, .. } = &error {
                lane.gate.throttled(*retry_after).await;
                tries.throttled += 1;
                if tries.throttled <= self.control.throttle_retries {
                    tracing::debug!(record_id = %message.record_id, error = %error, "throttled; trying again after the pause");
                    continue;
                }
            }
            if matches!(error, SendError::Transient(_)) {
                tries.pinned = Some(route);
            }
            let n = {
                let n = tries.count(route);
                *n += 1;
                *n
            };
            if n >= max {
                // A message the primary certainly does not have may still go to the secondary.
                if route == Route::Primary
                    && tries.pinned.is_none()
                    && lanes.has_secondary()
                    && tries.secondary < max
                {
                    continue;
                }
                tracing::warn!(record_id = %message.record_id, error = %error, "giving up after {n} attempts");
                let mut reason = format!("{} failed {n} times; last error: {error}", lane.label());
                if tries.pinned == Some(Route::Primary) && lanes.has_secondary() {
                    reason.push_str(&format!(
                        "; not sent through {} because {} may have taken it",
                        lanes.lane(Route::Secondary).label(),
                        lane.label()
                    ));
                }
                return failed(reason, Some(lane.label()), Verdict::DeadLetter);
            }
            // The next try goes at once when it goes to the other provider, or waits for the
            // breaker (pinned to a primary it shuns) rather than a backoff.
            if !(route == Route::Primary && lanes.primary_shunned()) {
                let backoff = self.retry.base * 2u32.saturating_pow(n - 1);
                tracing::debug!(record_id = %message.record_id, error = %error, ?backoff, "provider error; retrying");
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

fn failed(reason: String, provider: Option<&Arc<str>>, verdict: Verdict) -> Attempt {
    let provider = provider.cloned();
    Attempt::Done(Outcome::Failed { reason, provider }, verdict)
}
