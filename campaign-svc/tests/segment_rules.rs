//! Property test: for random segment rules over one random population, the compiled SQL selects
//! exactly the customers the in-memory evaluator accepts, and every rule survives
//! `to_json` → `parse`. The population has tags, attributes, engagement records, events (with
//! properties) and birthdays around today in time zones from UTC−11 to UTC+14 (and one unknown
//! name), so event rules (`where`, `count`, `within_days`) and "birthday is today" are checked
//! against the evaluator too.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

use chrono::{DateTime, Datelike as _, NaiveDate, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use marketing_core::schema::{
    campaign_executions, customer_events, customers, marketing_campaign, marketing_record,
};
use marketing_core::segment::{
    AttrOp, CmpOp, CustomerEvent, CustomerFacts, Engagement, EngagementKind, EventCount, EventRule,
    LocaleTest, MonthTest, PropertyRule, Rule, Scalar, bind_all, compile, evaluate,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use testkit::TestDb;
use uuid::Uuid;

const CUSTOMERS: usize = 200;
const TAGS: &[&str] = &["a", "b", "c", "d", "e"];
const STRINGS: &[&str] = &[
    "",
    "a",
    "ab",
    "b",
    "B",
    "上海",
    "上海市",
    "x%_",
    "1",
    "true",
];
const NUMBERS: &[f64] = &[-2.0, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.25, 10.0];
const LOCALES: &[&str] = &["zh-CN", "zh-TW", "zh", "en-US", "en", "zh%x", "z_h"];
const PREFIXES: &[&str] = &["zh", "zh-", "en", "z_", "zh%", "e", "Zh", "z"];
const ATTRIBUTE_KEYS: &[&str] = &["score", "name", "flag", "items"];
/// Names of stored events; rules also ask about one nobody did.
const EVENT_NAMES: &[&str] = &["order_paid", "page_view"];
/// Time zones from UTC−11 to UTC+14, and one no database knows (taken as UTC).
const TIME_ZONES: &[&str] = &[
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Europe/Berlin",
    "Mars/Olympus",
];
/// The campaigns records are made for; rules also ask about one nobody received.
const CAMPAIGNS: [Uuid; 3] = [
    Uuid::from_u128(0x0190_c5a2_0000_7000_8000_0000_0000_0001),
    Uuid::from_u128(0x0190_c5a2_0000_7000_8000_0000_0000_0002),
    Uuid::from_u128(0x0190_c5a2_0000_7000_8000_0000_0000_0003),
];

/// First day of the sign-up year; sign-ups and rule times are whole days after it.
fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("2026-01-01 is a valid time") // 2026-01-01
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        (prop::sample::select(NUMBERS), any::<bool>()).prop_map(|(n, as_integer)| {
            // Whole numbers both as `1` and as `1.0`, which must compare equal.
            if n.fract() == 0.0 && as_integer {
                json!(n as i64)
            } else {
                json!(n)
            }
        }),
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn attribute_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(scalar(), 0..4).prop_map(Value::Array),
        1 => Just(Value::Null),
    ]
}

fn attributes() -> impl Strategy<Value = Value> {
    let flat = prop::collection::vec(prop::option::of(attribute_value()), ATTRIBUTE_KEYS.len());
    let address = prop::option::of(prop_oneof![
        3 => prop::option::of(attribute_value()).prop_map(|city| match city {
            Some(city) => json!({"city": city, "zip": "200000"}),
            None => json!({"zip": "200000"}),
        }),
        1 => scalar(),
        // An array of objects: a path walks objects only, so `address.city` misses here.
        1 => attribute_value().prop_map(|city| json!([{"city": city}])),
    ]);
    (flat, address).prop_map(|(values, address)| {
        let mut obj = Map::new();
        for (key, value) in ATTRIBUTE_KEYS.iter().zip(values) {
            if let Some(v) = value {
                obj.insert((*key).to_owned(), v);
            }
        }
        if let Some(a) = address {
            obj.insert("address".to_owned(), a);
        }
        Value::Object(obj)
    })
}

/// An engagement time: an odd number of half days from now, so no window edge (whole days
/// before now) is within 12 hours of it.
fn engagement_time(now: DateTime<Utc>) -> impl Strategy<Value = Option<DateTime<Utc>>> {
    prop::option::of((-1i64..60).prop_map(move |k| now - TimeDelta::hours(24 * k + 12)))
}

