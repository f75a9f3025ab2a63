//! Customer journeys as validated domain values: the definition a client saves (entry, steps,
//! re-entry, goal), checked as a graph when saved, and the journey as callers see it.
//!
//! A definition is `{"entry": {"kind": "event" | "segment" | "manual", "event"?, "where"?,
//! "segment_id"?}, "start": "<step id>", "steps": {"<step id>": {"type": …, …}}, "re_entry":
//! "never" | {"cooldown_hours": N}, "goal"?: {"event", "where"?}}` (SPEC §6). Steps: `send`
//! (`channel`, `content` | `template_id`, `next`?), `wait` (`duration_seconds` |
//! `until_local_time`, `next`?), `wait_for_event` (`event`, `where`?, `timeout_seconds`,
//! `on_event`, `on_timeout`), `branch` (`rule`, `then`, `else`), `split` (`branches: [{"weight",
//! "next"}]`), `exit`. A send or wait without `next` ends the journey there (the customer
//! completed it). Every `next` must name a step, every step must be reachable from `start`, and a
//! cycle must pass through a wait or a wait-for-event step (else a customer would loop at once).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveTime, Utc};
use marketing_core::segment::{PropertyRule, Rule, RuleError, event_name_problem};
use marketing_core::vocabulary::Channel;
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::campaign::{CampaignName, parse_content};
use super::parse_word;
use crate::error::{Error, Result};

/// Most steps in a journey.
pub const MAX_STEPS: usize = 100;
/// Longest step id, in characters.
pub const MAX_STEP_ID_CHARS: usize = 64;
/// Longest wait or wait-for-event timeout (366 days).
pub const MAX_WAIT_SECS: i64 = 366 * 24 * 3600;
/// Longest re-entry cooldown (one year and a day).
pub const MAX_REENTRY_COOLDOWN_HOURS: i64 = 366 * 24;
/// Most branches of a split.
pub const MAX_SPLIT_BRANCHES: usize = 10;

/// How customers enter a journey.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Each event of this name (whose properties pass `where`) brings its customer in.
    Event {
        event: String,
        where_rule: Option<PropertyRule>,
    },
    /// Everyone matching the segment when the journey is activated, then each customer who
    /// starts to match.
    Segment { segment_id: Uuid },
    /// Customers are entered by `POST …/journeys/:id/enroll`.
    Manual,
}

/// Whether a customer who left the journey may enter it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReEntry {
    Never,
    /// Again once this many hours have passed since their last entry.
    CooldownHours(i64),
}

/// An event that ends the journey for the customer as converted.
#[derive(Debug, Clone)]
pub struct Goal {
    pub event: String,
    pub where_rule: Option<PropertyRule>,
}

/// One step of a journey.
#[derive(Debug, Clone)]
pub enum Step {
    Send {
        channel: Channel,
        content: Option<String>,
        template_id: Option<Uuid>,
        next: Option<String>,
    },
    Wait {
        wait: WaitFor,
        next: Option<String>,
    },
    WaitForEvent {
        event: String,
        where_rule: Option<PropertyRule>,
        timeout_seconds: i64,
        on_event: String,
        on_timeout: String,
    },
    Branch {
        rule: Rule,
        then: String,
        otherwise: String,
    },
    Split {
        /// `(weight, next)`, weights 1–100.
        branches: Vec<(u32, String)>,
    },
    Exit,
}

/// How long a wait step holds a customer.
#[derive(Debug, Clone, Copy)]
pub enum WaitFor {
    Seconds(i64),
    /// Until the next time the customer's clock shows this time (their time zone, else UTC).
    LocalTime(NaiveTime),
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Send { .. } => "send",
            Step::Wait { .. } => "wait",
            Step::WaitForEvent { .. } => "wait_for_event",
            Step::Branch { .. } => "branch",
            Step::Split { .. } => "split",
            Step::Exit => "exit",
        }
    }

    /// The steps this one leads to.
    pub fn successors(&self) -> Vec<&str> {
        match self {
            Step::Send { next, .. } | Step::Wait { next, .. } => {
                next.as_deref().into_iter().collect()
            }
            Step::WaitForEvent {
                on_event,
                on_timeout,
                ..
            } => vec![on_event, on_timeout],
            Step::Branch {
                then, otherwise, ..
            } => vec![then, otherwise],
            Step::Split { branches } => branches.iter().map(|(_, n)| n.as_str()).collect(),
            Step::Exit => Vec::new(),
        }
    }

    /// Whether the step holds a customer for a while (a cycle must pass through one).
    fn holds(&self) -> bool {
        matches!(self, Step::Wait { .. } | Step::WaitForEvent { .. })
    }
}

