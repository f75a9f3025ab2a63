//! Segments: the rule language that describes an audience, its parser (JSON → [`Rule`], errors
//! name the JSON path), its compiler to one parameterised SQL boolean expression over
//! `customers c` ([`compile`], [`bind_all`]) and an in-memory evaluator ([`evaluate`]) that is
//! the reference semantics the SQL must agree with (a property test checks they do).
//!
//! # Rule language
//!
//! A rule is a JSON object with exactly one node kind; extra or unknown keys are an error.
//!
//! | node | meaning |
//! | --- | --- |
//! | `{"and": [rule, …]}` | every child matches (1–100 children) |
//! | `{"or": [rule, …]}` | at least one child matches (1–100 children) |
//! | `{"not": rule}` | the child does not match |
//! | `{"tag": "vip"}` | the customer has the tag |
//! | `{"tags_any": ["a", "b"]}` | the customer has at least one of the tags |
//! | `{"tags_all": ["a", "b"]}` | the customer has all of the tags |
//! | `{"attribute": "address.city", "op": "=", "value": "上海"}` | a test on a custom attribute |
//! | `{"field": "created_at", "op": ">=", "value": "2026-01-01T00:00:00Z"}` | sign-up time (RFC 3339) |
//! | `{"field": "locale", "op": "prefix", "value": "zh"}` | the customer's locale |
//! | `{"field": "birthday_month", "op": "=", "value": 6}` | month of the birthday, 1–12 |
//! | `{"engagement": "opened", "campaign_id": "<uuid>", "within_days": 30}` | engagement with a campaign |
//! | `{"event": "order_paid", "where"?: prop-rule, "count"?: {"op": ">=", "value": 3}, "within_days"?: 30}` | the customer's events (default: at least once, any time) |
//! | `{"field": "birthday", "op": "is_today"}` | today is the customer's birthday in their time zone |
//!
//! A `prop-rule` (the `where` of an event rule) is `{"property": "amount", "op": ">", "value": 100}`
//! or `and` / `or` / `not` of such rules; nothing else may appear in it.
//!
//! Nesting is at most 20 levels deep. Tag lists and `in` lists are non-empty (at most 1000
//! entries); tags are non-blank. A whole rule has at most 2,000 nodes and 100,000 list entries. No string may contain a NUL character (PostgreSQL can't store
//! one).
//!
//! **Attributes.** `attribute` is a key of the customer's `attributes` object, or a dotted path
//! into nested objects (`"address.city"`, 1–8 non-empty segments; a path only walks objects, never
//! array indexes, and a key containing a dot can't be addressed). A JSON `null` counts as missing.
//! Values are JSON strings, numbers or booleans. Operators:
//!
//! - `exists` (no `value`): the attribute is present and not `null`.
//! - `=`: the attribute has the same JSON type and value (numbers compare numerically, `1` = `1.0`).
//! - `!=`: the attribute **is present** and is not equal (other type, other value, array, object).
//!   A customer without the attribute does *not* match `!=`; use `{"not": {… "op": "="}}` to
//!   include them.
//! - `in` (non-empty array of values): equal to any of them.
//! - `<`, `<=`, `>`, `>=` (number or string value): only an attribute of the same JSON type is
//!   compared; numbers numerically, strings by byte order (`COLLATE "C"`, i.e. code point order).
//! - `contains`: the attribute is an array with an element equal to the value, or (string value
//!   only) the attribute is a string that contains the value as a substring.
//!
//! **Fields.** `created_at`: ops `=`, `!=`, `<`, `<=`, `>`, `>=`; timestamps keep microseconds
//! (PostgreSQL's precision), finer digits are dropped. `locale`: ops `=`, `!=`, `in` (non-empty
//! array of strings) and `prefix` (`"zh"` matches `zh-CN` and `zh-TW`); comparisons are exact
//! and case-sensitive. `birthday_month`: ops `=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, values
//! integers 1–12. A customer without a locale or birthday matches no test on it (not even `!=`),
//! only its negation.
//!
//! **Engagement.** `received`: the campaign's record for the customer was sent within the last
//! `within_days` × 24 hours (1–3650); `opened`: opened *or clicked* in that window (a click
//! implies an open); `clicked`: clicked in that window. The window is counted in hours so
//! daylight-saving changes don't stretch it; "now" is the database's `now()` (read through
//! `marketing_now()`, which a test can shift with the session setting `marketing.clock_offset`).
//!
//! **Events.** `{"event": name}` holds when the customer has at least one event of that name;
//! `within_days` (1–3650) keeps only events whose `occurred_at` is at most that many × 24 hours
//! before the database's `now()` (later ones, up to the ingest's 5 minutes of clock skew, count
//! too); `where` keeps only events whose `properties` match the property rule (paths, operators
//! and semantics exactly as for `attribute`, over the event's `properties` object). `count`
//! compares the number of events left with `value` (`=`, `!=`, `<`, `<=`, `>`, `>=`; an integer
//! 0–1,000,000): a customer with no event has the count 0, so `{"op": "<", "value": 1}` holds for
//! them, exactly like `{"not": {"event": …}}`. "No `order_paid` in 30 days" is
//! `{"not": {"event": "order_paid", "within_days": 30}}`. Event names are 1–100 characters, not
//! blank, without leading or trailing white space, and compared exactly.
//!
//! **Birthday.** `{"field": "birthday", "op": "is_today"}` (no `value`) holds when the month and
//! day of `birthday` are today's in the customer's `time_zone` (IANA name); a customer without a
//! time zone, or with one the database does not know, is taken in UTC; one without a birthday
//! never matches. A 29 February birthday is celebrated on 28 February in years without a
//! 29 February. "Today" is the database's `now()`.
//!
//! Every test is two-valued: a missing attribute, a value of another JSON type or a missing
//! column makes it false, and its `not` true. The SQL keeps this (no `NULL` escapes a leaf).
//!
//! # SQL
//!
//! [`compile`] turns a rule into a boolean expression over `customers` aliased `c` whose values
//! are all bind parameters (`$first`, `$first + 1`, …), never spliced into the text. Leaves are
//! written so the indexes serve them: tags with `@>`/`&&` (GIN on `tags`), attribute `=`, `in`
//! and array `contains` as `c.attributes @> '{"path": …}'` (GIN `jsonb_path_ops`), `created_at`,
//! `locale` and `EXTRACT(MONTH FROM birthday)` against their B-trees, engagement through the
//! `(campaign_id, customer_id)` unique index of `marketing_record`. Event rules are
//! `EXISTS` / `NOT EXISTS` / a counted subquery over `customer_events e` correlated on
//! `e.customer_id = c.id AND e.name = $n AND e.occurred_at >= now() - …`: either looked up per
//! customer through `(customer_id, name, occurred_at)` or, for a whole table, a hash (anti-)join
//! over an index-only scan of `(name, occurred_at, customer_id)`. The birthday test first keeps
//! the months of yesterday, today and tomorrow in UTC (every time zone's today is among them),
//! through the `EXTRACT(MONTH FROM birthday)` index, then compares the local date.

