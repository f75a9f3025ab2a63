use chrono::{NaiveDate, TimeZone as _, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;

const CAMPAIGN: &str = "0190c5a2-1111-7000-8000-000000000001";

fn parse(v: Value) -> Rule {
    match Rule::parse(&v) {
        Ok(r) => r,
        Err(e) => panic!("{v} should parse: {e}"),
    }
}

fn error(v: Value) -> RuleError {
    match Rule::parse(&v) {
        Ok(r) => panic!("{v} should be refused, parsed as {r:?}"),
        Err(e) => e,
    }
}

fn every_kind() -> Vec<Value> {
    vec![
        json!({"and": [{"tag": "vip"}, {"tag": "new"}]}),
        json!({"or": [{"tag": "vip"}]}),
        json!({"not": {"tag": "vip"}}),
        json!({"tag": "vip"}),
        json!({"tags_any": ["a", "b"]}),
        json!({"tags_all": ["a", "b"]}),
        json!({"attribute": "city", "op": "=", "value": "上海"}),
        json!({"attribute": "address.city", "op": "!=", "value": "北京"}),
        json!({"attribute": "score", "op": "<", "value": 1.5}),
        json!({"attribute": "score", "op": "<=", "value": 2}),
        json!({"attribute": "name", "op": ">", "value": "m"}),
        json!({"attribute": "score", "op": ">=", "value": -3}),
        json!({"attribute": "level", "op": "in", "value": [1, "gold", true]}),
        json!({"attribute": "interests", "op": "contains", "value": "tea"}),
        json!({"attribute": "vip", "op": "=", "value": false}),
        json!({"attribute": "vip", "op": "exists"}),
        json!({"field": "created_at", "op": ">=", "value": "2026-01-01T00:00:00Z"}),
        json!({"field": "created_at", "op": "!=", "value": "2026-01-01T08:00:00.123456Z"}),
        json!({"field": "locale", "op": "=", "value": "zh-CN"}),
        json!({"field": "locale", "op": "!=", "value": "en"}),
        json!({"field": "locale", "op": "in", "value": ["zh-CN", "zh-TW"]}),
        json!({"field": "locale", "op": "prefix", "value": "zh"}),
        json!({"field": "birthday_month", "op": "=", "value": 6}),
        json!({"field": "birthday_month", "op": "in", "value": [1, 12]}),
        json!({"field": "birthday_month", "op": ">", "value": 3}),
        json!({"engagement": "received", "campaign_id": CAMPAIGN, "within_days": 30}),
        json!({"engagement": "opened", "campaign_id": CAMPAIGN, "within_days": 1}),
        json!({"engagement": "clicked", "campaign_id": CAMPAIGN, "within_days": 3650}),
        json!({"event": "order_paid"}),
        json!({"event": "order_paid", "within_days": 30}),
        json!({"event": "order_paid", "count": {"op": ">=", "value": 3}, "within_days": 90}),
        json!({"event": "order_paid", "where": {"property": "amount", "op": ">", "value": 100}}),
        json!({"event": "page_view", "where": {"and": [
            {"property": "page.path", "op": "in", "value": ["/a", "/b"]},
            {"not": {"property": "bot", "op": "exists"}},
            {"or": [{"property": "tags", "op": "contains", "value": "x"}]}
        ]}, "count": {"op": "<", "value": 1}}),
        json!({"not": {"event": "order_paid", "within_days": 30}}),
        json!({"field": "birthday", "op": "is_today"}),
    ]
}

#[test]
fn every_node_kind_parses_and_round_trips() {
    for v in every_kind() {
        let rule = parse(v.clone());
        let _ = compile(&rule, 1);
        assert_eq!(rule.to_json(), v, "to_json of {v}");
        assert_eq!(parse(rule.to_json()), rule);
    }
}

#[test]
fn parses_into_the_expected_shapes() {
    assert_eq!(
        parse(json!({"attribute": "address.city", "op": "=", "value": "上海"})),
        Rule::Attribute {
            path: vec!["address".into(), "city".into()],
            op: AttrOp::Compare(CmpOp::Eq, Scalar::String("上海".into())),
        }
    );
    assert_eq!(
        parse(json!({"engagement": "opened", "campaign_id": CAMPAIGN, "within_days": 30})),
        Rule::Engagement {
            kind: EngagementKind::Opened,
            campaign_id: Uuid::parse_str(CAMPAIGN).unwrap(),
            within_days: 30,
        }
    );
    assert_eq!(
        parse(json!({"field": "created_at", "op": "<", "value": "2026-01-01T08:00:00+08:00"})),
        Rule::CreatedAt(
            CmpOp::Lt,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
        )
    );
}

#[test]
fn errors_name_the_json_path() {
    let cases = [
        (
            json!({"and": [{"tag": "a"}, {"attribute": "x", "op": "~", "value": 1}]}),
            "rule.and[1].op",
        ),
        (
            json!({"and": [{"tag": "a"}, {"attribute": "x", "op": "~"}]}),
            "rule.and[1].op",
        ),
        (json!({"not": {"or": [{"tag": " "}]}}), "rule.not.or[0].tag"),
        (json!({"tag": "a", "colour": "red"}), "rule.colour"),
        (json!({"tag": "a", "or": []}), "rule.tag"),
        (json!({"bogus": 1}), "rule"),
        (json!([]), "rule"),
        (json!({"and": []}), "rule.and"),
        (json!({"and": {"tag": "a"}}), "rule.and"),
        (json!({"tags_any": []}), "rule.tags_any"),
        (json!({"tags_all": ["a", 3]}), "rule.tags_all[1]"),
        (
            json!({"attribute": "a..b", "op": "exists"}),
            "rule.attribute",
        ),
        (
            json!({"attribute": "a.b.c.d.e.f.g.h.i", "op": "exists"}),
            "rule.attribute",
        ),
        (
            json!({"attribute": "a", "op": "exists", "value": 1}),
            "rule.value",
        ),
        (json!({"attribute": "a", "op": "="}), "rule.value"),
        (json!({"attribute": "a"}), "rule.op"),
        (
            json!({"attribute": "a", "op": "=", "value": null}),
            "rule.value",
        ),
        (
            json!({"attribute": "a", "op": "<", "value": true}),
            "rule.value",
        ),
        (
            json!({"attribute": "a", "op": "in", "value": []}),
            "rule.value",
        ),
        (
            json!({"attribute": "a", "op": "in", "value": [1, [2]]}),
            "rule.value[1]",
        ),
        (
            json!({"attribute": "a", "op": "=", "value": "x\u{0}"}),
            "rule.value",
        ),
        (json!({"field": "age", "op": "=", "value": 1}), "rule.field"),
        (
            json!({"field": "created_at", "op": "in", "value": []}),
            "rule.op",
        ),
        (
            json!({"field": "created_at", "op": "=", "value": "yesterday"}),
            "rule.value",
        ),
        (
            json!({"field": "locale", "op": "<", "value": "zh"}),
            "rule.op",
        ),
        (
            json!({"field": "birthday_month", "op": "=", "value": 13}),
            "rule.value",
        ),
        (
            json!({"field": "birthday_month", "op": "in", "value": [1, 0]}),
            "rule.value[1]",
        ),
        (
            json!({"engagement": "bounced", "campaign_id": CAMPAIGN, "within_days": 1}),
            "rule.engagement",
        ),
        (
            json!({"engagement": "opened", "campaign_id": "x", "within_days": 1}),
            "rule.campaign_id",
        ),
        (
            json!({"engagement": "opened", "campaign_id": CAMPAIGN, "within_days": 0}),
            "rule.within_days",
        ),
        (
            json!({"engagement": "opened", "campaign_id": CAMPAIGN}),
            "rule.within_days",
        ),
        (json!({"event": " "}), "rule.event"),
        (json!({"event": " order_paid"}), "rule.event"),
        (json!({"event": "x".repeat(101)}), "rule.event"),
        (json!({"event": 3}), "rule.event"),
        (json!({"event": "o", "within_days": 0}), "rule.within_days"),
        (
            json!({"event": "o", "within_days": 3651}),
            "rule.within_days",
        ),
        (json!({"event": "o", "count": 3}), "rule.count"),
        (
            json!({"event": "o", "count": {"op": "~", "value": 3}}),
            "rule.count.op",
        ),
        (
            json!({"event": "o", "count": {"op": ">", "value": -1}}),
            "rule.count.value",
        ),
        (
            json!({"event": "o", "count": {"op": ">", "value": 1.5}}),
            "rule.count.value",
        ),
        (
            json!({"event": "o", "count": {"op": ">", "value": 1, "x": 1}}),
            "rule.count.x",
        ),
        (json!({"event": "o", "colour": 1}), "rule.colour"),
        (json!({"event": "o", "where": {"tag": "vip"}}), "rule.where"),
        (
            json!({"event": "o", "where": {"and": [{"property": "a", "op": "~", "value": 1}]}}),
            "rule.where.and[0].op",
        ),
        (
            json!({"event": "o", "where": {"property": "a..b", "op": "exists"}}),
            "rule.where.property",
        ),
        (json!({"property": "a", "op": "exists"}), "rule"),
        (
            json!({"field": "birthday", "op": "=", "value": "06-15"}),
            "rule.op",
        ),
        (
            json!({"field": "birthday", "op": "is_today", "value": true}),
            "rule.value",
        ),
    ];
    for (v, path) in cases {
        let e = error(v.clone());
        assert_eq!(e.path, path, "{v}: {e}");
        assert!(!e.message.is_empty());
    }
}

#[test]
fn refuses_too_deep_and_too_wide() {
    let mut deep = json!({"tag": "a"});
    for _ in 0..MAX_DEPTH - 1 {
        deep = json!({"not": deep});
    }
    parse(deep.clone());
    let e = error(json!({"not": deep}));
    assert!(e.path.starts_with("rule.not.not"), "{e}");
    let wide: Vec<Value> = (0..=MAX_CHILDREN).map(|_| json!({"tag": "a"})).collect();
    assert_eq!(error(json!({"or": wide})).path, "rule.or");
}

#[test]
fn a_whole_rule_has_a_budget_and_lists_bind_as_one_parameter() {
    // 70 `in` lists of 1,000 values: well inside the per-node limits, and one bind each.
    let values: Vec<u32> = (0..1000).collect();
    let ins: Vec<Value> = (0..70)
        .map(|i| json!({"attribute": format!("a{i}"), "op": "in", "value": values}))
        .collect();
    let rule = parse(json!({"or": ins}));
    assert_eq!(rule.size(), (71, 70_000));
    let compiled = compile(&rule, 1);
    assert_eq!(compiled.binds.len(), 70, "one array per list");
    // Every node binds at most ten parameters, so the budget keeps a rule under PostgreSQL's
    // 65,535: 20 `or`s of 100 tests each exceed it by one node.
    let leaf = json!({"attribute": "a.b.c.d.e.f.g.h", "op": "contains", "value": "x"});
    let hundred: Vec<Value> = (0..98).map(|_| leaf.clone()).collect();
    let groups: Vec<Value> = (0..20).map(|_| json!({"or": hundred})).collect();
    let at_limit = parse(json!({"or": groups}));
    assert_eq!(at_limit.size().0, MAX_NODES - 19);
    assert!(compile(&at_limit, 1).binds.len() <= 10 * MAX_NODES);
    let hundred: Vec<Value> = (0..100).map(|_| leaf.clone()).collect();
    let groups: Vec<Value> = (0..20).map(|_| json!({"or": hundred})).collect();
    let e = error(json!({"or": groups}));
    assert_eq!(e.path, "rule");
    assert!(
        e.message.contains("MAX_NODES") && e.message.contains("2021"),
        "{e}"
    );
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"tags_any": (0..1000).map(|t| format!("t{i}-{t}")).collect::<Vec<_>>()}))
        .collect();
    let wide = json!({"and": [{"or": many[..100]}, {"or": many[100..]}]});
    let e = error(wide);
    assert!(e.message.contains("MAX_VALUES"), "{e}");
}

