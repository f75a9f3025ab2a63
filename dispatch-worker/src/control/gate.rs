//! One provider's gate: its rate limit, which holds in total across all workers, and the
//! throttling pause every worker keeps, both in PostgreSQL (`provider_gates`, see
//! [`crate::store::gates`]).
//!
//! **Rate limit.** A generic cell rate algorithm on one row: the row's clock (`tat`) says up to
//! when the tokens granted so far are accounted for; a worker that needs tokens reserves up to a
//! tenth of a second's worth ([`SPAN`]) with one statement, which moves the clock by n / rate and
//! answers when those n tokens fall due, one every 1 / rate. The worker hands them to its waiting
//! messages at those instants. So:
//!
//! - the limit holds in total: in any interval of T seconds, at most rate × T + credit + 1 tokens
//!   fall due, credit = a quarter of a reservation (an idle provider banks that much, never more,
//!   so a worker that sends alone loses no round trip between reservations); a token reaching its
//!   message more than [`LATE`] after it fell due (the worker was not scheduled in time) is
//!   dropped and the message asks again, so requests start at most half a reservation after
//!   their tokens fell due. Together: at most rate × T + burst requests in any T seconds, burst
//!   = max(1, rate / 10), which the README states;
//! - workers that join or leave change no one's share: whoever waits reserves, and a worker that
//!   dies loses at most the rest of one reservation (under the limit, never over);
//! - one round trip per reservation: rate / burst = at most 10 statements a second per provider
//!   in total at any rate of 10/s or more, whatever the number of workers.
//!
//! Reservations are made only for messages waiting, so tokens are rarely left over; those that
//! are (a waiter gone) are dropped, never kept for later: a token is used when it falls due or not
//! at all.
//!
//! **Pause.** A throttling answer pauses the provider for every worker (the row's
//! `paused_until`, adaptive, see [`crate::store::gates::throttle`]): reservations start after it,
//! the worker that got it stops handing out the tokens it holds, and unlimited providers, which
//! reserve nothing, look at the pause before letting messages through and again every
//! [`UNLIMITED_CHECK`] while busy. Each worker resumes at the pause's end plus a jitter of its own
//! (up to a tenth of the pause, at most half a second), so they do not all resume at once.
//!
//! A database that cannot be reached holds the messages back (asked again every
//! [`DATABASE_RETRY`]): the limit is never exceeded for want of the shared state.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use marketing_core::db::PgPool;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use super::settings::Pauses;
use crate::store::gates;

/// What one reservation covers at most: a tenth of a second of the limit (at least one token).
pub const SPAN: Duration = Duration::from_millis(100);

/// The latest a token may be used after it fell due: a token used later would go out with the
/// next ones (a burst the limit does not allow), so it is dropped instead.
pub const LATE: Duration = Duration::from_millis(50);

/// How long an unlimited provider lets messages through after finding it not paused, before
/// looking again: how late a worker may learn of another's pause.
pub const UNLIMITED_CHECK: Duration = Duration::from_millis(100);

/// Wait before asking the database again after it failed.
const DATABASE_RETRY: Duration = Duration::from_millis(250);

/// The gate's task is gone (it cannot have stopped unless the gate was dropped).
#[derive(Debug, thiserror::Error)]
#[error("the rate limit of {0} stopped")]
pub struct GateClosed(pub Arc<str>);

/// The pause this worker knows of, and an unlimited provider's last look at it.
#[derive(Default)]
struct Local {
    paused_until: Option<Instant>,
    open_until: Option<Instant>,
}

#[derive(Default)]
struct Shared {
    local: Mutex<Local>,
    /// Woken when a pause begins, so that tokens already reserved are not handed out.
    paused: Notify,
}

impl Shared {
    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        // Plain values: a panic elsewhere cannot leave them half written.
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The end of the pause this worker keeps, if one is on.
    fn paused_until(&self) -> Option<Instant> {
        let now = Instant::now();
        self.local().paused_until.filter(|&t| t > now)
    }

    /// Unlimited providers: whether messages may pass without asking.
    fn is_open(&self) -> bool {
        let now = Instant::now();
        let local = self.local();
        local.open_until.is_some_and(|t| t > now) && local.paused_until.is_none_or(|t| t <= now)
    }