mod eval;
mod event;
mod parse;
mod sql;

pub use eval::{CustomerEvent, CustomerFacts, Engagement, evaluate, evaluate_properties};
pub use event::event_name_problem;
pub use sql::{Bind, CompiledRule, bind_all, compile, compile_properties};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Deepest nesting of a rule (the root is level 1).
pub const MAX_DEPTH: usize = 20;
/// Most children of one `and` / `or`.
pub const MAX_CHILDREN: usize = 100;
/// Most entries of a tag list or an `in` list.
pub const MAX_LIST: usize = 1000;
/// Most nodes of one rule (`and`, `or`, `not` and every test count one). With lists bound as one
/// array parameter each, a node binds at most 10 parameters (a path of 8 segments and two
/// values), so a rule stays far below PostgreSQL's 65,535 bind parameters per statement.
pub const MAX_NODES: usize = 2000;
/// Most list entries (tags, `in` values) of one rule, all lists together.
pub const MAX_VALUES: usize = 100_000;
/// Most segments of a dotted attribute path.
pub const MAX_PATH_SEGMENTS: usize = 8;
/// Longest engagement or event window, in days.
pub const MAX_WITHIN_DAYS: u16 = 3650;
/// Largest number an event rule's `count` may compare with.
pub const MAX_EVENT_COUNT: u32 = 1_000_000;
/// Longest event name, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 100;

