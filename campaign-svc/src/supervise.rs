//! Supervision of the background loops (the relay, the scheduler): a loop that stops while the
//! service is not shutting down, or panics, is a failure the process must not hide. Readiness
//! turns 503 at once ([`Health`]) and the application stops serving and exits with an error, so
//! Kubernetes restarts it, instead of answering requests while nothing is published.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A named background loop.
pub struct Loop {
    pub name: &'static str,
    handle: JoinHandle<()>,
}

impl Loop {
    /// Spawns `body` as the loop `name`.
    pub fn spawn(name: &'static str, body: impl Future<Output = ()> + Send + 'static) -> Self {
        Loop {
            name,
            handle: tokio::spawn(body),
        }
    }
}

/// Whether every background loop still runs; read by the readiness probe.
#[derive(Debug, Clone, Default)]
pub struct Health {
    failed: Arc<Mutex<Option<String>>>,
}

impl Health {
    /// What stopped, if anything did.
    pub fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn fail(&self, what: String) {
        let mut failed = self
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        failed.get_or_insert(what);
    }
}

/// Waits for `loops` to end. Once `stop` is true they are expected to end: `Ok` when all have.
/// One ending (or panicking) before that marks `health` failed and returns the error naming it.
pub async fn supervise(
    loops: Vec<Loop>,
    stop: watch::Receiver<bool>,
    health: Health,
) -> anyhow::Result<()> {
    let mut running: Vec<(&'static str, JoinHandle<()>)> =
        loops.into_iter().map(|l| (l.name, l.handle)).collect();
    while !running.is_empty() {
        let (ended, index, _) =
            futures::future::select_all(running.iter_mut().map(|(_, handle)| handle)).await;
        let (name, _) = running.swap_remove(index);
        if *stop.borrow() {
            continue;
        }
        let what = match ended {
            Ok(()) => format!("the {name} loop stopped"),
            Err(e) if e.is_panic() => format!("the {name} loop panicked"),
            Err(e) => format!("the {name} loop was cancelled: {e}"),
        };
        tracing::error!(
            loop_name = name,
            "{what}; readiness is off and the process exits"
        );
        health.fail(what.clone());
        for (_, handle) in &running {
            handle.abort();
        }
        anyhow::bail!(what);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_loop_that_dies_turns_readiness_off_and_is_an_error() {
        let (_stop_tx, stop) = watch::channel(false);
        let health = Health::default();
        let forever = Loop::spawn("relay", std::future::pending());
        let dies = Loop::spawn("scheduler", async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            panic!("a bug");
        });
        let err = supervise(vec![forever, dies], stop, health.clone())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the scheduler loop panicked");
        assert_eq!(
            health.failure().as_deref(),
            Some("the scheduler loop panicked")
        );

        let (_stop_tx, stop) = watch::channel(false);
        let health = Health::default();
        let ends = Loop::spawn("relay", async {});
        let err = supervise(vec![ends], stop, health.clone())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the relay loop stopped");
        assert!(health.failure().is_some());
    }

    #[tokio::test]
    async fn loops_ending_on_shutdown_are_fine() {
        let (stop_tx, stop) = watch::channel(false);
        let health = Health::default();
        let mut rx = stop.clone();
        let stops = Loop::spawn("relay", async move {
            let _ = rx.wait_for(|s| *s).await;
        });
        let supervised = tokio::spawn(supervise(vec![stops], stop, health.clone()));
        stop_tx.send(true).unwrap();
        supervised.await.unwrap().unwrap();
        assert_eq!(health.failure(), None);
    }
}