/// A journey definition with every rule checked. `json` is its canonical form (what is stored
/// and returned).
#[derive(Debug, Clone)]
pub struct Definition {
    pub entry: Entry,
    pub start: String,
    pub steps: BTreeMap<String, Step>,
    pub re_entry: ReEntry,
    pub goal: Option<Goal>,
    pub json: Value,
}

impl Definition {
    /// Reads a definition (the journey's fields but `name`), naming the bad field
    /// (`steps.welcome.next`).
    pub fn parse(obj: &Map<String, Value>) -> Result<Self> {
        let entry_json = obj
            .get("entry")
            .ok_or_else(|| Error::invalid("entry", "is required"))?;
        let entry = parse_entry(entry_json)?;
        let start = match obj.get("start") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(Error::invalid("start", "must be a step id")),
            None => return Err(Error::invalid("start", "is required")),
        };
        let Some(Value::Object(steps_json)) = obj.get("steps") else {
            return Err(Error::invalid(
                "steps",
                "is required: an object of steps keyed by their ids",
            ));
        };
        if steps_json.is_empty() || steps_json.len() > MAX_STEPS {
            return Err(Error::invalid(
                "steps",
                format!("must hold 1 to {MAX_STEPS} steps"),
            ));
        }
        let mut steps = BTreeMap::new();
        for (id, step) in steps_json {
            check_step_id(id)?;
            steps.insert(id.clone(), parse_step(&format!("steps.{id}"), step)?);
        }
        let re_entry = parse_re_entry(obj.get("re_entry"))?;
        let goal = match obj.get("goal") {
            None | Some(Value::Null) => None,
            Some(g) => Some(parse_goal(g)?),
        };
        let def = Definition {
            entry,
            start,
            steps,
            re_entry,
            goal,
            json: Value::Null,
        };
        def.check_graph()?;
        let json = def.to_json(entry_json, steps_json, obj.get("goal"));
        Ok(Definition { json, ..def })
    }

    /// Every target exists, every step is reachable from `start`, every cycle holds the customer
    /// somewhere, and branch rules only test send steps.
    fn check_graph(&self) -> Result<()> {
        if !self.steps.contains_key(&self.start) {
            return Err(Error::invalid(
                "start",
                format!("no step `{}` in steps", self.start),
            ));
        }
        for (id, step) in &self.steps {
            for (field, target) in targets(step) {
                if !self.steps.contains_key(target) {
                    return Err(Error::invalid(
                        format!("steps.{id}.{field}"),
                        format!("no step `{target}` in steps"),
                    ));
                }
            }
            if let Step::Branch { rule, .. } = step {
                for engaged in rule.engaged_steps() {
                    if !matches!(self.steps.get(engaged), Some(Step::Send { .. })) {
                        return Err(Error::invalid(
                            format!("steps.{id}.rule"),
                            format!("`{engaged}` is not a send step of this journey"),
                        ));
                    }
                }
            }
        }
        let mut seen = BTreeSet::new();
        let mut todo = vec![self.start.as_str()];
        while let Some(id) = todo.pop() {
            if seen.insert(id) {
                todo.extend(self.steps[id].successors());
            }
        }
        if let Some(id) = self.steps.keys().find(|id| !seen.contains(id.as_str())) {
            return Err(Error::invalid(
                format!("steps.{id}"),
                format!("is not reachable from `start` ({})", self.start),
            ));
        }
        if let Some(cycle) = self.cycle_without_hold() {
            return Err(Error::invalid(
                format!("steps.{}", cycle[0]),
                format!(
                    "is on a cycle without a wait ({}): a customer would loop at once",
                    cycle.join(" → ")
                ),
            ));
        }
        Ok(())
    }

    /// A cycle through steps that do not hold the customer, if there is one.
    fn cycle_without_hold(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> =
            self.steps.keys().map(|k| (k.as_str(), Mark::New)).collect();
        for root in self.steps.keys() {
            if marks[root.as_str()] != Mark::New || self.steps[root].holds() {
                continue;
            }
            // Iterative depth-first search over steps that do not hold.
            let mut path: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
            marks.insert(root.as_str(), Mark::Open);
            while let Some((id, i)) = path.last().copied() {
                let next = self.steps[id].successors();
                if i >= next.len() {
                    marks.insert(id, Mark::Done);
                    path.pop();
                    continue;
                }
                if let Some(top) = path.last_mut() {
                    top.1 += 1;
                }
                let n = next[i];
                if self.steps[n].holds() {
                    continue;
                }
                match marks[n] {
                    Mark::Open => {
                        let from = path.iter().position(|(p, _)| *p == n).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[from..].iter().map(|(p, _)| (*p).to_owned()).collect();
                        cycle.push(n.to_owned());
                        return Some(cycle);
                    }
                    Mark::New => {
                        marks.insert(n, Mark::Open);
                        path.push((n, 0));
                    }
                    Mark::Done => {}
                }
            }
        }
        None
    }

    fn to_json(&self, entry: &Value, steps: &Map<String, Value>, goal: Option<&Value>) -> Value {
        let mut out = Map::new();
        out.insert("entry".into(), entry.clone());
        out.insert("start".into(), Value::String(self.start.clone()));
        out.insert("steps".into(), Value::Object(steps.clone()));
        out.insert(
            "re_entry".into(),
            match self.re_entry {
                ReEntry::Never => json!("never"),
                ReEntry::CooldownHours(h) => json!({"cooldown_hours": h}),
            },
        );
        if let Some(goal) = goal.filter(|g| !g.is_null()) {
            out.insert("goal".into(), goal.clone());
        }
        Value::Object(out)
    }

    /// Every event name the definition listens to (entry, wait-for-event steps, goal).
    pub fn event_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        if let Entry::Event { event, .. } = &self.entry {
            names.insert(event.clone());
        }
        for step in self.steps.values() {
            if let Step::WaitForEvent { event, .. } = step {
                names.insert(event.clone());
            }
        }
        if let Some(goal) = &self.goal {
            names.insert(goal.event.clone());
        }
        names
    }

    /// Reads a stored definition back.
    pub fn stored(v: &Value) -> Result<Self> {
        let Value::Object(obj) = v else {
            return Err(Error::Internal(anyhow::anyhow!(
                "stored journey definition is not an object"
            )));
        };
        Self::parse(obj)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored journey definition: {e}")))
    }
}

