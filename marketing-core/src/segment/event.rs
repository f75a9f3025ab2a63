//! Event rules: `{"event", "where"?, "count"?, "within_days"?}` and the property rules of their
//! `where` (JSON ↔ [`EventRule`], [`PropertyRule`]), and the one check of an event name that the
//! rules and the events API share.

use serde_json::{Map, Value, json};

use super::parse::{err, index, key, parse_value_test, string, value_test_json, within_days};
use super::{
    AttrOp, CmpOp, EventCount, EventRule, MAX_CHILDREN, MAX_DEPTH, MAX_EVENT_COUNT,
    MAX_EVENT_NAME_CHARS, PropertyRule, Rule, RuleError,
};

/// What is wrong with `name` as an event name, if anything: 1–[`MAX_EVENT_NAME_CHARS`]
/// characters, not blank, no leading or trailing white space, no NUL. Names are compared
/// exactly, so `" order_paid"` would silently be another event; it is refused instead.
pub fn event_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("must be a non-blank event name".to_owned());
    }
    if name.chars().count() > MAX_EVENT_NAME_CHARS {
        return Some(format!("must be at most {MAX_EVENT_NAME_CHARS} characters"));
    }
    if name.trim() != name {
        return Some("must not start or end with white space".to_owned());
    }
    if name.contains('\0') {
        return Some("must not contain the NUL character (U+0000)".to_owned());
    }
    None
}

/// `{"event": …}` at `path` (its keys already checked against the allowed ones).
pub(super) fn parse_event(
    obj: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<Rule, RuleError> {
    let name_at = key(path, "event");
    let name = string(&obj["event"], &name_at)?;
    if let Some(problem) = event_name_problem(name) {
        return Err(err(&name_at, problem));
    }
    let filter = obj
        .get("where")
        .map(|w| parse_property(w, &key(path, "where"), depth + 1))
        .transpose()?;
    let count = obj
        .get("count")
        .map(|c| parse_count(c, &key(path, "count")))
        .transpose()?;
    let within_days = obj
        .get("within_days")
        .map(|d| within_days(d, &key(path, "within_days")))
        .transpose()?;
    Ok(Rule::Event(EventRule {
        name: name.to_owned(),
        filter,
        count,
        within_days,
    }))
}

fn parse_count(v: &Value, path: &str) -> Result<EventCount, RuleError> {
    let Value::Object(obj) = v else {
        return Err(err(path, "expected {\"op\": …, \"value\": …}"));
    };
    if let Some(extra) = obj.keys().find(|k| !["op", "value"].contains(&k.as_str())) {
        return Err(err(&key(path, extra), "unknown key in a `count`"));
    }
    let op_at = key(path, "op");
    let op = string(obj.get("op").ok_or_else(|| err(&op_at, "missing"))?, &op_at)?;
    let op = CmpOp::parse(op).ok_or_else(|| {
        err(
            &op_at,
            format!("unknown operator `{op}`; expected =, !=, <, <=, >, >="),
        )
    })?;
    let value_at = key(path, "value");
    let value = obj
        .get("value")
        .ok_or_else(|| err(&value_at, "missing"))?
        .as_u64()
        .filter(|n| *n <= u64::from(MAX_EVENT_COUNT))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            err(
                &value_at,
                format!("expected a whole number 0 to {MAX_EVENT_COUNT}"),
            )
        })?;
    Ok(EventCount { op, value })
}

const PROPERTY_KINDS: &[&str] = &["and", "or", "not", "property"];