/// A parsed segment rule; it can only hold valid rules (build one with [`Rule::parse`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Tag(String),
    TagsAny(Vec<String>),
    TagsAll(Vec<String>),
    /// A test on `attributes` at `path` (object keys, outermost first).
    Attribute {
        path: Vec<String>,
        op: AttrOp,
    },
    CreatedAt(CmpOp, DateTime<Utc>),
    Locale(LocaleTest),
    BirthdayMonth(MonthTest),
    Engagement {
        kind: EngagementKind,
        campaign_id: Uuid,
        within_days: u16,
    },
    /// The customer's events named `name` (in the window, matching `filter`) meet `count`.
    Event(EventRule),
    /// In a journey's branch only: the message an earlier send step of the same journey sent this
    /// customer was received, opened or clicked. Compiled against the enrollment row `je` (its
    /// `sends` map: step → campaign and record key), so a query evaluating it must provide one.
    StepEngagement {
        kind: EngagementKind,
        step: String,
    },
    /// In a journey's branch only: the customer matches the saved segment, its rule as it is when
    /// the branch is taken (the caller substitutes it with [`Rule::with_segments`]; left in, or
    /// for a segment that no longer exists, it matches nobody).
    Segment(Uuid),
    /// Today, in the customer's time zone, is the customer's birthday.
    BirthdayToday,
}

/// `{"event": …, "where"?, "count"?, "within_days"?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRule {
    pub name: String,
    /// A rule over the event's `properties`.
    pub filter: Option<PropertyRule>,
    /// How many matching events there must be; `None` is "at least once".
    pub count: Option<EventCount>,
    /// Only events that occurred in the last `within_days` × 24 hours count; `None`: any time.
    pub within_days: Option<u16>,
}

/// `{"op": ">=", "value": 3}`: the number of matching events compared with `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCount {
    pub op: CmpOp,
    pub value: u32,
}

impl EventCount {
    /// Whether `n` matching events satisfy the count.
    pub fn holds(self, n: u64) -> bool {
        self.op.holds(n.cmp(&u64::from(self.value)))
    }
}

/// A rule over an event's `properties` (the `where` of an event rule or trigger): property tests
/// combined with `and`, `or` and `not`. A property test means what an attribute test means.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyRule {
    And(Vec<PropertyRule>),
    Or(Vec<PropertyRule>),
    Not(Box<PropertyRule>),
    /// `{"property": "<dotted path>", "op", "value"}`.
    Test {
        path: Vec<String>,
        op: AttrOp,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator as written in rules and in SQL (`!=` is spelled `<>` in SQL).
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    fn parse(s: &str) -> Option<CmpOp> {
        Some(match s {
            "=" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }

    /// Whether `ordering` (left compared with right) satisfies the operator.
    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ordering == Equal,
            CmpOp::Ne => ordering != Equal,
            CmpOp::Lt => ordering == Less,
            CmpOp::Le => ordering != Greater,
            CmpOp::Gt => ordering == Greater,
            CmpOp::Ge => ordering != Less,
        }
    }
}

/// A value an attribute is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    String(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl Scalar {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Scalar::String(s) => serde_json::Value::String(s.clone()),
            Scalar::Number(n) => serde_json::Value::Number(n.clone()),
            Scalar::Bool(b) => serde_json::Value::Bool(*b),
        }
    }
}

/// What an attribute test asks. `Compare` with `Lt`..`Ge` only ever holds a string or a number.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrOp {
    Compare(CmpOp, Scalar),
    In(Vec<Scalar>),
    Contains(Scalar),
    Exists,
}

/// A test on the customer's locale; a customer without one matches none.
#[derive(Debug, Clone, PartialEq)]
pub enum LocaleTest {
    Eq(String),
    Ne(String),
    In(Vec<String>),
    Prefix(String),
}

/// A test on the birthday's month (1–12); a customer without a birthday matches none.
#[derive(Debug, Clone, PartialEq)]
pub enum MonthTest {
    Compare(CmpOp, u8),
    In(Vec<u8>),
}

/// Which engagement with a campaign a rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngagementKind {
    Received,
    Opened,
    Clicked,
}

impl EngagementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngagementKind::Received => "received",
            EngagementKind::Opened => "opened",
            EngagementKind::Clicked => "clicked",
        }
    }
}

/// Why a rule was refused: where in the JSON (`rule.and[1].op`) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RuleError {
    pub path: String,
    pub message: String,
}

#[cfg(test)]
mod tests;
