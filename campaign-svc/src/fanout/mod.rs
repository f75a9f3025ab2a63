//! The fan-out: everything between "send this campaign" and one job per recipient confirmed by
//! the broker, behind one handle, [`Fanout`], that owns what its parts share: the database pool,
//! the wake-up signal (a committed chunk of records wakes the relay at once), the leases and the
//! page and chunk settings.
//!
//! - [`trigger`]: records the execution and makes the campaign active (one transaction), then
//!   freezes its audience;
//! - [`freeze`]: writes the audience as `pending` records, chunk by chunk (the outbox);
//! - [`relay`] and [`publisher`]: publish each committed chunk to RabbitMQ with confirms;
//! - [`scheduler`]: the timers (campaigns due at their `start_time`, recurring occurrences,
//!   completion, stale records);
//! - [`timed`]: publishes the records that wait (a local send time, quiet hours, an event's
//!   delay) once due;
//! - [`events`]: turns customer events into the records of the campaigns listening to them
//!   (and a journey's send steps' messages into records);
//! - [`journeys`]: walks customers through journeys, step by step;
//! - [`audience`] and [`plan`]: who a campaign reaches and what it sends, also read by the
//!   service layer's previews and simulations.
//!
//! The service layer calls in ([`Fanout::trigger`]); nothing here calls back into it. The loops
//! ([`Fanout::start`]) are supervised by the application (see `crate::supervise`): one that
//! stops is seen, never silent.

pub mod audience;
mod events;
mod freeze;
mod journeys;
pub mod plan;
mod publisher;
mod relay;
mod rollup;
mod scheduler;
mod timed;
mod trigger;

use std::sync::Arc;
use std::time::Duration;

use marketing_core::db::PgPool;
use marketing_core::tracking::FrequencyCap;
use tokio::sync::{Notify, watch};

pub use publisher::Publisher;
pub(crate) use trigger::{check_not_ended, to_json};

use crate::supervise::Loop;

/// What the fan-out's parts are tuned with (from the service's configuration).
#[derive(Debug, Clone)]
pub struct FanoutSettings {
    /// Audience customers considered per freeze chunk (one transaction each).
    pub freeze_chunk: i64,
    /// How long a replica's hold on freezing or publishing an execution lasts without progress.
    pub lease: Duration,
    /// Records the relay reads and publishes per page.
    pub page_size: i64,
    /// How often the relay looks for work when nothing wakes it.
    pub poll: Duration,
    /// The frequency cap the trigger enforces.
    pub frequency_cap: Option<FrequencyCap>,
    /// Between scheduler rounds.
    pub scheduler_interval: Duration,
    /// When a record whose worker never reported back is failed.
    pub stale_sending: Duration,
    /// Quiet hours of campaigns without their own.
    pub default_quiet_hours: Option<crate::domain::timing::QuietHours>,
    /// How often the event dispatcher looks for due events when nothing wakes it (events stored
    /// by another replica, delays falling due), and the timed publisher for due records.
    pub event_poll: Duration,
    /// How often segment-entry journeys look for customers who started to match.
    pub journey_segment_poll: Duration,
    /// Between rollups of the hourly statistics.
    pub stats_rollup: Duration,
}

impl FanoutSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        FanoutSettings {
            freeze_chunk: config.freeze_chunk.clamp(1, 1_000_000),
            lease: Duration::from_secs(config.relay_lease_secs.max(1)),
            page_size: config.relay_page_size.max(1),
            poll: Duration::from_secs(1),
            frequency_cap: config.tracking.frequency_cap(),
            scheduler_interval: Duration::from_millis(config.scheduler_interval_ms.max(10)),
            stale_sending: Duration::from_secs(config.stale_sending_secs),
            default_quiet_hours: config.quiet_hours,
            event_poll: Duration::from_millis(config.event_poll_ms.clamp(10, 60_000)),
            journey_segment_poll: Duration::from_millis(
                config.journey_segment_poll_ms.clamp(10, 3_600_000),
            ),
            stats_rollup: Duration::from_secs(config.stats_rollup_secs.clamp(1, 86_400)),
        }
    }

    /// The lease as a database interval.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(15))
    }
}

