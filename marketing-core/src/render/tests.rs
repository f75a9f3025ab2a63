use super::*;

fn zhang() -> Recipient {
    Recipient {
        name: Some("张三".into()),
        attributes: serde_json::json!({"city": "上海", "points": 120}),
        ..Default::default()
    }
}

fn campaign(name: &str) -> CampaignVars {
    CampaignVars {
        id: uuid::Uuid::nil(),
        name: name.into(),
        channel: crate::vocabulary::Channel::Sms,
        start_time: None,
        end_time: None,
    }
}

fn body(text: &str) -> MessageSource {
    MessageSource {
        body: text.into(),
        ..Default::default()
    }
}

fn render(text: &str, r: &Recipient) -> Result<String, RenderError> {
    Content::compile(&body(text))?
        .render(r, &campaign("x"))
        .map(|m| m.body)
}

#[test]
fn seed_placeholders_and_variables() {
    let c = Content::compile(&body(
        "亲爱的[客户姓名]，{{ attributes.city }}的{{campaign.name}}：{{ attributes.points }}分",
    ))
    .unwrap();
    let m = c.render(&zhang(), &campaign("六月")).unwrap();
    assert_eq!(m.body, "亲爱的张三，上海的六月：120分");
    assert_eq!(m.subject, "六月", "no subject template: the campaign name");
}

#[test]
fn missing_values_never_leave_a_placeholder() {
    let anon = Recipient {
        locale: Some("en-US".into()),
        ..Default::default()
    };
    assert_eq!(
        render(
            "Hi {{ name }}, {{ attributes.nothing.deeper }}[链接]",
            &anon
        )
        .unwrap(),
        "Hi Customer, "
    );
    assert_eq!(
        render("亲爱的[客户姓名]", &Recipient::default()).unwrap(),
        "亲爱的顾客"
    );
    assert_eq!(
        render("{{ attributes.nickname | default('会员') }}", &zhang()).unwrap(),
        "会员"
    );
}

#[test]
fn syntax_errors_name_the_part_and_line() {
    let err = Content::compile(&body("line one\n{{ name ")).unwrap_err();
    assert_eq!(err.part, "body");
    assert!(err.message.contains("line 2"), "{err}");
    let err = Content::compile(&MessageSource {
        subject: Some("{% if %}".into()),
        body: "ok".into(),
        html_body: None,
    })
    .unwrap_err();
    assert_eq!(err.part, "subject");
}

#[test]
fn unknown_variables_are_reported() {
    let source = MessageSource {
        subject: Some("{{ campaign.name }}".into()),
        body: "{{ nmae }} {{ attributes.city }}".into(),
        html_body: Some("<p>{{ name }}</p>".into()),
    };
    let err = check(&source).unwrap_err();
    assert_eq!(err.part, "body");
    assert!(err.message.contains("nmae"), "{err}");
    let ok = MessageSource {
        body: "{{ name }} {{ attributes.city }} {% for i in [1,2] %}{{ i }}{% endfor %}".into(),
        ..source
    };
    assert_eq!(
        check(&ok).unwrap(),
        vec!["attributes.city", "campaign.name", "name"]
    );
}

#[test]
fn html_is_escaped_and_subject_rendered() {
    let c = Content::compile(&MessageSource {
        subject: Some("{{ name }}，您的积分 {{ attributes.points }}".into()),
        body: "text".into(),
        html_body: Some("<p>{{ name }}</p>".into()),
    })
    .unwrap();
    let evil = Recipient {
        name: Some("<script>x</script>".into()),
        attributes: serde_json::json!({"points": 5}),
        ..Default::default()
    };
    let m = c.render(&evil, &campaign("c")).unwrap();
    assert_eq!(
        m.html_body.as_deref(),
        Some("<p>&lt;script&gt;x&lt;&#x2f;script&gt;</p>")
    );
    assert_eq!(m.subject, "<script>x</script>，您的积分 5");
}

