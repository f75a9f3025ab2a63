//! JSON ↔ [`Rule`]: a hand-written parser so every error names the JSON path it is about, and
//! the inverse [`Rule::to_json`], which `parse` reads back to the same rule.

use chrono::{DateTime, SecondsFormat, Timelike as _, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    AttrOp, CmpOp, EngagementKind, LocaleTest, MAX_CHILDREN, MAX_DEPTH, MAX_LIST, MAX_NODES,
    MAX_PATH_SEGMENTS, MAX_VALUES, MAX_WITHIN_DAYS, MonthTest, Rule, RuleError, Scalar,
};

/// The keys that name a node's kind.
const KINDS: &[&str] = &[
    "and",
    "or",
    "not",
    "tag",
    "tags_any",
    "tags_all",
    "attribute",
    "field",
    "engagement",
    "event",
    "segment",
];

pub(super) fn err(path: &str, message: impl Into<String>) -> RuleError {
    RuleError {
        path: path.to_owned(),
        message: message.into(),
    }
}

pub(super) fn key(path: &str, k: &str) -> String {
    format!("{path}.{k}")
}

pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

impl Rule {
    /// Parses a rule; errors name the offending place, rooted at `rule`. A rule over the total
    /// budget ([`MAX_NODES`], [`MAX_VALUES`]) is refused as a whole, naming the limit.
    pub fn parse(v: &Value) -> Result<Rule, RuleError> {
        let rule = Self::parse_in_journey(v)?;
        match rule.journey_only_path("rule") {
            Some((path, Rule::StepEngagement { .. })) => Err(err(
                &key(&path, "step"),
                "engagement with a journey step is only for a journey's branch rules",
            )),
            Some((path, _)) => Err(err(
                &key(&path, "segment"),
                "a saved segment as a test is only for a journey's branch rules",
            )),
            None => Ok(rule),
        }
    }

    /// [`Rule::parse`] for a journey's branch: engagement with an earlier send step of the
    /// journey (`{"engagement": "opened", "step": "welcome"}`) is allowed too. The caller checks
    /// that the steps exist ([`Rule::engaged_steps`]).
    pub fn parse_in_journey(v: &Value) -> Result<Rule, RuleError> {
        let rule = parse_node(v, "rule", 1)?;
        let (nodes, values) = rule.size();
        if nodes > MAX_NODES {
            return Err(err(
                "rule",
                format!("the rule has {nodes} nodes; at most {MAX_NODES} (MAX_NODES) are allowed"),
            ));
        }
        if values > MAX_VALUES {
            return Err(err(
                "rule",
                format!(
                    "the rule's lists hold {values} values; at most {MAX_VALUES} (MAX_VALUES) are allowed"
                ),
            ));
        }
        Ok(rule)
    }

    /// Where the first node only a journey's branch may hold is (`rule.and[1]`), if any.
    fn journey_only_path(&self, path: &str) -> Option<(String, &Rule)> {
        match self {
            Rule::And(children) | Rule::Or(children) => {
                let kind = if matches!(self, Rule::And(_)) {
                    "and"
                } else {
                    "or"
                };
                children
                    .iter()
                    .enumerate()
                    .find_map(|(i, child)| child.journey_only_path(&index(&key(path, kind), i)))
            }
            Rule::Not(child) => child.journey_only_path(&key(path, "not")),
            Rule::StepEngagement { .. } | Rule::Segment(_) => Some((path.to_owned(), self)),
            _ => None,
        }
    }

    /// The saved segments the rule tests (a journey's branch).
    pub fn segments(&self) -> Vec<Uuid> {
        match self {
            Rule::And(children) | Rule::Or(children) => {
                children.iter().flat_map(Rule::segments).collect()
            }
            Rule::Not(child) => child.segments(),
            Rule::Segment(id) => vec![*id],
            _ => Vec::new(),
        }
    }

    /// The rule with each saved segment test replaced by that segment's rule (those not in
    /// `rules` are left, matching nobody).
    pub fn with_segments(&self, rules: &std::collections::HashMap<Uuid, Rule>) -> Rule {
        match self {
            Rule::And(children) => {
                Rule::And(children.iter().map(|c| c.with_segments(rules)).collect())
            }
            Rule::Or(children) => {
                Rule::Or(children.iter().map(|c| c.with_segments(rules)).collect())
            }
            Rule::Not(child) => Rule::Not(Box::new(child.with_segments(rules))),
            Rule::Segment(id) => rules.get(id).cloned().unwrap_or(Rule::Segment(*id)),
            other => other.clone(),
        }
    }