    /// Keeps a pause of `left` from now (plus this worker's jitter).
    fn pause(&self, left: Duration) {
        if left.is_zero() {
            return;
        }
        let jitter = (left / 10)
            .min(Duration::from_millis(500))
            .mul_f64(fastrand::f64());
        let until = Instant::now() + left + jitter;
        {
            let mut local = self.local();
            local.paused_until = Some(local.paused_until.map_or(until, |t| t.max(until)));
            local.open_until = None;
        }
        self.paused.notify_waiters();
    }
}

/// A provider's rate limit and throttling pause, shared with every worker.
pub struct Gate {
    key: Arc<str>,
    limited: bool,
    requests: mpsc::UnboundedSender<oneshot::Sender<Instant>>,
    shared: Arc<Shared>,
    pool: PgPool,
    pauses: Pauses,
}

impl Gate {
    /// The gate of the provider `key` (`<channel>:<label>`), `rate` messages a second in total
    /// (0: unlimited). Spawns the task that reserves and hands out tokens; it ends with the gate.
    pub fn new(key: String, rate: u32, pool: PgPool, pauses: Pauses) -> Self {
        let key: Arc<str> = key.into();
        let shared = Arc::new(Shared::default());
        let (requests, waiting) = mpsc::unbounded_channel();
        let serve = Serve {
            key: key.clone(),
            pool: pool.clone(),
            shared: shared.clone(),
            requests: waiting,
            waiting: VecDeque::new(),
        };
        let limit = Limit::new(rate);
        tokio::spawn(async move { serve.run(limit).await });
        Gate {
            key,
            limited: rate > 0,
            requests,
            shared,
            pool,
            pauses,
        }
    }

    /// Waits until the provider may take one more message: a token of the rate limit fell due
    /// and no pause is on.
    pub async fn acquire(&self) -> Result<(), GateClosed> {
        loop {
            if !self.limited && self.shared.is_open() {
                return Ok(());
            }
            let (granted, grant) = oneshot::channel();
            self.requests
                .send(granted)
                .map_err(|_| GateClosed(self.key.clone()))?;
            let due = grant.await.map_err(|_| GateClosed(self.key.clone()))?;
            if !self.limited || due.elapsed() <= LATE {
                return Ok(());
            }
            metrics::counter!("worker_rate_limit_late_tokens_total", "provider" => self.key.to_string())
                .increment(1);
        }
    }

    /// The provider answered a throttling error: pauses it for every worker (at least
    /// `retry_after` when the vendor said how long). Without the database, this worker pauses
    /// alone.
    pub async fn throttled(&self, retry_after: Option<Duration>) {
        let first = self.pauses.base.mul_f64(0.8 + 0.4 * fastrand::f64());
        let before = self.shared.paused_until();
        let shared = async {
            let mut conn = self.pool.get().await.map_err(anyhow::Error::from)?;
            gates::throttle(&mut conn, &self.key, retry_after, first, self.pauses.max)
                .await
                .map_err(anyhow::Error::from)
        };
        match shared.await {
            Ok(pause) => {
                if before.is_none() {
                    tracing::info!(provider = %self.key, pause_ms = pause.left.as_millis() as u64,
                        level = pause.level, "provider throttled: every worker pauses");
                }
                metrics::counter!("worker_throttled_total", "provider" => self.key.to_string())
                    .increment(1);
                self.shared.pause(pause.left);
            }
            Err(e) => {
                tracing::warn!(provider = %self.key, error = %format!("{e:#}"),
                    "recording a throttle failed: pausing this worker only");
                self.shared
                    .pause(retry_after.unwrap_or(first).min(self.pauses.max));
            }
        }
    }
}

/// The rate limit as the task uses it.
#[derive(Clone, Copy)]
struct Limit {
    /// Tokens a second (none: unlimited).
    rate: Option<f64>,
    /// Tokens per reservation at most.
    chunk: usize,
}

impl Limit {
    fn new(rate: u32) -> Self {
        let chunk = ((f64::from(rate) * SPAN.as_secs_f64()).round() as usize).max(1);
        Limit {
            rate: (rate > 0).then_some(f64::from(rate)),
            chunk,
        }
    }
}