/// A property rule at `path`; `depth` continues the enclosing rule's nesting.
pub(super) fn parse_property(
    v: &Value,
    path: &str,
    depth: usize,
) -> Result<PropertyRule, RuleError> {
    if depth > MAX_DEPTH {
        return Err(err(
            path,
            format!("rule nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let Value::Object(obj) = v else {
        return Err(err(path, "expected a property rule object"));
    };
    let mut kinds = PROPERTY_KINDS.iter().filter(|k| obj.contains_key(**k));
    let Some(kind) = kinds.next() else {
        return Err(err(
            path,
            format!(
                "expected one of the keys {} (a `where` tests the event's properties only)",
                PROPERTY_KINDS.join(", ")
            ),
        ));
    };
    if let Some(other) = kinds.next() {
        return Err(err(
            &key(path, other),
            format!("a rule has one kind; `{kind}` and `{other}` both given"),
        ));
    }
    let allowed: &[&str] = match *kind {
        "property" => &["property", "op", "value"],
        _ => &[kind],
    };
    if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(err(
            &key(path, extra),
            format!("unknown key in a `{kind}` rule"),
        ));
    }
    let at = key(path, kind);
    match *kind {
        "and" | "or" => {
            let Value::Array(items) = &obj[*kind] else {
                return Err(err(&at, "expected an array of rules"));
            };
            if items.is_empty() || items.len() > MAX_CHILDREN {
                return Err(err(
                    &at,
                    format!("expected 1 to {MAX_CHILDREN} rules, got {}", items.len()),
                ));
            }
            let children = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_property(item, &index(&at, i), depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if *kind == "and" {
                PropertyRule::And(children)
            } else {
                PropertyRule::Or(children)
            })
        }
        "not" => Ok(PropertyRule::Not(Box::new(parse_property(
            &obj["not"],
            &at,
            depth + 1,
        )?))),
        _ => {
            let (path, op) = parse_value_test(obj, path, "property")?;
            Ok(PropertyRule::Test { path, op })
        }
    }
}

impl PropertyRule {
    /// Parses a property rule on its own (an event trigger's `where`), rooted at `where`. The
    /// same limits as in a segment rule apply: depth, children, list sizes and the whole
    /// rule's node and value budget.
    pub fn parse(v: &Value) -> Result<PropertyRule, RuleError> {
        let rule = parse_property(v, "where", 1)?;
        let (nodes, values) = rule.size();
        if nodes > super::MAX_NODES || values > super::MAX_VALUES {
            return Err(err(
                "where",
                format!(
                    "the rule has {nodes} nodes and {values} list values; at most {} and {} are allowed",
                    super::MAX_NODES,
                    super::MAX_VALUES
                ),
            ));
        }
        Ok(rule)
    }

    /// How many nodes the rule has and how many list entries its tests hold.
    pub fn size(&self) -> (usize, usize) {
        match self {
            PropertyRule::And(children) | PropertyRule::Or(children) => {
                children.iter().fold((1, 0), |(n, v), child| {
                    let (cn, cv) = child.size();
                    (n + cn, v + cv)
                })
            }
            PropertyRule::Not(child) => {
                let (n, v) = child.size();
                (n + 1, v)
            }
            PropertyRule::Test {
                op: AttrOp::In(vs), ..
            } => (1, vs.len()),
            PropertyRule::Test { .. } => (1, 0),
        }
    }

    /// The rule as JSON, in the syntax [`PropertyRule::parse`] reads.
    pub fn to_json(&self) -> Value {
        match self {
            PropertyRule::And(children) => {
                json!({"and": children.iter().map(PropertyRule::to_json).collect::<Vec<_>>()})
            }
            PropertyRule::Or(children) => {
                json!({"or": children.iter().map(PropertyRule::to_json).collect::<Vec<_>>()})
            }
            PropertyRule::Not(child) => json!({"not": child.to_json()}),
            PropertyRule::Test { path, op } => value_test_json("property", path, op),
        }
    }
}

impl EventRule {
    /// The rule as JSON; absent parts are left out.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("event".to_owned(), Value::String(self.name.clone()));
        if let Some(filter) = &self.filter {
            obj.insert("where".to_owned(), filter.to_json());
        }
        if let Some(count) = self.count {
            obj.insert(
                "count".to_owned(),
                json!({"op": count.op.as_str(), "value": count.value}),
            );
        }
        if let Some(days) = self.within_days {
            obj.insert("within_days".to_owned(), json!(days));
        }
        Value::Object(obj)
    }
}