#[test]
fn dates_in_the_customers_time_zone() {
    let mut r = zhang();
    r.time_zone = Some("Asia/Shanghai".into());
    let c = Content::compile(&body(
        "{{ campaign.end_time | datetime }}|{{ campaign.end_time | date(format='%m月%d日') }}|{{ '2024-06-10' | date }}",
    ))
    .unwrap();
    let vars = CampaignVars {
        end_time: Some("2024-06-30T16:30:00Z".parse().unwrap()),
        ..campaign("c")
    };
    assert_eq!(
        c.render(&r, &vars).unwrap().body,
        "2024-07-01 00:30|07月01日|2024-06-10"
    );
    r.time_zone = None;
    assert_eq!(
        c.render(&r, &vars).unwrap().body,
        "2024-06-30 16:30|06月30日|2024-06-10"
    );
    let bad = Content::compile(&body("{{ campaign.end_time | date(format='%Q') }}")).unwrap();
    assert!(bad.render(&r, &vars).is_err());
}

#[test]
fn plural_and_numbers_follow_the_locale() {
    let mut r = zhang();
    r.attributes = serde_json::json!({"n": 1, "big": 1234567.5});
    r.locale = Some("en-US".into());
    let text = "{{ attributes.n }} {{ attributes.n | plural('point', 'points') }}, {{ attributes.big | number }}";
    assert_eq!(render(text, &r).unwrap(), "1 point, 1,234,567.5");
    r.locale = Some("de-DE".into());
    assert_eq!(render(text, &r).unwrap(), "1 point, 1.234.567,5");
    r.locale = Some("zh-CN".into());
    r.attributes = serde_json::json!({"n": 3, "big": -1000});
    assert_eq!(render(text, &r).unwrap(), "3 points, -1,000");
}

#[test]
fn endless_huge_or_prying_templates_are_stopped() {
    let err = render(
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        &zhang(),
    )
    .unwrap_err();
    assert!(err.message.contains("too much work"), "{err}");
    let err = render(
        "{{ 'x' * 100000 }}{{ 'y' * 100000 }}{{ 'z' * 100000 }}",
        &zhang(),
    )
    .unwrap_err();
    assert!(err.message.contains("longer than"), "{err}");
    // No loader: templates cannot include or import anything, let alone files.
    for prying in [
        "{% include '/etc/passwd' %}",
        "{% import 'x.html' as x %}",
        "{% extends '../Cargo.toml' %}",
    ] {
        assert!(render(prying, &zhang()).is_err(), "{prying}");
    }
    let err = render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", &zhang());
    assert!(err.is_err());
}

#[test]
fn saving_refuses_hostile_templates_with_a_clear_error() {
    let cases = [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "too much work",
        ),
        ("{{ 'x' * 200000 }}{{ 'y' * 200000 }}", "longer than"),
        ("{% include '/etc/passwd' %}", "template not found"),
    ];
    for (text, expect) in cases {
        let err = check(&body(text)).unwrap_err();
        assert_eq!(err.part, "body");
        assert!(err.message.contains(expect), "{text}: {err}");
    }
    assert!(check(&body("{{ attributes.n | plural('a', 'b') }} {{ attributes.x | number }} {{ campaign.end_time | date }}")).is_ok());
}