    /// The journey send steps whose engagement the rule tests.
    pub fn engaged_steps(&self) -> Vec<&str> {
        match self {
            Rule::And(children) | Rule::Or(children) => {
                children.iter().flat_map(Rule::engaged_steps).collect()
            }
            Rule::Not(child) => child.engaged_steps(),
            Rule::StepEngagement { step, .. } => vec![step.as_str()],
            _ => Vec::new(),
        }
    }

    /// How many nodes the rule has and how many list entries its tests hold.
    pub fn size(&self) -> (usize, usize) {
        match self {
            Rule::And(children) | Rule::Or(children) => {
                children.iter().fold((1, 0), |(n, v), child| {
                    let (cn, cv) = child.size();
                    (n + cn, v + cv)
                })
            }
            Rule::Not(child) => {
                let (n, v) = child.size();
                (n + 1, v)
            }
            Rule::TagsAny(ts) | Rule::TagsAll(ts) => (1, ts.len()),
            Rule::Attribute {
                op: AttrOp::In(vs), ..
            } => (1, vs.len()),
            Rule::Locale(LocaleTest::In(ls)) => (1, ls.len()),
            Rule::BirthdayMonth(MonthTest::In(ms)) => (1, ms.len()),
            Rule::Event(e) => e.filter.as_ref().map_or((1, 0), |f| {
                let (n, v) = f.size();
                (n + 1, v)
            }),
            _ => (1, 0),
        }
    }

    /// The rule as JSON, in the syntax [`Rule::parse`] reads.
    pub fn to_json(&self) -> Value {
        match self {
            Rule::And(children) => {
                json!({"and": children.iter().map(Rule::to_json).collect::<Vec<_>>()})
            }
            Rule::Or(children) => {
                json!({"or": children.iter().map(Rule::to_json).collect::<Vec<_>>()})
            }
            Rule::Not(child) => json!({"not": child.to_json()}),
            Rule::Tag(t) => json!({"tag": t}),
            Rule::TagsAny(ts) => json!({"tags_any": ts}),
            Rule::TagsAll(ts) => json!({"tags_all": ts}),
            Rule::Attribute { path, op } => value_test_json("attribute", path, op),
            Rule::CreatedAt(cmp, at) => json!({
                "field": "created_at",
                "op": cmp.as_str(),
                "value": at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            }),
            Rule::Locale(test) => {
                let (op, value) = match test {
                    LocaleTest::Eq(l) => ("=", json!(l)),
                    LocaleTest::Ne(l) => ("!=", json!(l)),
                    LocaleTest::In(ls) => ("in", json!(ls)),
                    LocaleTest::Prefix(p) => ("prefix", json!(p)),
                };
                json!({"field": "locale", "op": op, "value": value})
            }
            Rule::BirthdayMonth(test) => {
                let (op, value) = match test {
                    MonthTest::Compare(cmp, m) => (cmp.as_str(), json!(m)),
                    MonthTest::In(ms) => ("in", json!(ms)),
                };
                json!({"field": "birthday_month", "op": op, "value": value})
            }
            Rule::Engagement {
                kind,
                campaign_id,
                within_days,
            } => json!({
                "engagement": kind.as_str(),
                "campaign_id": campaign_id.to_string(),
                "within_days": within_days,
            }),
            Rule::Event(e) => e.to_json(),
            Rule::Segment(id) => json!({"segment": id.to_string()}),
            Rule::StepEngagement { kind, step } => json!({
                "engagement": kind.as_str(),
                "step": step,
            }),
            Rule::BirthdayToday => json!({"field": "birthday", "op": "is_today"}),
        }
    }
}