/// The gate's task: takes the requests of waiting messages and grants them.
struct Serve {
    key: Arc<str>,
    pool: PgPool,
    shared: Arc<Shared>,
    requests: mpsc::UnboundedReceiver<oneshot::Sender<Instant>>,
    waiting: VecDeque<oneshot::Sender<Instant>>,
}

impl Serve {
    async fn run(mut self, limit: Limit) {
        loop {
            if self.waiting.is_empty() {
                match self.requests.recv().await {
                    Some(w) => self.waiting.push_back(w),
                    None => return,
                }
            }
            self.take_arrivals();
            self.waiting.retain(|w| !w.is_closed());
            if self.waiting.is_empty() {
                continue;
            }
            if let Some(until) = self.shared.paused_until() {
                tokio::time::sleep_until(until).await;
                continue;
            }
            let round = match limit.rate {
                None => self.look().await,
                Some(rate) => self.reserve(rate, limit.chunk).await,
            };
            if let Err(e) = round {
                tracing::warn!(provider = %self.key, error = %format!("{e:#}"),
                    "the shared rate limit is out of reach; messages wait");
                tokio::time::sleep(DATABASE_RETRY).await;
            }
        }
    }

    fn take_arrivals(&mut self) {
        while let Ok(w) = self.requests.try_recv() {
            self.waiting.push_back(w);
        }
    }

    /// Unlimited: lets every waiting message through unless the provider is paused, and the
    /// next ones for [`UNLIMITED_CHECK`] without asking.
    async fn look(&mut self) -> anyhow::Result<()> {
        let mut conn = self.pool.get().await?;
        let left = gates::pause_left(&mut conn, &self.key).await?;
        drop(conn);
        if !left.is_zero() {
            self.shared.pause(left);
            return Ok(());
        }
        self.shared.local().open_until = Some(Instant::now() + UNLIMITED_CHECK);
        let now = Instant::now();
        for w in self.waiting.drain(..) {
            let _ = w.send(now);
        }
        Ok(())
    }

    /// Limited: reserves tokens for up to `chunk` waiting messages and hands them out as they
    /// fall due, unless a pause begins meanwhile.
    async fn reserve(&mut self, rate: f64, chunk: usize) -> anyhow::Result<()> {
        let shared = self.shared.clone();
        let n = self.waiting.len().min(chunk);
        let credit = (chunk / 4) as f64 / rate;
        let mut conn = self.pool.get().await?;
        let end = gates::reserve(&mut conn, &self.key, n as f64 / rate, credit).await?;
        drop(conn);
        // Counted from when the answer came back: a token falls due here no sooner than it did
        // at the database.
        let answered = Instant::now();
        metrics::counter!("worker_rate_limit_reservations_total", "provider" => self.key.to_string())
            .increment(1);
        for i in 0..n {
            let due = answered + gates::seconds(end - (n - 1 - i) as f64 / rate);
            let paused = shared.paused.notified();
            tokio::pin!(paused);
            paused.as_mut().enable();
            if shared.paused_until().is_some() {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                // The rest of the reservation is given up: it resumes after the pause.
                _ = paused => return Ok(()),
            }
            if !self.grant_one(due) {
                // Nobody waits any more: the rest is dropped, not kept for a burst later.
                return Ok(());
            }
        }
        Ok(())
    }

    /// Hands a token that fell `due` to the first message still waiting; false when none is.
    fn grant_one(&mut self, due: Instant) -> bool {
        loop {
            if self.waiting.is_empty() {
                self.take_arrivals();
            }
            match self.waiting.pop_front() {
                Some(w) => {
                    if w.send(due).is_ok() {
                        return true;
                    }
                }
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Limit;

    #[test]
    fn a_reservation_is_a_tenth_of_a_second_of_the_limit() {
        assert_eq!(Limit::new(100).chunk, 10);
        assert_eq!(Limit::new(10_000).chunk, 1000);
        assert_eq!(Limit::new(5).chunk, 1, "at least one token");
        assert_eq!(Limit::new(0).rate, None);
    }
}