#[test]
fn placeholders_start_where_asked() {
    let rule = parse(json!({"and": [
        {"tag": "vip"},
        {"attribute": "address.city", "op": "=", "value": "上海"},
        {"field": "locale", "op": "prefix", "value": "zh_%"},
    ]}));
    let compiled = compile(&rule, 3);
    assert_eq!(compiled.binds.len(), 3);
    assert_eq!(compiled.next_placeholder(), 6);
    for n in 3..6 {
        assert!(compiled.sql.contains(&format!("${n}")), "{}", compiled.sql);
    }
    assert!(!compiled.sql.contains("$1") && !compiled.sql.contains("$2"));
    assert!(!compiled.sql.contains("上海") && !compiled.sql.contains("vip"));
    assert_eq!(compiled.binds[2], Bind::Text("zh\\_\\%%".into()));
    assert_eq!(
        compiled.binds[1],
        Bind::Jsonb(json!({"address": {"city": "上海"}}))
    );
}

fn customer() -> CustomerFacts {
    CustomerFacts {
        tags: vec!["vip".into()],
        attributes: json!({"city": "上海", "score": 1, "interests": ["tea", 2], "nothing": null,
                           "address": {"city": "北京"}}),
        created_at: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        locale: Some("zh-CN".into()),
        birthday: NaiveDate::from_ymd_opt(1990, 3, 10),
        time_zone: Some("Asia/Shanghai".into()),
        events: vec![
            CustomerEvent {
                name: "order_paid".into(),
                properties: json!({"amount": 120, "items": ["tea"]}),
                occurred_at: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap(),
            },
            CustomerEvent {
                name: "order_paid".into(),
                properties: json!({"amount": 30}),
                occurred_at: Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap(),
            },
        ],
        engagements: vec![Engagement {
            campaign_id: Uuid::parse_str(CAMPAIGN).unwrap(),
            sent_at: Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()),
            opened_at: None,
            clicked_at: Some(Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()),
        }],
    }
}