#[test]
fn missing_fields_render_empty_filter_empty_and_take_defaults() {
    // A customer known only by a push token.
    let push_only = Recipient {
        email: Some(" ".into()),
        attributes: serde_json::json!({"nickname": null, "tags": ["a", null], "vip": {"level": null}}),
        ..Default::default()
    };
    assert_eq!(
        render(
            "{{ email }}|{{ phone }}|{{ time_zone }}|{{ locale }}|{{ birthday }}|{{ external_id }}",
            &push_only
        )
        .unwrap(),
        "|||||"
    );
    assert_eq!(
        render(
            "{{ email | lower }}|{{ phone | upper }}|{{ locale | trim }}|{{ time_zone | title }}|{{ birthday | date }}",
            &push_only
        )
        .unwrap(),
        "||||"
    );
    assert_eq!(
        render(
            "{{ email | default('无邮箱') }}|{{ attributes.nickname | default('会员') }}|{{ attributes.nickname | lower }}|{{ attributes.vip.level | default(1) }}|{% for t in attributes.tags %}[{{ t }}]{% endfor %}",
            &push_only
        )
        .unwrap(),
        "无邮箱|会员||1|[a][]"
    );
    let c = Content::compile(&body(
        "{{ campaign.start_time }}|{{ campaign.end_time | default('长期有效') }}|{{ campaign.end_time | datetime }}",
    ))
    .unwrap();
    assert_eq!(
        c.render(&push_only, &campaign("x")).unwrap().body,
        "|长期有效|"
    );
    // Present values are untouched.
    let full = Recipient {
        email: Some("W@Example.com".into()),
        birthday: NaiveDate::from_ymd_opt(1990, 6, 15),
        ..zhang()
    };
    assert_eq!(
        render("{{ email | lower }}|{{ birthday }}", &full).unwrap(),
        "w@example.com|1990-06-15"
    );
}

#[test]
fn saving_accepts_what_depends_on_one_customers_data() {
    for text in [
        "{{ attributes.points | round }}",
        "{{ attributes.points * 2 }}",
        "积分翻倍：{{ (attributes.points * 2) | round | int }}，等级 {{ attributes.level + 1 }}",
        "{% for o in attributes.orders %}{{ o.total / o.count }}{% endfor %}",
        "{{ attributes.since | date }} {{ attributes.n | plural('a', 'b') }}",
    ] {
        assert!(
            check(&body(text)).is_ok(),
            "{text}: {:?}",
            check(&body(text))
        );
    }
    // A customer whose data fits renders; one whose data does not fails, that message only.
    let c = Content::compile(&body("{{ attributes.points * 2 }}")).unwrap();
    assert_eq!(c.render(&zhang(), &campaign("x")).unwrap().body, "240");
    let err = c.render(&Recipient::default(), &campaign("x")).unwrap_err();
    assert!(err.message.contains("unsupported types undefined"), "{err}");
}

#[test]
fn saving_still_refuses_faults_after_a_data_dependent_expression() {
    let cases = [
        (
            "{{ attributes.points | round }}{{ name | nosuch }}",
            "nosuch",
            1,
        ),
        (
            "{{ attributes.p * 2 }}\n{{ attributes.q is nosuchtest }}",
            "nosuchtest",
            2,
        ),
        (
            "{{ attributes.p + 1 }}\n\n{{ range(3) | nosuch }}",
            "nosuch",
            3,
        ),
        (
            "{{ attributes.p * 2 }}\n{{ attributes.q | round }}\n{{ attributes.city.upper() }}",
            "no method",
            3,
        ),
        (
            "{{ attributes.p | round }} {{ name | plural }}",
            "missing argument",
            1,
        ),
        (
            "{{ attributes.p | round }} {{ campaign.end_time | date(format='%Q') }}",
            "strftime",
            1,
        ),
        (
            "{{ attributes.p | round }}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "too much work",
            0,
        ),
        (
            "{{ attributes.p * 2 }}{{ 'x' * 200000 }}{{ 'y' * 200000 }}",
            "longer than",
            0,
        ),
        (
            "{{ attributes.p - 1 }}{% include 'x.html' %}",
            "not found",
            1,
        ),
    ];
    for (text, words, line) in cases {
        let err = check(&body(text)).unwrap_err();
        assert_eq!(err.part, "body", "{text}");
        assert!(err.message.contains(words), "{text}: {err}");
        if line > 0 {
            assert!(
                err.message.contains(&format!("(line {line})")),
                "{text}: {err}"
            );
        }
    }
    // In every part, with its name.
    let err = check(&MessageSource {
        subject: Some("{{ attributes.p * 2 }}{{ name | titel }}".into()),
        body: "ok".into(),
        html_body: None,
    })
    .unwrap_err();
    assert_eq!(err.part, "subject");
}