/// The targets of a step with the field naming each.
fn targets(step: &Step) -> Vec<(String, &str)> {
    match step {
        Step::Send { next, .. } | Step::Wait { next, .. } => next
            .as_deref()
            .map(|n| ("next".to_owned(), n))
            .into_iter()
            .collect(),
        Step::WaitForEvent {
            on_event,
            on_timeout,
            ..
        } => vec![
            ("on_event".to_owned(), on_event.as_str()),
            ("on_timeout".to_owned(), on_timeout.as_str()),
        ],
        Step::Branch {
            then, otherwise, ..
        } => vec![
            ("then".to_owned(), then.as_str()),
            ("else".to_owned(), otherwise.as_str()),
        ],
        Step::Split { branches } => branches
            .iter()
            .enumerate()
            .map(|(i, (_, n))| (format!("branches[{i}].next"), n.as_str()))
            .collect(),
        Step::Exit => Vec::new(),
    }
}

fn check_step_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_STEP_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("steps.{id}"),
            format!("a step id is 1 to {MAX_STEP_ID_CHARS} letters, digits, `_` or `-`"),
        ))
    }
}

/// A rule error from the parsers (rooted at `rule` or `where`) re-rooted at `at`.
fn reroot(e: RuleError, root: &str, at: &str) -> Error {
    let path = match e.path.strip_prefix(root) {
        Some(rest) => format!("{at}{rest}"),
        None => format!("{at}.{}", e.path),
    };
    Error::invalid(path, e.message)
}

fn object<'v>(v: &'v Value, at: &str) -> Result<&'v Map<String, Value>> {
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(Error::invalid(at, "must be an object")),
    }
}