/// Runs `pass` until `stop` turns true: again at once when it says more is waiting (a full
/// page), else after `poll` or as soon as `wake` fires; a failed pass is logged as `what` and
/// retried after a back-off of 200 ms doubling up to 5 s.
async fn repeat<P, PF, W, WF>(
    what: &str,
    poll: Duration,
    mut pass: P,
    mut wake: W,
    mut stop: watch::Receiver<bool>,
) where
    P: FnMut() -> PF,
    PF: std::future::Future<Output = crate::error::Result<bool>>,
    W: FnMut() -> WF,
    WF: std::future::Future<Output = ()>,
{
    let mut backoff = Duration::from_millis(200);
    loop {
        let wait = match pass().await {
            Ok(true) => continue,
            Ok(false) => {
                backoff = Duration::from_millis(200);
                poll
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "{what} failed; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(5));
                backoff
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The fan-out's handle: cheap to clone, shared by the service layer and the loops.
#[derive(Clone)]
pub struct Fanout {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    settings: FanoutSettings,
    /// Notified when records were committed, so the relay publishes them at once.
    wake: Notify,
    /// Notified when events were stored, so the event dispatcher looks at once.
    events: Notify,
    /// Notified when waiting records were written, so the timed publisher looks at once.
    timed: Notify,
    /// Notified when customers entered a journey or one was activated: the runner looks at once.
    journeys: Notify,
    /// Notified when a journey was activated: its segment entries are looked for at once.
    segments: Notify,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Fanout {
    pub fn new(pool: PgPool, settings: FanoutSettings) -> Self {
        Fanout {
            inner: Arc::new(Inner {
                pool,
                settings,
                wake: Notify::new(),
                events: Notify::new(),
                timed: Notify::new(),
                journeys: Notify::new(),
                segments: Notify::new(),
            }),
        }
    }

    pub fn settings(&self) -> &FanoutSettings {
        &self.inner.settings
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Records were committed: the relay looks at once instead of at its next poll.
    fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Events were stored: the event dispatcher looks at once instead of at its next poll.
    pub fn events_stored(&self) {
        self.inner.events.notify_one();
    }

    /// Customers entered a journey, or one was activated: the journey runner looks at once.
    pub fn journeys_changed(&self) {
        self.inner.journeys.notify_one();
    }

    /// A journey was activated: a segment entry looks at once.
    pub fn journey_activated(&self) {
        self.inner.segments.notify_one();
        self.inner.journeys.notify_one();
    }

    /// Records that may be due were written: the timed publisher looks at once.
    fn wake_timed(&self) {
        self.inner.timed.notify_one();
    }

    /// Waits for [`Fanout::wake`] (the relay).
    async fn woken(&self) {
        self.inner.wake.notified().await;
    }

    /// Starts the loops (the relay and the timed publisher, each with its own broker connection
    /// from `publisher`, the event dispatcher and the scheduler) until `stop` turns true, each named for the
    /// supervisor.
    pub fn start(
        &self,
        publisher: impl Fn() -> Publisher,
        stop: watch::Receiver<bool>,
    ) -> Vec<Loop> {
        let relay = relay::Relay::new(self.clone(), publisher());
        let timed = timed::TimedPublisher::new(self.clone(), publisher());
        let scheduler = scheduler::Scheduler::new(self.clone());
        let events = events::EventDispatcher::new(self.clone());
        let journeys = Arc::new(journeys::JourneyRunner::new(self.clone()));
        let mut loops = vec![
            Loop::spawn("relay", relay.run(stop.clone())),
            Loop::spawn("timed publisher", timed.run(stop.clone())),
            Loop::spawn("event dispatcher", events.run(stop.clone())),
            Loop::spawn(
                "journey segments",
                journeys.clone().run_segments(stop.clone()),
            ),
            Loop::spawn("scheduler", scheduler.run(stop.clone())),
            Loop::spawn(
                "hourly statistics rollup",
                self.clone()
                    .run_rollup(self.inner.settings.stats_rollup, stop.clone()),
            ),
        ];
        for name in journeys::RUNNER_NAMES {
            loops.push(Loop::spawn(name, journeys.clone().run(stop.clone())));
        }
        loops
    }
}