/// An event of one of [`EVENT_NAMES`] at an odd number of half days from now (as engagement).
fn event(now: DateTime<Utc>) -> impl Strategy<Value = CustomerEvent> {
    (
        prop::sample::select(EVENT_NAMES),
        attributes(),
        (-1i64..60).prop_map(move |k| now - TimeDelta::hours(24 * k + 12)),
    )
        .prop_map(|(name, properties, occurred_at)| CustomerEvent {
            name: name.to_owned(),
            properties,
            occurred_at,
        })
}

/// A birthday near today (so that "is today" splits the population in every time zone), on
/// 29 February, or anywhere in the year.
fn birthday(now: DateTime<Utc>) -> impl Strategy<Value = Option<NaiveDate>> {
    let today = now.date_naive();
    prop::option::of(prop_oneof![
        3 => (-2i64..=2, 1950i32..2005).prop_map(move |(d, year)| {
            let day = today + TimeDelta::days(d);
            // 29 February of a common year does not exist: take the leap-year one.
            NaiveDate::from_ymd_opt(year, day.month(), day.day())
                .or_else(|| NaiveDate::from_ymd_opt(2000, day.month(), day.day()))
                .expect("a leap year has every day")
        }),
        1 => Just(NaiveDate::from_ymd_opt(2000, 2, 29).expect("a leap day")),
        2 => (1u32..=12, 1u32..=28).prop_map(|(m, d)| {
            NaiveDate::from_ymd_opt(1990, m, d).expect("day 1 to 28 exists in every month")
        }),
    ])
}

fn customer(now: DateTime<Utc>) -> impl Strategy<Value = (Uuid, CustomerFacts)> {
    let engagement = (
        engagement_time(now),
        engagement_time(now),
        engagement_time(now),
    );
    (
        prop::sample::subsequence(TAGS, 0..=TAGS.len()),
        attributes(),
        0i64..365,
        prop::option::of(prop::sample::select(LOCALES)),
        birthday(now),
        prop::collection::vec(prop::option::of(engagement), 2),
        prop::option::of(prop::sample::select(TIME_ZONES)),
        prop::collection::vec(event(now), 0..5),
    )
        .prop_map(
            move |(tags, attributes, day, locale, birthday, records, zone, events)| {
                let engagements = records
                    .into_iter()
                    .zip(CAMPAIGNS)
                    .filter_map(|(r, campaign_id)| {
                        let (sent_at, opened_at, clicked_at) = r?;
                        Some(Engagement {
                            campaign_id,
                            sent_at,
                            opened_at,
                            clicked_at,
                        })
                    })
                    .collect();
                let facts = CustomerFacts {
                    tags: tags.into_iter().map(str::to_owned).collect(),
                    attributes,
                    created_at: epoch() + TimeDelta::days(day),
                    locale: locale.map(str::to_owned),
                    birthday,
                    time_zone: zone.map(str::to_owned),
                    engagements,
                    events,
                };
                (Uuid::new_v4(), facts)
            },
        )
}

fn tag() -> impl Strategy<Value = String> {
    prop::sample::select(&["a", "b", "c", "d", "e", "zz"][..]).prop_map(str::to_owned)
}

fn cmp() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(
        &[
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ][..],
    )
}

fn rule_scalar() -> impl Strategy<Value = Scalar> {
    scalar().prop_map(|v| match v {
        Value::String(s) => Scalar::String(s),
        Value::Number(n) => Scalar::Number(n),
        Value::Bool(b) => Scalar::Bool(b),
        other => unreachable!("scalar() made {other}"),
    })
}

fn attr_op() -> impl Strategy<Value = AttrOp> {
    prop_oneof![
        (cmp(), rule_scalar()).prop_map(|(op, s)| match (op, s) {
            // Orderings take no booleans; ask for equality instead.
            (CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge, Scalar::Bool(b)) => {
                AttrOp::Compare(CmpOp::Eq, Scalar::Bool(b))
            }
            (op, s) => AttrOp::Compare(op, s),
        }),
        prop::collection::vec(rule_scalar(), 1..4).prop_map(AttrOp::In),
        rule_scalar().prop_map(AttrOp::Contains),
        Just(AttrOp::Exists),
    ]
}

fn attribute_path() -> impl Strategy<Value = Vec<String>> {
    prop::sample::select(
        &[
            "score",
            "name",
            "flag",
            "items",
            "address",
            "address.city",
            "address.zip",
            "missing",
            "score.x",
        ][..],
    )
    .prop_map(|p| p.split('.').map(str::to_owned).collect())
}