fn only_fields(obj: &Map<String, Value>, at: &str, allowed: &[&str]) -> Result<()> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(Error::invalid(
            format!("{at}.{extra}"),
            format!("is not a field here ({})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn string_field<'v>(obj: &'v Map<String, Value>, at: &str, key: &str) -> Result<&'v str> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) => Err(Error::invalid(format!("{at}.{key}"), "must not be empty")),
        Some(_) => Err(Error::invalid(format!("{at}.{key}"), "must be a string")),
        None => Err(Error::invalid(format!("{at}.{key}"), "is required")),
    }
}

fn event_field(obj: &Map<String, Value>, at: &str) -> Result<String> {
    let name = string_field(obj, at, "event")?;
    if let Some(problem) = event_name_problem(name) {
        return Err(Error::invalid(format!("{at}.event"), problem));
    }
    Ok(name.to_owned())
}

fn where_field(obj: &Map<String, Value>, at: &str) -> Result<Option<PropertyRule>> {
    match obj.get("where") {
        None | Some(Value::Null) => Ok(None),
        Some(w) => PropertyRule::parse(w)
            .map(Some)
            .map_err(|e| reroot(e, "where", &format!("{at}.where"))),
    }
}

fn seconds_field(obj: &Map<String, Value>, at: &str, key: &str) -> Result<Option<i64>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|s| (1..=MAX_WAIT_SECS).contains(s))
            .map(Some)
            .ok_or_else(|| {
                Error::invalid(
                    format!("{at}.{key}"),
                    format!("must be a whole number of seconds from 1 to {MAX_WAIT_SECS}"),
                )
            }),
    }
}

fn target_field(obj: &Map<String, Value>, at: &str, key: &str) -> Result<String> {
    string_field(obj, at, key).map(str::to_owned)
}

fn optional_target(obj: &Map<String, Value>, at: &str) -> Result<Option<String>> {
    match obj.get("next") {
        None | Some(Value::Null) => Ok(None),
        Some(_) => target_field(obj, at, "next").map(Some),
    }
}

fn parse_entry(v: &Value) -> Result<Entry> {
    let obj = object(v, "entry")?;
    let kind = string_field(obj, "entry", "kind")?;
    match kind {
        "event" => {
            only_fields(obj, "entry", &["kind", "event", "where"])?;
            Ok(Entry::Event {
                event: event_field(obj, "entry")?,
                where_rule: where_field(obj, "entry")?,
            })
        }
        "segment" => {
            only_fields(obj, "entry", &["kind", "segment_id"])?;
            let id = string_field(obj, "entry", "segment_id")?;
            Ok(Entry::Segment {
                segment_id: super::parse_uuid("entry.segment_id", id)?,
            })
        }
        "manual" => {
            only_fields(obj, "entry", &["kind"])?;
            Ok(Entry::Manual)
        }
        other => Err(Error::invalid(
            "entry.kind",
            format!("unknown entry `{other}`; expected event, segment or manual"),
        )),
    }
}

fn parse_re_entry(v: Option<&Value>) -> Result<ReEntry> {
    match v {
        None | Some(Value::Null) => Ok(ReEntry::Never),
        Some(Value::String(s)) if s == "never" => Ok(ReEntry::Never),
        Some(Value::Object(obj)) => {
            only_fields(obj, "re_entry", &["cooldown_hours"])?;
            obj.get("cooldown_hours")
                .and_then(Value::as_i64)
                .filter(|h| (1..=MAX_REENTRY_COOLDOWN_HOURS).contains(h))
                .map(ReEntry::CooldownHours)
                .ok_or_else(|| {
                    Error::invalid(
                        "re_entry.cooldown_hours",
                        format!(
                            "must be a whole number of hours from 1 to {MAX_REENTRY_COOLDOWN_HOURS}"
                        ),
                    )
                })
        }
        Some(_) => Err(Error::invalid(
            "re_entry",
            "must be \"never\" or {\"cooldown_hours\": N}",
        )),
    }
}

fn parse_goal(v: &Value) -> Result<Goal> {
    let obj = object(v, "goal")?;
    only_fields(obj, "goal", &["event", "where"])?;
    Ok(Goal {
        event: event_field(obj, "goal")?,
        where_rule: where_field(obj, "goal")?,
    })
}

