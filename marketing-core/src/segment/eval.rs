//! The in-memory evaluator: the reference meaning of a rule, which the compiled SQL must match.
//!
//! Numbers compare exactly when both are integers and as `f64` otherwise, so it agrees with
//! PostgreSQL's exact `numeric` for every value an `f64` holds exactly.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike as _, NaiveDate, TimeDelta, Utc};
use serde_json::{Number, Value};
use uuid::Uuid;

use super::{
    AttrOp, CmpOp, EngagementKind, EventRule, LocaleTest, MonthTest, PropertyRule, Rule, Scalar,
};

/// What a rule can ask about one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerFacts {
    pub tags: Vec<String>,
    pub attributes: Value,
    pub created_at: DateTime<Utc>,
    pub locale: Option<String>,
    pub birthday: Option<NaiveDate>,
    /// IANA name; `None` or a name not known is UTC.
    pub time_zone: Option<String>,
    pub engagements: Vec<Engagement>,
    pub events: Vec<CustomerEvent>,
}

/// One of the customer's events.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerEvent {
    pub name: String,
    pub properties: Value,
    pub occurred_at: DateTime<Utc>,
}

/// The customer's record of one campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Engagement {
    pub campaign_id: Uuid,
    pub sent_at: Option<DateTime<Utc>>,
    pub opened_at: Option<DateTime<Utc>>,
    pub clicked_at: Option<DateTime<Utc>>,
}

/// Whether customer `c` matches `rule` at time `now`.
pub fn evaluate(rule: &Rule, c: &CustomerFacts, now: DateTime<Utc>) -> bool {
    match rule {
        Rule::And(children) => children.iter().all(|r| evaluate(r, c, now)),
        Rule::Or(children) => children.iter().any(|r| evaluate(r, c, now)),
        Rule::Not(child) => !evaluate(child, c, now),
        Rule::Tag(t) => c.tags.contains(t),
        Rule::TagsAny(ts) => ts.iter().any(|t| c.tags.contains(t)),
        Rule::TagsAll(ts) => ts.iter().all(|t| c.tags.contains(t)),
        Rule::Attribute { path, op } => attribute(lookup(&c.attributes, path), op),
        Rule::CreatedAt(op, at) => op.holds(c.created_at.cmp(at)),
        Rule::Locale(test) => c.locale.as_deref().is_some_and(|l| match test {
            LocaleTest::Eq(x) => l == x,
            LocaleTest::Ne(x) => l != x,
            LocaleTest::In(xs) => xs.iter().any(|x| x == l),
            LocaleTest::Prefix(p) => l.starts_with(p.as_str()),
        }),
        Rule::BirthdayMonth(test) => c.birthday.is_some_and(|b| {
            let month = b.month();
            match test {
                MonthTest::Compare(op, m) => op.holds(month.cmp(&u32::from(*m))),
                MonthTest::In(ms) => ms.iter().any(|m| u32::from(*m) == month),
            }
        }),
        Rule::Engagement {
            kind,
            campaign_id,
            within_days,
        } => {
            let since = now - TimeDelta::hours(24 * i64::from(*within_days));
            let recent = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t >= since);
            c.engagements
                .iter()
                .filter(|e| e.campaign_id == *campaign_id)
                .any(|e| match kind {
                    EngagementKind::Received => recent(e.sent_at),
                    EngagementKind::Opened => recent(e.opened_at) || recent(e.clicked_at),
                    EngagementKind::Clicked => recent(e.clicked_at),
                })
        }
        Rule::Event(event) => events(event, c, now),
        // Only a journey's branch tests a step's message, in SQL against its enrollment.
        Rule::StepEngagement { .. } | Rule::Segment(_) => false,
        Rule::BirthdayToday => c.birthday.is_some_and(|b| {
            let zone = c
                .time_zone
                .as_deref()
                .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
                .unwrap_or(chrono_tz::UTC);
            is_birthday(b, now.with_timezone(&zone).date_naive())
        }),
    }
}

/// Whether `today` is the birthday `born`; 29 February is celebrated on 28 February in years
/// without one.
fn is_birthday(born: NaiveDate, today: NaiveDate) -> bool {
    let same = (born.month(), born.day()) == (today.month(), today.day());
    let leap_day_moved = (born.month(), born.day()) == (2, 29)
        && (today.month(), today.day()) == (2, 28)
        && today.succ_opt().is_some_and(|next| next.month() == 3);
    same || leap_day_moved
}

fn events(rule: &EventRule, c: &CustomerFacts, now: DateTime<Utc>) -> bool {
    let since = rule
        .within_days
        .map(|d| now - TimeDelta::hours(24 * i64::from(d)));
    let n = c
        .events
        .iter()
        .filter(|e| e.name == rule.name)
        .filter(|e| since.is_none_or(|s| e.occurred_at >= s))
        .filter(|e| {
            rule.filter
                .as_ref()
                .is_none_or(|f| evaluate_properties(f, &e.properties))
        })
        .count() as u64;
    match rule.count {
        Some(count) => count.holds(n),
        None => n > 0,
    }
}

/// Whether an event's `properties` match `rule` (the meaning of a `where`).
pub fn evaluate_properties(rule: &PropertyRule, properties: &Value) -> bool {
    match rule {
        PropertyRule::And(children) => children.iter().all(|r| evaluate_properties(r, properties)),
        PropertyRule::Or(children) => children.iter().any(|r| evaluate_properties(r, properties)),
        PropertyRule::Not(child) => !evaluate_properties(child, properties),
        PropertyRule::Test { path, op } => attribute(lookup(properties, path), op),
    }
}

/// The value at `path`, walking objects only; JSON `null` counts as missing.
fn lookup<'v>(attributes: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter()
        .try_fold(attributes, |v, key| v.as_object()?.get(key))
        .filter(|v| !v.is_null())
}

fn attribute(value: Option<&Value>, op: &AttrOp) -> bool {
    let Some(v) = value else {
        return false;
    };
    match op {
        AttrOp::Exists => true,
        AttrOp::Compare(CmpOp::Eq, s) => equals(v, s),
        AttrOp::Compare(CmpOp::Ne, s) => !equals(v, s),
        AttrOp::Compare(op, s) => match (v, s) {
            (Value::Number(a), Scalar::Number(b)) => op.holds(compare_numbers(a, b)),
            (Value::String(a), Scalar::String(b)) => op.holds(a.as_bytes().cmp(b.as_bytes())),
            _ => false,
        },
        AttrOp::In(values) => values.iter().any(|s| equals(v, s)),
        AttrOp::Contains(s) => match (v, s) {
            (Value::Array(items), _) => items.iter().any(|item| equals(item, s)),
            (Value::String(a), Scalar::String(b)) => a.contains(b.as_str()),
            _ => false,
        },
    }
}

/// Same JSON type and value; numbers numerically (`1` equals `1.0`).
fn equals(v: &Value, s: &Scalar) -> bool {
    match (v, s) {
        (Value::String(a), Scalar::String(b)) => a == b,
        (Value::Bool(a), Scalar::Bool(b)) => a == b,
        (Value::Number(a), Scalar::Number(b)) => compare_numbers(a, b) == Ordering::Equal,
        _ => false,
    }
}

fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    // JSON has no NaN, so every pair is ordered.
    let x = a.as_f64().unwrap_or(0.0);
    let y = b.as_f64().unwrap_or(0.0);
    x.partial_cmp(&y).unwrap_or(Ordering::Equal)
}
