//! Delivery control: what stands between a message and its channel's providers (README
//! "Delivery control").
//!
//! - [`Gate`]: each provider's rate limit, in total across all workers, and the pause a
//!   throttling answer imposes on every worker, both shared through PostgreSQL.
//! - [`Breaker`]: failover from a channel's primary provider to its secondary while the primary
//!   fails, and back once a probe succeeds.
//!
//! The retry loop that uses them is [`crate::dispatch`]'s.

mod breaker;
mod gate;
mod settings;

use std::sync::Arc;

use marketing_core::cost::{Amount, MessageCosts};
use marketing_core::db::PgPool;
use marketing_core::vocabulary::Channel;

pub use breaker::{Breaker, Route};
pub use gate::{Gate, GateClosed, SPAN, UNLIMITED_CHECK};
pub use settings::{ControlSettings, Pauses};

use crate::providers::{Configured, OutboundMessage, Providers, SendError};

/// A provider behind its gate.
pub struct Lane {
    pub provider: Configured,
    pub gate: Gate,
    /// What one message through it costs (`MESSAGE_COSTS`; 0 when unpriced).
    pub price: Amount,
}

impl Lane {
    fn new(
        channel: Channel,
        provider: Configured,
        pool: &PgPool,
        s: &ControlSettings,
        costs: &MessageCosts,
    ) -> Self {
        let key = format!("{}:{}", channel.as_str(), provider.label);
        Lane {
            gate: Gate::new(key, provider.rate_limit, pool.clone(), s.pauses()),
            price: costs.price(channel, &provider.label),
            provider,
        }
    }

    /// The provider's label (records, reasons).
    pub fn label(&self) -> &Arc<str> {
        &self.provider.label
    }
}

/// A channel's providers as messages reach them.
pub struct Lanes {
    primary: Lane,
    /// The secondary and the breaker that decides when it is used.
    secondary: Option<(Lane, Breaker)>,
}

impl Lanes {
    /// Where a message the primary has not seen goes now: the primary, unless its breaker is
    /// open or the message used up its attempts there (`primary_spent`) and there is a
    /// secondary.
    pub fn route(&self, primary_spent: bool) -> Route {
        match &self.secondary {
            None => Route::Primary,
            Some(_) if primary_spent => Route::Secondary,
            Some((_, breaker)) => breaker.route(),
        }
    }

    pub fn lane(&self, route: Route) -> &Lane {
        match (route, &self.secondary) {
            (Route::Secondary, Some((lane, _))) => lane,
            _ => &self.primary,
        }
    }

    pub fn has_secondary(&self) -> bool {
        self.secondary.is_some()
    }

    /// What a message of the channel reserves against a spend cap before it is sent: the price
    /// of the dearer provider, since which one takes it is only known once it is sent.
    pub fn reservation_price(&self) -> Amount {
        let secondary = self
            .secondary
            .as_ref()
            .map_or(Amount::ZERO, |(l, _)| l.price);
        self.primary.price.max(secondary)
    }

    /// Whether the channel has the provider `route` names.
    pub fn has(&self, route: Route) -> bool {
        route == Route::Primary || self.has_secondary()
    }

    /// Whether the primary's breaker is open (new messages go to the secondary).
    pub fn primary_shunned(&self) -> bool {
        self.secondary.as_ref().is_some_and(|(_, b)| b.is_open())
    }

    /// Waits until a message pinned to the primary may try it again.
    pub async fn wait_for_primary(&self) {
        if let Some((_, breaker)) = &self.secondary {
            breaker.wait_for_primary().await;
        }
    }

    /// Tells the breaker how the primary answered (the secondary's answers change nothing).
    pub fn report(&self, route: Route, sent: &Result<Option<String>, SendError>) {
        let Some((_, breaker)) = &self.secondary else {
            return;
        };
        if route != Route::Primary {
            return;
        }
        match sent {
            Err(SendError::Transient(_) | SendError::Unavailable(_)) => breaker.failed(),
            Ok(_) | Err(SendError::Permanent(_) | SendError::Throttled { .. }) => {
                breaker.succeeded()
            }
        }
    }
}

/// Every channel's lanes, and the settings of the retry loop.
pub struct Control {
    sms: Lanes,
    email: Lanes,
    push: Lanes,
    wechat: Lanes,
    /// Throttling answers a message may get without counting as failed attempts.
    pub throttle_retries: u32,
    /// The control's own connections (the gates', and spend cap reservations, which commit on
    /// their own while a batch's transaction is open: short statements that never wait for a
    /// batch).
    pool: PgPool,
}

impl Control {
    /// Puts the configured providers behind their gates (the task of each gate starts here) and
    /// breakers. `pool` should not be the one batches hold connections of while they send: a
    /// gate that waited for one of those would wait for itself.
    pub fn new(
        providers: Providers,
        pool: &PgPool,
        s: &ControlSettings,
        costs: &MessageCosts,
    ) -> Self {
        let (sms, email, push, wechat) = providers.into_channels();
        let lanes = |channel: Channel, c: crate::providers::ChannelProviders| Lanes {
            primary: Lane::new(channel, c.primary, pool, s, costs),
            secondary: c.secondary.map(|p| {
                (
                    Lane::new(channel, p, pool, s, costs),
                    Breaker::new(channel.as_str(), s.breaker_threshold, s.breaker_cooldown()),
                )
            }),
        };
        Control {
            sms: lanes(Channel::Sms, sms),
            email: lanes(Channel::Email, email),
            push: lanes(Channel::PushNotification, push),
            wechat: lanes(Channel::Wechat, wechat),
            throttle_retries: s.throttle_retries,
            pool: pool.clone(),
        }
    }

    /// The control's own database connections (see the field).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn lanes(&self, channel: Channel) -> &Lanes {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
            Channel::PushNotification => &self.push,
            Channel::Wechat => &self.wechat,
        }
    }

    /// Flushes every provider (the log sink's file) before outcomes are written.
    pub async fn flush(&self) -> anyhow::Result<()> {
        for lanes in [&self.sms, &self.email, &self.push, &self.wechat] {
            lanes.primary.provider.provider.flush().await?;
            if let Some((lane, _)) = &lanes.secondary {
                lane.provider.provider.flush().await?;
            }
        }
        Ok(())
    }
}

/// Sends `message` through `lane`, recording the provider's latency.
pub async fn send(lane: &Lane, message: &OutboundMessage) -> Result<Option<String>, SendError> {
    let started = std::time::Instant::now();
    let sent = lane.provider.send(message).await;
    metrics::histogram!(
        "worker_provider_duration_seconds",
        "channel" => message.channel.as_str(),
        "provider" => lane.provider.name()
    )
    .record(started.elapsed().as_secs_f64());
    sent
}
