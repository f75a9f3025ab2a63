//! Where the machine's CPU went during a measured span, read from `/proc` (Linux only; elsewhere
//! the breakdown is reported as unavailable). Rates on a shared box drift by ±20% between runs;
//! CPU time per message by component moves far less, so it is what tells whether a change made
//! a component cheaper.

use std::collections::HashMap;

use diesel::QueryableByName;
use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on Linux whatever the
/// kernel's own tick rate).
const TICKS: f64 = 100.0;

/// CPU seconds (user + system) a process has used so far.
fn process_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS)
}

/// Busy CPU seconds of the whole machine (every state but idle and iowait), and its CPU count.
fn machine_seconds() -> Option<(f64, usize)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    let total = stat.lines().next()?;
    let ticks: Vec<f64> = total
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice: guest time is already
    // counted in user and nice.
    const BUSY: [usize; 6] = [0, 1, 2, 5, 6, 7];
    let busy: f64 = BUSY.iter().filter_map(|&i| ticks.get(i)).sum();
    Some((busy / TICKS, cpus))
}

/// The RabbitMQ node's processes (Erlang VM), found by name.
fn broker_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end().starts_with("beam"))
        })
        .collect()
}

/// CPU seconds used so far by the broker and by this process (`None` without `/proc`).
pub fn broker_and_self() -> Option<(f64, f64)> {
    let broker = broker_pids().into_iter().filter_map(process_seconds).sum();
    Some((broker, process_seconds(std::process::id())?))
}

/// The broker's and this process's CPU per message (µs) since `before`, a [`broker_and_self`]
/// reading.
pub fn broker_and_self_per_message(
    before: Option<(f64, f64)>,
    messages: u64,
) -> Option<(f64, f64)> {
    let per_msg = |s: f64| s * 1e6 / messages.max(1) as f64;
    before
        .zip(broker_and_self())
        .map(|((b0, c0), (b1, c1))| (per_msg(b1 - b0), per_msg(c1 - c0)))
}

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = Integer)]
    pid: i32,
    #[diesel(sql_type = Text)]
    name: String,
}

/// CPU seconds used so far, by component.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Per process id: (component, CPU seconds).
    processes: HashMap<u32, (String, f64)>,
    machine: Option<(f64, usize)>,
}

/// Reads the CPU used so far by the broker, by `services` (name, pid) and by the PostgreSQL
/// sessions on database `db` (named after their `application_name`, the process connecting).
pub async fn snapshot(
    conn: &mut AsyncPgConnection,
    db: &str,
    services: &[(String, u32)],
) -> Snapshot {
    let mut processes = HashMap::new();
    for pid in broker_pids() {
        if let Some(s) = process_seconds(pid) {
            processes.insert(pid, ("broker".to_owned(), s));
        }
    }
    for (name, pid) in services {
        if let Some(s) = process_seconds(*pid) {
            // `dispatch-worker #1` → `dispatch-worker`: one figure for all replicas.
            let component = name.split(" #").next().unwrap_or(name).to_owned();
            processes.insert(*pid, (component, s));
        }
    }
    let backends: Vec<Backend> = diesel::sql_query(
        "SELECT pid, application_name AS name FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind::<Text, _>(db)
    .load(conn)
    .await
    .unwrap_or_default();
    for b in backends {
        let Ok(pid) = u32::try_from(b.pid) else {
            continue;
        };
        if let Some(s) = process_seconds(pid) {
            // `dispatch-worker-1` → `dispatch-worker`.
            let owner = b
                .name
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .trim_end_matches('-');
            processes.insert(pid, (format!("PostgreSQL for {owner}"), s));
        }
    }
    Snapshot {
        processes,
        machine: machine_seconds(),
    }
}

/// CPU spent between two snapshots, per message, by component.
pub fn report(before: &Snapshot, after: &Snapshot, messages: u64, wall_seconds: f64) -> String {
    let mut by_component: HashMap<&str, f64> = HashMap::new();
    let mut accounted = 0.0;
    for (pid, (component, end)) in &after.processes {
        let start = before
            .processes
            .get(pid)
            .filter(|(c, _)| c == component)
            .map_or(0.0, |(_, s)| *s);
        let spent = (end - start).max(0.0);
        *by_component.entry(component.as_str()).or_default() += spent;
        accounted += spent;
    }
    let per_msg = |seconds: f64| seconds * 1e6 / messages.max(1) as f64;
    let mut parts: Vec<(&str, f64)> = by_component.into_iter().collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut line: Vec<String> = parts
        .iter()
        .map(|(c, s)| format!("{c} {:.1}", per_msg(*s)))
        .collect();
    if let (Some((b0, cpus)), Some((b1, _))) = (before.machine, after.machine) {
        let busy = b1 - b0;
        // Process and machine times are counted in separate clock ticks: a remainder within
        // their resolution can come out slightly below zero.
        let rest = (busy - accounted).max(0.0);
        line.push(format!("everything else {:.1}", per_msg(rest)));
        line.push(format!(
            "total {:.1} µs; the machine was {:.0}% busy ({cpus} CPUs)",
            per_msg(busy),
            100.0 * busy / (wall_seconds * cpus as f64)
        ));
    }
    line.join(", ")
}