#[test]
fn evaluates_the_documented_semantics() {
    let c = customer();
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
    let yes = |v: Value| assert!(evaluate(&parse(v.clone()), &c, now), "{v} should match");
    let no = |v: Value| {
        assert!(
            !evaluate(&parse(v.clone()), &c, now),
            "{v} should not match"
        )
    };
    yes(json!({"attribute": "score", "op": "=", "value": 1.0}));
    yes(json!({"attribute": "address.city", "op": "=", "value": "北京"}));
    no(json!({"attribute": "score", "op": "=", "value": "1"}));
    yes(json!({"attribute": "score", "op": "!=", "value": "1"}));
    no(json!({"attribute": "missing", "op": "!=", "value": 1}));
    yes(json!({"not": {"attribute": "missing", "op": "=", "value": 1}}));
    no(json!({"attribute": "nothing", "op": "exists"}));
    yes(json!({"attribute": "interests", "op": "contains", "value": 2}));
    yes(json!({"attribute": "city", "op": "contains", "value": "海"}));
    no(json!({"attribute": "interests", "op": "=", "value": "tea"}));
    no(json!({"attribute": "city", "op": ">", "value": 1}));
    yes(json!({"field": "locale", "op": "prefix", "value": "zh"}));
    yes(json!({"field": "birthday_month", "op": "in", "value": [2, 3]}));
    yes(json!({"field": "birthday", "op": "is_today"}));
    yes(json!({"event": "order_paid"}));
    yes(json!({"event": "order_paid", "within_days": 6}));
    no(json!({"event": "order_paid", "within_days": 4}));
    yes(json!({"not": {"event": "order_paid", "within_days": 4}}));
    yes(json!({"event": "order_paid", "count": {"op": "=", "value": 2}}));
    no(json!({"event": "order_paid", "count": {"op": ">", "value": 2}}));
    yes(json!({"event": "order_paid", "count": {"op": "=", "value": 1}, "within_days": 30}));
    yes(json!({"event": "order_paid", "where": {"property": "amount", "op": ">", "value": 100}}));
    no(json!({"event": "order_paid", "where": {"property": "amount", "op": ">", "value": 200}}));
    yes(
        json!({"event": "order_paid", "where": {"property": "items", "op": "contains", "value": "tea"},
               "count": {"op": "=", "value": 1}}),
    );
    yes(json!({"event": "signed_up", "count": {"op": "<", "value": 1}}));
    no(json!({"event": "signed_up"}));
    yes(json!({"event": "signed_up", "count": {"op": "=", "value": 0}}));
    yes(json!({"engagement": "opened", "campaign_id": CAMPAIGN, "within_days": 9}));
    no(json!({"engagement": "opened", "campaign_id": CAMPAIGN, "within_days": 7}));
    no(json!({"engagement": "received", "campaign_id": CAMPAIGN, "within_days": 8}));
    let no_locale = CustomerFacts {
        locale: None,
        ..c.clone()
    };
    let today = parse(json!({"field": "birthday", "op": "is_today"}));
    // 2026-03-09 17:00 UTC is already 10 March in Shanghai, still 9 March in UTC.
    let evening = Utc.with_ymd_and_hms(2026, 3, 9, 17, 0, 0).unwrap();
    assert!(evaluate(&today, &c, evening));
    let in_utc = CustomerFacts {
        time_zone: None,
        ..c.clone()
    };
    assert!(!evaluate(&today, &in_utc, evening));
    let unknown_zone = CustomerFacts {
        time_zone: Some("Mars/Olympus".into()),
        ..c.clone()
    };
    assert!(
        !evaluate(&today, &unknown_zone, evening),
        "unknown zone is UTC"
    );
    let leap = CustomerFacts {
        birthday: NaiveDate::from_ymd_opt(2000, 2, 29),
        time_zone: None,
        ..c.clone()
    };
    let feb = |y, d| Utc.with_ymd_and_hms(y, 2, d, 12, 0, 0).unwrap();
    assert!(
        evaluate(&today, &leap, feb(2027, 28)),
        "28 Feb in a common year"
    );
    assert!(
        !evaluate(&today, &leap, feb(2028, 28)),
        "not 28 Feb in a leap year"
    );
    assert!(evaluate(&today, &leap, feb(2028, 29)));
    let ne = parse(json!({"field": "locale", "op": "!=", "value": "en"}));
    assert!(!evaluate(&ne, &no_locale, now));
    assert!(evaluate(&Rule::Not(Box::new(ne)), &no_locale, now));
}