fn parse_step(at: &str, v: &Value) -> Result<Step> {
    let obj = object(v, at)?;
    let kind = string_field(obj, at, "type")?;
    match kind {
        "send" => {
            only_fields(
                obj,
                at,
                &["type", "channel", "content", "template_id", "next"],
            )?;
            let channel =
                parse_word::<Channel>(&format!("{at}.channel"), string_field(obj, at, "channel")?)?;
            let content = match obj.get("content") {
                None | Some(Value::Null) => None,
                Some(Value::String(c)) => Some(parse_content(&format!("{at}.content"), c)?),
                Some(_) => return Err(Error::invalid(format!("{at}.content"), "must be a string")),
            };
            let template_id = match obj.get("template_id") {
                None | Some(Value::Null) => None,
                Some(Value::String(id)) => {
                    Some(super::parse_uuid(&format!("{at}.template_id"), id)?)
                }
                Some(_) => {
                    return Err(Error::invalid(
                        format!("{at}.template_id"),
                        "must be a UUID string",
                    ));
                }
            };
            match (&content, template_id) {
                (Some(c), None) if c.trim().is_empty() => {
                    return Err(Error::invalid(format!("{at}.content"), "must not be empty"));
                }
                (None, None) => {
                    return Err(Error::invalid(
                        format!("{at}.content"),
                        "a send step needs content or template_id",
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        format!("{at}.template_id"),
                        "give content or template_id, not both",
                    ));
                }
                _ => {}
            }
            Ok(Step::Send {
                channel,
                content,
                template_id,
                next: optional_target(obj, at)?,
            })
        }
        "wait" => {
            only_fields(
                obj,
                at,
                &["type", "duration_seconds", "until_local_time", "next"],
            )?;
            let seconds = seconds_field(obj, at, "duration_seconds")?;
            let local = match obj.get("until_local_time") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(
                    NaiveTime::parse_from_str(s, "%H:%M")
                        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
                        .map_err(|_| {
                            Error::invalid(
                                format!("{at}.until_local_time"),
                                format!("`{s}` is not a time of day such as 09:00"),
                            )
                        })?,
                ),
                Some(_) => {
                    return Err(Error::invalid(
                        format!("{at}.until_local_time"),
                        "must be a time of day such as \"09:00\"",
                    ));
                }
            };
            let wait = match (seconds, local) {
                (Some(s), None) => WaitFor::Seconds(s),
                (None, Some(t)) => WaitFor::LocalTime(t),
                (None, None) => {
                    return Err(Error::invalid(
                        format!("{at}.duration_seconds"),
                        "a wait needs duration_seconds or until_local_time",
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        format!("{at}.until_local_time"),
                        "give duration_seconds or until_local_time, not both",
                    ));
                }
            };
            Ok(Step::Wait {
                wait,
                next: optional_target(obj, at)?,
            })
        }
        "wait_for_event" => {
            only_fields(
                obj,
                at,
                &[
                    "type",
                    "event",
                    "where",
                    "timeout_seconds",
                    "on_event",
                    "on_timeout",
                ],
            )?;
            Ok(Step::WaitForEvent {
                event: event_field(obj, at)?,
                where_rule: where_field(obj, at)?,
                timeout_seconds: seconds_field(obj, at, "timeout_seconds")?.ok_or_else(|| {
                    Error::invalid(format!("{at}.timeout_seconds"), "is required")
                })?,
                on_event: target_field(obj, at, "on_event")?,
                on_timeout: target_field(obj, at, "on_timeout")?,
            })
        }
        "branch" => {
            only_fields(obj, at, &["type", "rule", "then", "else"])?;
            let rule = obj
                .get("rule")
                .ok_or_else(|| Error::invalid(format!("{at}.rule"), "is required"))?;
            let rule = Rule::parse_in_journey(rule)
                .map_err(|e| reroot(e, "rule", &format!("{at}.rule")))?;
            Ok(Step::Branch {
                rule,
                then: target_field(obj, at, "then")?,
                otherwise: target_field(obj, at, "else")?,
            })
        }
        "split" => {
            only_fields(obj, at, &["type", "branches"])?;
            let Some(Value::Array(items)) = obj.get("branches") else {
                return Err(Error::invalid(
                    format!("{at}.branches"),
                    "is required: [{\"weight\", \"next\"}, …]",
                ));
            };
            if !(2..=MAX_SPLIT_BRANCHES).contains(&items.len()) {
                return Err(Error::invalid(
                    format!("{at}.branches"),
                    format!("must hold 2 to {MAX_SPLIT_BRANCHES} branches"),
                ));
            }
            let mut branches = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let bat = format!("{at}.branches[{i}]");
                let b = object(item, &bat)?;
                only_fields(b, &bat, &["weight", "next"])?;
                let weight = b
                    .get("weight")
                    .and_then(Value::as_u64)
                    .filter(|w| (1..=100).contains(w))
                    .ok_or_else(|| {
                        Error::invalid(
                            format!("{bat}.weight"),
                            "must be a whole number from 1 to 100",
                        )
                    })?;
                branches.push((weight as u32, target_field(b, &bat, "next")?));
            }
            Ok(Step::Split { branches })
        }
        "exit" => {
            only_fields(obj, at, &["type"])?;
            Ok(Step::Exit)
        }
        other => Err(Error::invalid(
            format!("{at}.type"),
            format!(
                "unknown step type `{other}`; expected send, wait, wait_for_event, branch, split or exit"
            ),
        )),
    }
}

