//! The circuit breaker between a channel's primary and secondary provider, one per channel in
//! each worker.
//!
//! Closed, messages go to the primary; `BREAKER_THRESHOLD` failures or timeouts in a row open
//! it, and new messages go to the secondary. After `BREAKER_COOLDOWN_MS` it is half open: one
//! message probes the primary while the others still go to the secondary; the probe's success
//! closes it, its failure opens it for another cool-down. Any answer from the primary (sent, a
//! refusal, a throttle) is a success: the vendor is there.
//!
//! Each worker keeps its own: every worker sees the primary fail within `BREAKER_THRESHOLD` of
//! its own messages, so sharing the state would save a handful of failed calls at the cost of a
//! database round trip per outcome.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Which of a channel's providers a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe went to the primary at `since` and has not answered yet.
    HalfOpen {
        since: Instant,
    },
}

impl State {
    fn gauge(self) -> f64 {
        match self {
            State::Closed { .. } => 0.0,
            State::Open { .. } => 1.0,
            State::HalfOpen { .. } => 2.0,
        }
    }
}

pub struct Breaker {
    channel: &'static str,
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
    /// Woken whenever the state changes (messages waiting for the primary look again).
    changed: Notify,
}

impl Breaker {
    pub fn new(channel: &'static str, threshold: u32, cooldown: Duration) -> Self {
        metrics::gauge!("worker_breaker_state", "channel" => channel).set(0.0);
        Breaker {
            channel,
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it half written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, state: &mut State, next: State) {
        if std::mem::discriminant(state) != std::mem::discriminant(&next) {
            match next {
                State::Open { .. } => tracing::warn!(
                    channel = self.channel,
                    cooldown_ms = self.cooldown.as_millis() as u64,
                    "primary provider failing: breaker open, sending through the secondary"
                ),
                State::HalfOpen { .. } => {
                    tracing::info!(
                        channel = self.channel,
                        "breaker half open: probing the primary"
                    )
                }
                State::Closed { .. } => tracing::info!(
                    channel = self.channel,
                    "primary provider answers again: breaker closed"
                ),
            }
            metrics::gauge!("worker_breaker_state", "channel" => self.channel).set(next.gauge());
        }
        *state = next;
        self.changed.notify_waiters();
    }

    /// Where a message the primary has not seen goes now.
    pub fn route(&self) -> Route {
        self.route_at(Instant::now())
    }

    fn route_at(&self, now: Instant) -> Route {
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Route::Primary,
            State::Open { until } if now >= until => {
                self.set(&mut state, State::HalfOpen { since: now });
                Route::Primary
            }
            State::Open { .. } => Route::Secondary,
            // A probe that has not answered within a cool-down (slow, or its batch gave up):
            // another one goes.
            State::HalfOpen { since } if now >= since + self.cooldown => {
                self.set(&mut state, State::HalfOpen { since: now });
                Route::Primary
            }
            State::HalfOpen { .. } => Route::Secondary,
        }
    }

    /// Whether new messages are going to the secondary now (open, cool-down not over).
    pub fn is_open(&self) -> bool {
        matches!(*self.state(), State::Open { until } if Instant::now() < until)
    }

    /// For a message the primary may already have (it timed out there): `None` when it may try
    /// the primary again now, else the instant to look again. Such messages never go to the
    /// secondary; while the breaker is open they wait for its cool-down and then all try
    /// (probing along with the half-open probe).
    fn primary_turn_at(&self, now: Instant) -> Option<Instant> {
        let mut state = self.state();
        match *state {
            State::Closed { .. } | State::HalfOpen { .. } => None,
            State::Open { until } if now >= until => {
                self.set(&mut state, State::HalfOpen { since: now });
                None
            }
            State::Open { until } => Some(until),
        }
    }

    /// Waits until a message pinned to the primary may try it again (see
    /// [`Breaker::primary_turn_at`]).
    pub async fn wait_for_primary(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.primary_turn_at(Instant::now()) {
                None => return,
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                    }
                }
            }
        }
    }

    /// The primary answered.
    pub fn succeeded(&self) {
        let mut state = self.state();
        if *state != (State::Closed { failures: 0 }) {
            self.set(&mut state, State::Closed { failures: 0 });
        }
    }

    /// The primary failed or timed out.
    pub fn failed(&self) {
        self.failed_at(Instant::now())
    }

    fn failed_at(&self, now: Instant) {
        let mut state = self.state();
        let next = match *state {
            State::Closed { failures } if failures + 1 >= self.threshold => State::Open {
                until: now + self.cooldown,
            },
            State::Closed { failures } => State::Closed {
                failures: failures + 1,
            },
            State::HalfOpen { .. } => State::Open {
                until: now + self.cooldown,
            },
            open @ State::Open { .. } => open,
        };
        if next != *state {
            self.set(&mut state, next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_run_of_failures_opens_it_and_a_probe_closes_it() {
        let b = Breaker::new("sms", 3, COOL);
        let t = Instant::now();
        b.failed_at(t);
        b.failed_at(t);
        assert_eq!(b.route_at(t), Route::Primary, "two failures: still closed");
        b.succeeded();
        b.failed_at(t);
        b.failed_at(t);
        assert_eq!(b.route_at(t), Route::Primary, "a success resets the run");
        b.failed_at(t);
        assert_eq!(b.route_at(t), Route::Secondary, "three in a row: open");
        assert_eq!(b.route_at(t + COOL / 2), Route::Secondary);
        assert_eq!(b.route_at(t + COOL), Route::Primary, "the probe");
        assert_eq!(
            b.route_at(t + COOL),
            Route::Secondary,
            "one probe at a time; the others still go to the secondary"
        );
        b.succeeded();
        assert_eq!(b.route_at(t + COOL), Route::Primary, "closed again");
    }

    #[tokio::test]
    async fn a_failed_probe_opens_it_for_another_cooldown() {
        let b = Breaker::new("sms", 1, COOL);
        let t = Instant::now();
        b.failed_at(t);
        assert_eq!(b.route_at(t + COOL), Route::Primary);
        b.failed_at(t + COOL);
        assert_eq!(b.route_at(t + COOL + COOL / 2), Route::Secondary);
        assert_eq!(b.route_at(t + COOL * 2), Route::Primary, "the next probe");
        // A probe that never answers does not hold the breaker half open forever.
        assert_eq!(b.route_at(t + COOL * 3), Route::Primary);
    }

    #[tokio::test]
    async fn messages_the_primary_may_have_wait_for_its_cooldown_never_for_the_secondary() {
        let b = Breaker::new("sms", 1, COOL);
        let t = Instant::now();
        assert_eq!(b.primary_turn_at(t), None, "closed: go");
        b.failed_at(t);
        assert_eq!(b.primary_turn_at(t), Some(t + COOL), "open: wait");
        assert_eq!(b.primary_turn_at(t + COOL), None, "cool-down over: go");
        assert_eq!(b.primary_turn_at(t + COOL), None, "half open: go too");
        assert_eq!(b.route_at(t + COOL), Route::Secondary, "others still wait");
    }
}