#[test]
fn event_rules_compile_to_correlated_subqueries_the_indexes_serve() {
    let sql = |v: Value| compile(&parse(v), 1);
    let none = sql(json!({"not": {"event": "order_paid", "within_days": 30}}));
    assert_eq!(
        none.sql,
        "(NOT EXISTS (SELECT 1 FROM customer_events e WHERE e.customer_id = c.id \
         AND e.name = $1::text AND e.occurred_at >= marketing_now() - make_interval(hours => 24 * $2::int)))"
    );
    assert_eq!(
        none.binds,
        vec![Bind::Text("order_paid".into()), Bind::Int(30)]
    );
    // A count of "fewer than one" is the same anti-join: customers without events included.
    let fewer = sql(json!({"event": "order_paid", "count": {"op": "<", "value": 1}}));
    assert!(fewer.sql.starts_with("NOT EXISTS"), "{}", fewer.sql);
    let counted = sql(
        json!({"event": "order_paid", "count": {"op": ">=", "value": 3},
                            "where": {"property": "amount", "op": ">", "value": 100}}),
    );
    assert!(
        counted
            .sql
            .starts_with("((SELECT count(*) FROM customer_events e")
            && counted.sql.contains("e.properties")
            && counted.sql.ends_with(">= $2::int)"),
        "{}",
        counted.sql
    );
    assert_eq!(counted.binds[1], Bind::Int(3));
    assert_eq!(
        sql(json!({"event": "x", "count": {"op": ">=", "value": 0}})).sql,
        "true"
    );
    let props = PropertyRule::parse(&json!({"property": "a.b", "op": "=", "value": 1})).unwrap();
    let compiled = compile_properties(&props, "t.properties", 5);
    assert_eq!(compiled.sql, "(t.properties @> $5::jsonb)");
    assert!(evaluate_properties(&props, &json!({"a": {"b": 1.0}})));
    assert_eq!(PropertyRule::parse(&props.to_json()), Ok(props));
    assert_eq!(
        PropertyRule::parse(&json!({"tag": "x"})).unwrap_err().path,
        "where"
    );
}