/// Journey fields as a transport delivers them.
#[derive(Debug, Clone, Default)]
pub struct JourneyFields {
    pub name: Option<String>,
    /// The whole request object (`entry`, `start`, `steps`, `re_entry`, `goal`).
    pub definition: Map<String, Value>,
}

/// A journey to save: name and definition checked.
#[derive(Debug, Clone)]
pub struct ValidJourney {
    pub name: String,
    pub definition: Definition,
}

/// The fields of a definition.
pub const DEFINITION_FIELDS: [&str; 5] = ["entry", "start", "steps", "re_entry", "goal"];

impl JourneyFields {
    /// From a request body: `name` plus the definition's fields; anything else is refused.
    pub fn from_json(body: Value) -> Result<Self> {
        let Value::Object(mut obj) = body else {
            return Err(Error::invalid("body", "must be a JSON object"));
        };
        let name = match obj.remove("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(Error::invalid("name", "must be a string")),
        };
        if let Some(extra) = obj
            .keys()
            .find(|k| !DEFINITION_FIELDS.contains(&k.as_str()))
        {
            return Err(Error::invalid(
                extra.clone(),
                format!(
                    "is not a field of a journey (name, {})",
                    DEFINITION_FIELDS.join(", ")
                ),
            ));
        }
        Ok(JourneyFields {
            name,
            definition: obj,
        })
    }

    pub fn into_new(self) -> Result<ValidJourney> {
        Ok(ValidJourney {
            name: CampaignName::parse(self.name.as_deref().unwrap_or(""))?
                .as_str()
                .to_owned(),
            definition: Definition::parse(&self.definition)?,
        })
    }

    /// An update: a missing name keeps the old one; definition fields given replace the old
    /// ones, the others are kept.
    pub fn apply(self, name: &str, old: &Value) -> Result<ValidJourney> {
        let mut merged = match old {
            Value::Object(o) => o.clone(),
            _ => Map::new(),
        };
        for (k, v) in self.definition {
            merged.insert(k, v);
        }
        Ok(ValidJourney {
            name: CampaignName::parse(self.name.as_deref().unwrap_or(name))?
                .as_str()
                .to_owned(),
            definition: Definition::parse(&merged)?,
        })
    }
}

/// A journey as callers see it: the current version's definition flattened in.
#[derive(Debug, Clone, Serialize)]
pub struct Journey {
    pub id: Uuid,
    pub name: String,
    pub status: String,
    pub version: i32,
    #[serde(flatten)]
    pub definition: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Definition> {
        let Value::Object(o) = v else { panic!() };
        Definition::parse(&o)
    }

    fn field_of(r: Result<Definition>) -> String {
        match r {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("expected an invalid argument, got {other:?}"),
        }
    }

    fn welcome() -> Value {
        json!({
            "entry": {"kind": "event", "event": "signup"},
            "start": "welcome",
            "steps": {
                "welcome": {"type": "send", "channel": "email", "content": "Hi {{name}}", "next": "wait"},
                "wait": {"type": "wait", "duration_seconds": 86400, "next": "opened"},
                "opened": {"type": "branch", "rule": {"engagement": "opened", "step": "welcome"},
                           "then": "done", "else": "remind"},
                "remind": {"type": "send", "channel": "sms", "content": "Did you see it?"},
                "done": {"type": "exit"}
            }
        })
    }