/// `{name_key: "a.b", "op": …, "value"?: …}`: an attribute or property test as JSON.
pub(super) fn value_test_json(name_key: &str, path: &[String], op: &AttrOp) -> Value {
    let name = path.join(".");
    let mut obj = Map::new();
    obj.insert(name_key.to_owned(), Value::String(name));
    let (op, value) = match op {
        AttrOp::Exists => ("exists", None),
        AttrOp::Compare(cmp, v) => (cmp.as_str(), Some(v.to_json())),
        AttrOp::In(vs) => ("in", Some(vs.iter().map(Scalar::to_json).collect())),
        AttrOp::Contains(v) => ("contains", Some(v.to_json())),
    };
    obj.insert("op".to_owned(), Value::String(op.to_owned()));
    if let Some(value) = value {
        obj.insert("value".to_owned(), value);
    }
    Value::Object(obj)
}

pub(super) fn parse_node(v: &Value, path: &str, depth: usize) -> Result<Rule, RuleError> {
    if depth > MAX_DEPTH {
        return Err(err(
            path,
            format!("rule nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let Value::Object(obj) = v else {
        return Err(err(path, "expected a rule object"));
    };
    let mut kinds = KINDS.iter().filter(|k| obj.contains_key(**k));
    let Some(kind) = kinds.next() else {
        return Err(err(
            path,
            format!("expected one of the keys {}", KINDS.join(", ")),
        ));
    };
    if let Some(other) = kinds.next() {
        return Err(err(
            &key(path, other),
            format!("a rule has one kind; `{kind}` and `{other}` both given"),
        ));
    }
    let allowed: &[&str] = match *kind {
        "attribute" | "field" => &[kind, "op", "value"],
        "engagement" if obj.contains_key("step") => &["engagement", "step"],
        "engagement" => &["engagement", "campaign_id", "within_days"],
        "event" => &["event", "where", "count", "within_days"],
        _ => &[kind],
    };
    if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(err(
            &key(path, extra),
            format!("unknown key in a `{kind}` rule"),
        ));
    }
    let at = |k: &str| key(path, k);
    match *kind {
        "and" | "or" => {
            let Value::Array(items) = &obj[*kind] else {
                return Err(err(&at(kind), "expected an array of rules"));
            };
            if items.is_empty() || items.len() > MAX_CHILDREN {
                return Err(err(
                    &at(kind),
                    format!("expected 1 to {MAX_CHILDREN} rules, got {}", items.len()),
                ));
            }
            let children = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_node(item, &index(&at(kind), i), depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if *kind == "and" {
                Rule::And(children)
            } else {
                Rule::Or(children)
            })
        }
        "not" => Ok(Rule::Not(Box::new(parse_node(
            &obj["not"],
            &at("not"),
            depth + 1,
        )?))),
        "tag" => Ok(Rule::Tag(tag(&obj["tag"], &at("tag"))?)),
        "tags_any" => Ok(Rule::TagsAny(tags(&obj["tags_any"], &at("tags_any"))?)),
        "tags_all" => Ok(Rule::TagsAll(tags(&obj["tags_all"], &at("tags_all"))?)),
        "attribute" => parse_attribute(obj, path),
        "field" => parse_field(obj, path),
        "event" => super::event::parse_event(obj, path, depth),
        "segment" => {
            let at = key(path, "segment");
            let id = string(&obj["segment"], &at)?;
            Uuid::parse_str(id)
                .map(Rule::Segment)
                .map_err(|e| err(&at, format!("expected a segment id (UUID): {e}")))
        }
        _ => parse_engagement(obj, path),
    }
}

pub(super) fn string<'v>(v: &'v Value, path: &str) -> Result<&'v str, RuleError> {
    let Value::String(s) = v else {
        return Err(err(path, "expected a string"));
    };
    if s.contains('\0') {
        return Err(err(path, "strings may not contain NUL"));
    }
    Ok(s)
}

pub(super) fn non_blank(v: &Value, path: &str) -> Result<String, RuleError> {
    let s = string(v, path)?;
    if s.trim().is_empty() {
        return Err(err(path, "expected a non-blank string"));
    }
    Ok(s.to_owned())
}

fn tag(v: &Value, path: &str) -> Result<String, RuleError> {
    non_blank(v, path)
}