fn month() -> impl Strategy<Value = u8> {
    1u8..=12
}

fn property_rule() -> impl Strategy<Value = PropertyRule> {
    let test = (attribute_path(), attr_op()).prop_map(|(path, op)| PropertyRule::Test { path, op });
    test.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(PropertyRule::And),
            prop::collection::vec(inner.clone(), 1..3).prop_map(PropertyRule::Or),
            inner.prop_map(|r| PropertyRule::Not(Box::new(r))),
        ]
    })
}

fn event_rule() -> impl Strategy<Value = Rule> {
    (
        prop::sample::select(&["order_paid", "page_view", "never_happened"][..]),
        prop::option::of(property_rule()),
        prop::option::of((cmp(), 0u32..4).prop_map(|(op, value)| EventCount { op, value })),
        prop::option::of(prop_oneof![1u16..=45, Just(3650u16)]),
    )
        .prop_map(|(name, filter, count, within_days)| {
            Rule::Event(EventRule {
                name: name.to_owned(),
                filter,
                count,
                within_days,
            })
        })
}

fn leaf() -> impl Strategy<Value = Rule> {
    let locale = || prop::sample::select(LOCALES).prop_map(str::to_owned);
    prop_oneof![
        1 => tag().prop_map(Rule::Tag),
        1 => prop::collection::vec(tag(), 1..3).prop_map(Rule::TagsAny),
        1 => prop::collection::vec(tag(), 1..3).prop_map(Rule::TagsAll),
        4 => (attribute_path(), attr_op()).prop_map(|(path, op)| Rule::Attribute { path, op }),
        1 => (cmp(), 0i64..365).prop_map(|(op, d)| Rule::CreatedAt(op, epoch() + TimeDelta::days(d))),
        1 => prop_oneof![
            locale().prop_map(LocaleTest::Eq),
            locale().prop_map(LocaleTest::Ne),
            prop::collection::vec(locale(), 1..3).prop_map(LocaleTest::In),
            prop::sample::select(PREFIXES).prop_map(|p| LocaleTest::Prefix(p.to_owned())),
        ]
        .prop_map(Rule::Locale),
        1 => prop_oneof![
            (cmp(), month()).prop_map(|(op, m)| MonthTest::Compare(op, m)),
            prop::collection::vec(month(), 1..4).prop_map(MonthTest::In),
        ]
        .prop_map(Rule::BirthdayMonth),
        2 => (
            prop::sample::select(
                &[EngagementKind::Received, EngagementKind::Opened, EngagementKind::Clicked][..]
            ),
            prop::sample::select(&CAMPAIGNS[..]),
            prop_oneof![1u16..=45, Just(3650u16)],
        )
            .prop_map(|(kind, campaign_id, within_days)| Rule::Engagement {
                kind,
                campaign_id,
                within_days,
            }),
        3 => event_rule(),
        1 => Just(Rule::BirthdayToday),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Rule::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Rule::Or),
            inner.prop_map(|r| Rule::Not(Box::new(r))),
        ]
    })
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct Now {
    #[diesel(sql_type = Timestamptz)]
    now: DateTime<Utc>,
}

