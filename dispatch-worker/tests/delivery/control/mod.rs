//! Delivery control through real worker processes against HTTP vendor stand-ins: the rate limit
//! holds in total across workers, a throttling answer pauses every worker, and a channel fails
//! over to its secondary provider and back. Figures are measured from the stand-ins' request
//! timestamps and printed (`--nocapture`).

mod cost;
mod failover;
mod gates;
mod rate;
mod throttle;

use std::time::{Duration, Instant};

use testkit::vendor::{Arrival, HttpVendor};
use testkit::{TestApp, amqp_url};

use crate::common::{Process, worker_args, worker_process};

/// Starts `n` worker processes with `extra` flags.
fn workers(app: &TestApp, extra: &[String], n: usize) -> Vec<Process> {
    let args = worker_args(app, &amqp_url(), extra);
    (0..n).map(|_| worker_process(&args, &[])).collect()
}

/// Flags that spread a campaign's jobs over several workers (small prefetch and batches, so
/// the first worker up does not take them all).
fn spread() -> Vec<String> {
    ["--prefetch", "20", "--batch-size", "10"]
        .map(String::from)
        .to_vec()
}

/// The instants of `arrivals`, in order.
fn instants(arrivals: &[Arrival]) -> Vec<Instant> {
    let mut at: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    at.sort();
    at
}

/// Requests per second from the first to the last of `at`.
fn rate(at: &[Instant]) -> f64 {
    match (at.first(), at.last()) {
        (Some(first), Some(last)) if at.len() > 1 => {
            (at.len() - 1) as f64 / last.duration_since(*first).as_secs_f64()
        }
        _ => 0.0,
    }
}

/// The most any interval between two requests holds beyond `limit` × its length: the burst
/// seen at the vendor.
fn excess(at: &[Instant], limit: f64) -> f64 {
    let mut most = 0.0f64;
    for i in 0..at.len() {
        for j in i..at.len() {
            let held = (j - i + 1) as f64;
            let allowed = limit * at[j].duration_since(at[i]).as_secs_f64();
            most = most.max(held - allowed);
        }
    }
    most
}

/// How long after `since` the first request answered `status` reached `vendor`.
fn first_after(vendor: &HttpVendor, since: Instant, status: u16) -> Option<Duration> {
    vendor
        .arrivals()
        .iter()
        .filter(|a| a.at >= since && a.status == status)
        .map(|a| a.at.duration_since(since))
        .min()
}