/// A non-empty, bounded array, each element read by `item`.
pub(super) fn list<T>(
    v: &Value,
    path: &str,
    item: impl Fn(&Value, &str) -> Result<T, RuleError>,
) -> Result<Vec<T>, RuleError> {
    let Value::Array(items) = v else {
        return Err(err(path, "expected an array"));
    };
    if items.is_empty() || items.len() > MAX_LIST {
        return Err(err(
            path,
            format!("expected 1 to {MAX_LIST} values, got {}", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, x)| item(x, &index(path, i)))
        .collect()
}

fn tags(v: &Value, path: &str) -> Result<Vec<String>, RuleError> {
    list(v, path, tag)
}

fn op_of<'v>(obj: &'v Map<String, Value>, path: &str) -> Result<&'v str, RuleError> {
    let at = key(path, "op");
    string(obj.get("op").ok_or_else(|| err(&at, "missing"))?, &at)
}

fn value_of<'v>(obj: &'v Map<String, Value>, path: &str) -> Result<&'v Value, RuleError> {
    obj.get("value")
        .ok_or_else(|| err(&key(path, "value"), "missing"))
}

pub(super) fn scalar(v: &Value, path: &str) -> Result<Scalar, RuleError> {
    match v {
        Value::String(_) => Ok(Scalar::String(string(v, path)?.to_owned())),
        Value::Number(n) => Ok(Scalar::Number(n.clone())),
        Value::Bool(b) => Ok(Scalar::Bool(*b)),
        _ => Err(err(path, "expected a string, a number or a boolean")),
    }
}

fn parse_attribute(obj: &Map<String, Value>, path: &str) -> Result<Rule, RuleError> {
    let (path, op) = parse_value_test(obj, path, "attribute")?;
    Ok(Rule::Attribute { path, op })
}

/// An attribute or property test: the dotted path under `name_key`, the operator and its value.
pub(super) fn parse_value_test(
    obj: &Map<String, Value>,
    path: &str,
    name_key: &str,
) -> Result<(Vec<String>, AttrOp), RuleError> {
    let at = key(path, name_key);
    let name = string(&obj[name_key], &at)?;
    let segments: Vec<String> = name.split('.').map(str::to_owned).collect();
    if segments.iter().any(String::is_empty) {
        return Err(err(
            &at,
            "expected a key or a dotted path of non-empty keys",
        ));
    }
    if segments.len() > MAX_PATH_SEGMENTS {
        return Err(err(
            &at,
            format!("a path has at most {MAX_PATH_SEGMENTS} segments"),
        ));
    }
    let op_name = op_of(obj, path)?;
    let value_at = key(path, "value");
    let op = match op_name {
        "exists" => {
            if obj.contains_key("value") {
                return Err(err(&value_at, "`exists` takes no value"));
            }
            AttrOp::Exists
        }
        "in" => AttrOp::In(list(value_of(obj, path)?, &value_at, scalar)?),
        "contains" => AttrOp::Contains(scalar(value_of(obj, path)?, &value_at)?),
        other => {
            let Some(cmp) = CmpOp::parse(other) else {
                return Err(err(
                    &key(path, "op"),
                    format!(
                        "unknown operator `{other}`; expected =, !=, <, <=, >, >=, in, contains or exists"
                    ),
                ));
            };
            let value = scalar(value_of(obj, path)?, &value_at)?;
            if !matches!(cmp, CmpOp::Eq | CmpOp::Ne) && matches!(value, Scalar::Bool(_)) {
                return Err(err(
                    &value_at,
                    format!("`{other}` needs a number or a string"),
                ));
            }
            AttrOp::Compare(cmp, value)
        }
    };
    Ok((segments, op))
}

