//! The in-memory evaluator: the reference meaning of a rule, which the compiled SQL must match.
//!
//! Numbers compare exactly when both are integers and as `f64` otherwise, so it agrees with
//! PostgreSQL's exact `numeric` for every value an `f64` holds exactly.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike as _, NaiveDate, TimeDelta, Utc};
use serde_json::{Number, Value};
use uuid::Uuid;

use super::{AttrOp, CmpOp, EngagementKind, LocaleTest, MonthTest, Rule, Scalar};

/// What a rule can ask about one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerFacts {
    pub tags: Vec<String>,
    pub attributes: Value,
    pub created_at: DateTime<Utc>,
    pub locale: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub engagements: Vec<Engagement>,
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