async fn insert(conn: &mut AsyncPgConnection, population: &[(Uuid, CustomerFacts)]) {
    let someone = Uuid::new_v4();
    for (i, campaign) in CAMPAIGNS.iter().enumerate() {
        diesel::insert_into(marketing_campaign::table)
            .values((
                marketing_campaign::id.eq(campaign),
                marketing_campaign::name.eq(format!("campaign {i}")),
                marketing_campaign::type_.eq("email"),
                marketing_campaign::status.eq("completed"),
                marketing_campaign::created_by.eq(someone),
                marketing_campaign::updated_by.eq(someone),
            ))
            .execute(conn)
            .await
            .expect("insert campaign");
        // One execution per campaign, sharing the campaign's id.
        diesel::insert_into(campaign_executions::table)
            .values((
                campaign_executions::id.eq(campaign),
                campaign_executions::campaign_id.eq(campaign),
                campaign_executions::execution_type.eq("actual"),
                campaign_executions::status.eq("completed"),
            ))
            .execute(conn)
            .await
            .expect("insert execution");
    }
    let rows: Vec<_> = population
        .iter()
        .map(|(id, c)| {
            (
                customers::id.eq(*id),
                customers::tags.eq(c.tags.clone()),
                customers::attributes.eq(c.attributes.clone()),
                customers::locale.eq(c.locale.clone()),
                customers::birthday.eq(c.birthday),
                customers::time_zone.eq(c.time_zone.clone()),
                customers::created_at.eq(c.created_at),
            )
        })
        .collect();
    diesel::insert_into(customers::table)
        .values(rows)
        .execute(conn)
        .await
        .expect("insert customers");
    let records: Vec<_> = population
        .iter()
        .flat_map(|(id, c)| c.engagements.iter().map(move |e| (id, e)))
        .map(|(id, e)| {
            (
                marketing_record::id.eq(Uuid::new_v4()),
                marketing_record::campaign_id.eq(e.campaign_id),
                marketing_record::execution_id.eq(e.campaign_id),
                marketing_record::customer_id.eq(*id),
                marketing_record::channel.eq("email"),
                marketing_record::status.eq("sent"),
                marketing_record::sent_at.eq(e.sent_at),
                marketing_record::opened_at.eq(e.opened_at),
                marketing_record::clicked_at.eq(e.clicked_at),
            )
        })
        .collect();
    diesel::insert_into(marketing_record::table)
        .values(records)
        .execute(conn)
        .await
        .expect("insert records");
    let events: Vec<_> = population
        .iter()
        .flat_map(|(id, c)| c.events.iter().map(move |e| (id, e)))
        .map(|(id, e)| {
            (
                customer_events::event_id.eq(Uuid::new_v4().to_string()),
                customer_events::customer_id.eq(*id),
                customer_events::name.eq(e.name.clone()),
                customer_events::properties.eq(e.properties.clone()),
                customer_events::occurred_at.eq(e.occurred_at),
            )
        })
        .collect();
    diesel::insert_into(customer_events::table)
        .values(events)
        .execute(conn)
        .await
        .expect("insert events");
}

#[test]
fn compiled_sql_selects_exactly_what_the_evaluator_accepts() {
    let db = TestDb::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut conn, now) = rt.block_on(async {
        marketing_core::db::create_database_if_missing(&db.url)
            .await
            .expect("create database");
        marketing_core::db::run_migrations(&db.url)
            .await
            .expect("migrate");
        let mut conn = AsyncPgConnection::establish(&db.url)
            .await
            .expect("connect");
        let now = diesel::sql_query("SELECT now() AS now")
            .get_result::<Now>(&mut conn)
            .await
            .expect("now")
            .now;
        (conn, now)
    });

    let mut setup = TestRunner::deterministic();
    let population = prop::collection::vec(customer(now), CUSTOMERS)
        .new_tree(&mut setup)
        .expect("population")
        .current();
    rt.block_on(insert(&mut conn, &population));

    let conn = RefCell::new(conn);
    let (some, all_or_none) = (Cell::new(0u32), Cell::new(0u32));
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&rule(), |rule| {
        let json = rule.to_json();
        let reparsed = Rule::parse(&json);
        prop_assert_eq!(reparsed.as_ref(), Ok(&rule), "round trip of {}", json);

        let expected: BTreeSet<Uuid> = population
            .iter()
            .filter(|(_, c)| evaluate(&rule, c, now))
            .map(|(id, _)| *id)
            .collect();
        let compiled = compile(&rule, 1);
        let sql = format!("SELECT c.id FROM customers c WHERE {}", compiled.sql);
        let query = bind_all(diesel::sql_query(&sql).into_boxed(), &compiled.binds);
        let rows = rt
            .block_on(query.load::<Id>(&mut *conn.borrow_mut()))
            .map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
        let actual: BTreeSet<Uuid> = rows.into_iter().map(|r| r.id).collect();
        prop_assert_eq!(&actual, &expected, "rule {} compiled to {}", json, sql);

        let counter = if expected.is_empty() || expected.len() == CUSTOMERS {
            &all_or_none
        } else {
            &some
        };
        counter.set(counter.get() + 1);
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    eprintln!(
        "rules splitting the population: {}, matching all or none: {}",
        some.get(),
        all_or_none.get()
    );
    // Rules that split the population are the ones that test anything.
    assert!(
        some.get() > all_or_none.get(),
        "only {} of the rules split the population ({} matched all or none)",
        some.get(),
        all_or_none.get()
    );
}
