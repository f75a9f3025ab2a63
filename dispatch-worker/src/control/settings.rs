//! The delivery-control settings every channel shares: provider timeouts, the failover breaker
//! and throttling pauses (rate limits and secondary providers are set per channel, beside each
//! channel's provider).

use std::time::Duration;

/// How providers are timed out, failed over and paused (README "Delivery control").
#[derive(Debug, Clone, clap::Args)]
pub struct ControlSettings {
    /// Milliseconds a vendor HTTP API call may take in all (connecting: at most 3 s of it). A
    /// call that times out counts against the breaker, but its message is retried only through
    /// the same provider: the vendor may have taken it.
    #[arg(long, env = "PROVIDER_TIMEOUT_MS", default_value_t = 10_000)]
    pub provider_timeout_ms: u64,

    /// Failures or timeouts of a channel's primary provider in a row that open its breaker:
    /// new messages then go to the secondary provider (only with a <CHANNEL>_SECONDARY_PROVIDER).
    #[arg(long, env = "BREAKER_THRESHOLD", default_value_t = 5)]
    pub breaker_threshold: u32,

    /// Milliseconds an open breaker waits before one message probes the primary again (half
    /// open); the probe's success closes it, its failure opens it for another cool-down.
    #[arg(long, env = "BREAKER_COOLDOWN_MS", default_value_t = 5_000)]
    pub breaker_cooldown_ms: u64,

    /// First pause, in milliseconds, of a provider that answered "slow down" without saying for
    /// how long (every worker pauses); a throttle again soon after a pause doubles the next.
    #[arg(long, env = "THROTTLE_BASE_MS", default_value_t = 250)]
    pub throttle_base_ms: u64,

    /// Longest pause a throttling answer causes, its `Retry-After` included.
    #[arg(long, env = "THROTTLE_MAX_PAUSE_SECS", default_value_t = 30)]
    pub throttle_max_pause_secs: u64,

    /// Throttling answers a message may get without counting as failed attempts; beyond, each
    /// counts as one (MAX_ATTEMPTS then dead-letters it). A message is thus sent at most
    /// THROTTLE_RETRIES + MAX_ATTEMPTS times through a provider.
    #[arg(long, env = "THROTTLE_RETRIES", default_value_t = 10)]
    pub throttle_retries: u32,
}

impl ControlSettings {
    pub fn breaker_cooldown(&self) -> Duration {
        Duration::from_millis(self.breaker_cooldown_ms)
    }

    /// The throttling pause bounds.
    pub fn pauses(&self) -> Pauses {
        Pauses {
            base: Duration::from_millis(self.throttle_base_ms.max(1)),
            max: Duration::from_secs(self.throttle_max_pause_secs.max(1)),
        }
    }

    /// As logged at start-up.
    pub fn redacted(&self) -> String {
        format!(
            "provider_timeout_ms={} breaker_threshold={} breaker_cooldown_ms={} \
             throttle_base_ms={} throttle_max_pause_secs={} throttle_retries={}",
            self.provider_timeout_ms,
            self.breaker_threshold,
            self.breaker_cooldown_ms,
            self.throttle_base_ms,
            self.throttle_max_pause_secs,
            self.throttle_retries,
        )
    }
}

/// How long a throttling answer pauses a provider.
#[derive(Debug, Clone, Copy)]
pub struct Pauses {
    /// The first pause without a `Retry-After`.
    pub base: Duration,
    /// The longest pause, `Retry-After` included.
    pub max: Duration,
}