    #[test]
    fn a_welcome_series_is_valid_and_listens_to_its_events() {
        let d = parse(welcome()).unwrap();
        assert_eq!(d.steps.len(), 5);
        assert_eq!(d.re_entry, ReEntry::Never);
        assert_eq!(d.event_names().into_iter().collect::<Vec<_>>(), ["signup"]);
        assert_eq!(d.json["re_entry"], json!("never"));
    }

    #[test]
    fn unknown_targets_are_named() {
        let mut v = welcome();
        v["steps"]["wait"]["next"] = json!("nowhere");
        assert_eq!(field_of(parse(v)), "steps.wait.next");
        let mut v = welcome();
        v["start"] = json!("nowhere");
        assert_eq!(field_of(parse(v)), "start");
        let mut v = welcome();
        v["steps"]["opened"]["else"] = json!("x");
        assert_eq!(field_of(parse(v)), "steps.opened.else");
    }

    #[test]
    fn unreachable_steps_are_named() {
        let mut v = welcome();
        v["steps"]["orphan"] = json!({"type": "exit"});
        assert_eq!(field_of(parse(v)), "steps.orphan");
    }

    #[test]
    fn a_cycle_needs_a_wait() {
        let v = json!({
            "entry": {"kind": "manual"},
            "start": "a",
            "steps": {
                "a": {"type": "send", "channel": "sms", "content": "x", "next": "b"},
                "b": {"type": "branch", "rule": {"tag": "vip"}, "then": "a", "else": "c"},
                "c": {"type": "exit"}
            }
        });
        let e = parse(v).unwrap_err();
        assert!(e.to_string().contains("cycle without a wait"), "{e}");
        let ok = json!({
            "entry": {"kind": "manual"},
            "start": "a",
            "steps": {
                "a": {"type": "send", "channel": "sms", "content": "x", "next": "w"},
                "w": {"type": "wait", "duration_seconds": 3600, "next": "b"},
                "b": {"type": "branch", "rule": {"tag": "vip"}, "then": "a", "else": "c"},
                "c": {"type": "exit"}
            }
        });
        parse(ok).unwrap();
    }

    #[test]
    fn branch_engagement_must_name_a_send_step() {
        let mut v = welcome();
        v["steps"]["opened"]["rule"] = json!({"engagement": "opened", "step": "wait"});
        assert_eq!(field_of(parse(v)), "steps.opened.rule");
        let mut v = welcome();
        v["steps"]["opened"]["rule"] =
            json!({"and": [{"tag": "a"}, {"engagement": "bogus", "step": "welcome"}]});
        assert_eq!(field_of(parse(v)), "steps.opened.rule.and[1].engagement");
    }

    #[test]
    fn step_fields_are_checked_and_named() {
        let mut v = welcome();
        v["steps"]["wait"] = json!({"type": "wait", "next": "opened"});
        assert_eq!(field_of(parse(v)), "steps.wait.duration_seconds");
        let mut v = welcome();
        v["steps"]["welcome"]["channel"] = json!("fax");
        assert_eq!(field_of(parse(v)), "steps.welcome.channel");
        let mut v = welcome();
        v["steps"]["welcome"]["colour"] = json!("red");
        assert_eq!(field_of(parse(v)), "steps.welcome.colour");
        let mut v = welcome();
        v["steps"]["welcome"]["content"] = json!("{{ unclosed");
        assert_eq!(field_of(parse(v)), "steps.welcome.content");
        let mut v = welcome();
        v["entry"] = json!({"kind": "event"});
        assert_eq!(field_of(parse(v)), "entry.event");
        let mut v = welcome();
        v["re_entry"] = json!({"cooldown_hours": 0});
        assert_eq!(field_of(parse(v)), "re_entry.cooldown_hours");
    }

    #[test]
    fn segments_refuse_journey_step_engagement() {
        let e = Rule::parse(&json!({"engagement": "opened", "step": "welcome"})).unwrap_err();
        assert_eq!(e.path, "rule.step");
    }
}