fn parse_field(obj: &Map<String, Value>, path: &str) -> Result<Rule, RuleError> {
    let field_at = key(path, "field");
    let op_at = key(path, "op");
    let value_at = key(path, "value");
    let field = string(&obj["field"], &field_at)?;
    let op = op_of(obj, path)?;
    if field == "birthday" {
        if op != "is_today" {
            return Err(err(
                &op_at,
                format!("unknown operator `{op}` for `birthday`; expected is_today"),
            ));
        }
        if obj.contains_key("value") {
            return Err(err(&value_at, "`is_today` takes no value"));
        }
        return Ok(Rule::BirthdayToday);
    }
    let value = value_of(obj, path)?;
    let bad_op = |expected: &str| {
        err(
            &op_at,
            format!("unknown operator `{op}` for `{field}`; expected {expected}"),
        )
    };
    match field {
        "created_at" => {
            let cmp = CmpOp::parse(op).ok_or_else(|| bad_op("=, !=, <, <=, >, >="))?;
            Ok(Rule::CreatedAt(cmp, timestamp(value, &value_at)?))
        }
        "locale" => Ok(Rule::Locale(match op {
            "=" => LocaleTest::Eq(non_blank(value, &value_at)?),
            "!=" => LocaleTest::Ne(non_blank(value, &value_at)?),
            "in" => LocaleTest::In(list(value, &value_at, non_blank)?),
            "prefix" => LocaleTest::Prefix(non_blank(value, &value_at)?),
            _ => return Err(bad_op("=, !=, in, prefix")),
        })),
        "birthday_month" => Ok(Rule::BirthdayMonth(if op == "in" {
            MonthTest::In(list(value, &value_at, month)?)
        } else {
            let cmp = CmpOp::parse(op).ok_or_else(|| bad_op("=, !=, <, <=, >, >=, in"))?;
            MonthTest::Compare(cmp, month(value, &value_at)?)
        })),
        other => Err(err(
            &field_at,
            format!(
                "unknown field `{other}`; expected created_at, locale, birthday_month or birthday"
            ),
        )),
    }
}

/// An RFC 3339 time, cut to microseconds (what PostgreSQL keeps) so the rule means what the
/// database compares.
pub(super) fn timestamp(v: &Value, path: &str) -> Result<DateTime<Utc>, RuleError> {
    let s = string(v, path)?;
    let at = DateTime::parse_from_rfc3339(s)
        .map_err(|e| err(path, format!("expected an RFC 3339 time: {e}")))?
        .with_timezone(&Utc);
    let micros = at.nanosecond() / 1000 * 1000;
    at.with_nanosecond(micros)
        .ok_or_else(|| err(path, "time out of range"))
}

fn month(v: &Value, path: &str) -> Result<u8, RuleError> {
    v.as_u64()
        .filter(|m| (1..=12).contains(m))
        .and_then(|m| u8::try_from(m).ok())
        .ok_or_else(|| err(path, "expected a month number 1 to 12"))
}

fn parse_engagement(obj: &Map<String, Value>, path: &str) -> Result<Rule, RuleError> {
    let kind_at = key(path, "engagement");
    let kind = match string(&obj["engagement"], &kind_at)? {
        "received" => EngagementKind::Received,
        "opened" => EngagementKind::Opened,
        "clicked" => EngagementKind::Clicked,
        other => {
            return Err(err(
                &kind_at,
                format!("unknown engagement `{other}`; expected received, opened or clicked"),
            ));
        }
    };
    if let Some(step) = obj.get("step") {
        let step_at = key(path, "step");
        let step = string(step, &step_at)?;
        if step.is_empty() {
            return Err(err(&step_at, "expected the id of a send step"));
        }
        return Ok(Rule::StepEngagement {
            kind,
            step: step.to_owned(),
        });
    }
    let id_at = key(path, "campaign_id");
    let id = obj
        .get("campaign_id")
        .ok_or_else(|| err(&id_at, "missing"))?;
    let campaign_id = Uuid::parse_str(string(id, &id_at)?)
        .map_err(|e| err(&id_at, format!("expected a UUID: {e}")))?;
    let days_at = key(path, "within_days");
    let days = obj
        .get("within_days")
        .ok_or_else(|| err(&days_at, "missing"))?;
    let within_days = within_days(days, &days_at)?;
    Ok(Rule::Engagement {
        kind,
        campaign_id,
        within_days,
    })
}

/// A window of 1 to [`MAX_WITHIN_DAYS`] days.
pub(super) fn within_days(days: &Value, days_at: &str) -> Result<u16, RuleError> {
    days.as_u64()
        .filter(|d| (1..=u64::from(MAX_WITHIN_DAYS)).contains(d))
        .and_then(|d| u16::try_from(d).ok())
        .ok_or_else(|| {
            err(
                days_at,
                format!("expected a whole number of days 1 to {MAX_WITHIN_DAYS}"),
            )
        })
}
