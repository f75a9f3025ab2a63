//! Customer journeys over REST: a definition is checked as a graph when saved; customers enter by
//! event, by segment or by hand, walk send / wait / wait-for-event / branch / split / exit steps
//! once each, convert on the goal, finish on their own version when the journey changes, hold
//! while it is paused; per-step counters and each customer's path are readable; several replicas
//! never take a step twice. (Delivery of the messages and engagement branches with a real worker
//! are in dispatch-worker's `journeys` tests.)

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::{TestApp, spawn_app, wait_until};

/// Customers `j0`… with a phone and an e-mail; returns their ids in order.
async fn customers(app: &TestApp, n: usize, tags: &[&str]) -> Vec<String> {
    let batch: Vec<Value> = (0..n)
        .map(|i| {
            json!({"external_id": format!("j{i}"), "name": format!("客户{i}"),
                   "phone": format!("+861370000{i:04}"), "email": format!("j{i}@example.com"),
                   "tags": tags})
        })
        .collect();
    let (status, out) = app
        .post("/api/marketing/customers/bulk", json!({"customers": batch}))
        .await;
    assert_eq!(status, 200, "{out}");
    out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

async fn create(app: &TestApp, body: Value) -> String {
    let (status, j) = app.post("/api/marketing/journeys", body).await;
    assert_eq!(status, 201, "{j}");
    assert_eq!(j["status"], "draft", "{j}");
    j["id"].as_str().unwrap().to_owned()
}

async fn activate(app: &TestApp, id: &str) -> Value {
    let (status, j) = app
        .post(&format!("/api/marketing/journeys/{id}/activate"), json!({}))
        .await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["status"], "active", "{j}");
    j
}

async fn enroll(app: &TestApp, id: &str, customers: &[&String]) -> Value {
    let (status, out) = app
        .post(
            &format!("/api/marketing/journeys/{id}/enroll"),
            json!({"customer_ids": customers}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out
}

async fn post_events(app: &TestApp, events: Value) {
    let (status, out) = app
        .post("/api/marketing/events", json!({"events": events}))
        .await;
    assert_eq!(status, 202, "{out}");
    assert_eq!(out["rejected"], json!([]), "{out}");
}

/// The customer's newest walk through the journey.
async fn walk(app: &TestApp, journey: &str, customer: &str) -> Value {
    let (status, out) = app
        .get(&format!(
            "/api/marketing/journeys/{journey}/customers/{customer}"
        ))
        .await;
    assert_eq!(status, 200, "{out}");
    out["enrollments"][0].clone()
}

fn actions(walk: &Value) -> Vec<String> {
    walk["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{}:{}",
                h["step"].as_str().unwrap(),
                h["action"].as_str().unwrap()
            )
        })
        .collect()
}

async fn wait_state(app: &TestApp, journey: &str, customer: &str, state: &str, secs: u64) -> Value {
    wait_until(
        Duration::from_secs(secs),
        &format!("customer {customer} to be {state}"),
        || async { walk(app, journey, customer).await["state"] == state },
    )
    .await;
    walk(app, journey, customer).await
}

/// Per step (of the newest version unless `version`): entered, waiting, completed, exited,
/// converted.
async fn step_counts(app: &TestApp, journey: &str, version: i64) -> HashMap<String, [i64; 5]> {
    let (status, s) = app
        .get(&format!("/api/marketing/journeys/{journey}/stats"))
        .await;
    assert_eq!(status, 200, "{s}");
    s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["version"] == version)
        .map(|st| {
            let n = |k: &str| st[k].as_i64().unwrap();
            (
                st["step"].as_str().unwrap().to_owned(),
                [
                    n("entered"),
                    n("waiting"),
                    n("completed"),
                    n("exited"),
                    n("converted"),
                ],
            )
        })
        .collect()
}

/// Records of a journey's send step (the customer's external id and content source), read
/// through the step's campaign as the records API shows them.
async fn step_records(app: &TestApp, journey: &str, version: i64, step: &str) -> Vec<String> {
    app.rows(&format!(
        "SELECT c.external_id AS line FROM marketing_record r
         JOIN marketing_campaign m ON m.id = r.campaign_id
         JOIN customers c ON c.id = r.customer_id
         WHERE m.trigger->>'journey_id' = '{journey}' AND (m.trigger->>'version')::int = {version}
           AND m.trigger->>'step' = '{step}'
         ORDER BY c.external_id"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journey_is_checked_as_a_graph_naming_the_step() {
    let app = spawn_app().await;
    let base = json!({
        "name": "欢迎旅程",
        "entry": {"kind": "event", "event": "signup"},
        "start": "welcome",
        "steps": {
            "welcome": {"type": "send", "channel": "sms", "content": "欢迎{{name}}", "next": "wait"},
            "wait": {"type": "wait", "duration_seconds": 60, "next": "done"},
            "done": {"type": "exit"}
        }
    });
    let cases = [
        (
            "/steps/wait/next",
            json!("nowhere"),
            "steps.wait.next",
            "no step `nowhere`",
        ),
        (
            "/steps/orphan",
            json!({"type": "exit"}),
            "steps.orphan",
            "not reachable",
        ),
        ("/start", json!("missing"), "start", "no step `missing`"),
        (
            "/steps/welcome/channel",
            json!("fax"),
            "steps.welcome.channel",
            "fax",
        ),
        ("/entry/kind", json!("weather"), "entry.kind", "weather"),
        (
            "/steps/wait/duration_seconds",
            json!(0),
            "steps.wait.duration_seconds",
            "seconds",
        ),
    ];
    for (pointer, value, field, words) in cases {
        let mut body = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[key] = value;
        let (status, e) = app.post("/api/marketing/journeys", body).await;
        assert_eq!(status, 400, "{pointer}: {e}");
        assert_eq!(e["error"]["field"], field, "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(words),
            "{e}"
        );
    }
    // A cycle without a wait.
    let mut body = base.clone();
    body["steps"]["welcome"]["next"] = json!("again");
    body["steps"]["again"] =
        json!({"type": "branch", "rule": {"tag": "VIP"}, "then": "welcome", "else": "wait"});
    let (status, e) = app.post("/api/marketing/journeys", body).await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cycle without a wait"),
        "{e}"
    );
    // A branch on the engagement of a step that sends nothing.
    let mut body = base.clone();
    body["steps"]["wait"]["next"] = json!("check");
    body["steps"]["check"] = json!({"type": "branch", "rule": {"engagement": "opened", "step": "wait"}, "then": "done", "else": "done"});
    let (status, e) = app.post("/api/marketing/journeys", body).await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["field"], "steps.check.rule", "{e}");
    // Nothing was saved by any of these.
    let (_, list) = app.get("/api/marketing/journeys").await;
    assert_eq!(list["pagination"]["total"], 0, "{list}");
    // Journey step engagement is not segment language.
    let (status, e) = app
        .post(
            "/api/marketing/segments",
            json!({"name": "x", "rule": {"engagement": "opened", "step": "welcome"}}),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["field"], "rule.step", "{e}");

    // The valid one: created as a draft, read back with its ETag, listed.
    let (status, j) = app.post("/api/marketing/journeys", base.clone()).await;
    assert_eq!(status, 201, "{j}");
    assert_eq!(j["version"], 1);
    assert_eq!(j["re_entry"], "never");
    let id = j["id"].as_str().unwrap();
    let (status, got) = app.get(&format!("/api/marketing/journeys/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["steps"], base["steps"]);
    let (_, list) = app.get("/api/marketing/journeys?status=draft").await;
    assert_eq!(list["journeys"][0]["id"], id, "{list}");
    let (status, e) = app.get("/api/marketing/journeys?status=sleeping").await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["field"], "status");
}

/// Abandoned cart: an event enters the customer; a purchase within the wait cancels the
/// reminder, no purchase sends it; a second cart event of a customer inside enters nobody twice.
#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_cart_reminder_is_cancelled_by_the_purchase() {
    let app = spawn_app().await;
    let ids = customers(&app, 3, &[]).await;
    let journey = create(
        &app,
        json!({
            "name": "购物车挽回",
            "entry": {"kind": "event", "event": "cart_abandoned", "where": {"property": "value", "op": ">", "value": 100}},
            "start": "wait_purchase",
            "steps": {
                "wait_purchase": {"type": "wait_for_event", "event": "order_paid", "timeout_seconds": 3,
                                  "on_event": "bought", "on_timeout": "remind"},
                "remind": {"type": "send", "channel": "sms", "content": "{{name}}，购物车里的商品还在等您"},
                "bought": {"type": "exit"}
            },
            "re_entry": {"cooldown_hours": 24}
        }),
    )
    .await;
    activate(&app, &journey).await;
    post_events(
        &app,
        json!([
            {"event_id": "cart-1", "external_id": "j0", "name": "cart_abandoned", "properties": {"value": 300}},
            {"event_id": "cart-2", "external_id": "j1", "name": "cart_abandoned", "properties": {"value": 500}},
            {"event_id": "cart-3", "external_id": "j2", "name": "cart_abandoned", "properties": {"value": 20}},
            {"event_id": "cart-4", "external_id": "j1", "name": "cart_abandoned", "properties": {"value": 900}}
        ]),
    )
    .await;
    wait_until(Duration::from_secs(10), "two customers inside", || async {
        step_counts(&app, &journey, 1).await["wait_purchase"][1] == 2
    })
    .await;
    // j0 pays.
    post_events(
        &app,
        json!([{"event_id": "order-1", "external_id": "j0", "name": "order_paid", "properties": {"amount": 300}}]),
    )
    .await;
    let j0 = wait_state(&app, &journey, &ids[0], "exited", 10).await;
    assert_eq!(
        actions(&j0),
        [
            "wait_purchase:waiting",
            "wait_purchase:event",
            "bought:exited"
        ],
        "{j0}"
    );
    let j1 = wait_state(&app, &journey, &ids[1], "completed", 15).await;
    assert_eq!(
        actions(&j1),
        [
            "wait_purchase:waiting",
            "wait_purchase:timeout",
            "remind:sent",
            "remind:completed"
        ],
        "{j1}"
    );
    // j2's cart was below the rule: never entered.
    let (status, _) = app
        .get(&format!(
            "/api/marketing/journeys/{journey}/customers/{}",
            ids[2]
        ))
        .await;
    assert_eq!(status, 404);
    wait_until(Duration::from_secs(10), "the reminder's record", || async {
        step_records(&app, &journey, 1, "remind").await == ["j1"]
    })
    .await;
    // The record names its journey and step, and the walk.
    let (_, stats) = app
        .get(&format!("/api/marketing/journeys/{journey}/stats"))
        .await;
    let remind = stats["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "remind")
        .unwrap()["messages"]["campaign_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, records) = app
        .get(&format!("/api/marketing/records?campaign_id={remind}"))
        .await;
    assert_eq!(status, 200, "{records}");
    let r = &records["records"][0];
    assert_eq!(r["journey_id"], journey.as_str(), "{r}");
    assert_eq!(r["journey_step"], "remind", "{r}");
    assert!(
        r["event_id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("journey:{}:", j1["id"].as_str().unwrap())),
        "{r}"
    );
    let counts = step_counts(&app, &journey, 1).await;
    assert_eq!(counts["wait_purchase"], [2, 0, 2, 0, 0]);
    assert_eq!(counts["remind"], [1, 0, 1, 0, 0]);
    assert_eq!(counts["bought"], [1, 0, 0, 1, 0]);
    // The step's campaign is not one of the campaigns a marketer lists.
    let (_, list) = app.get("/api/marketing/campaigns").await;
    assert_eq!(list["pagination"]["total"], 0, "{list}");
    // A cart event within the cooldown enters nobody again.
    post_events(
        &app,
        json!([{"event_id": "cart-5", "external_id": "j1", "name": "cart_abandoned", "properties": {"value": 700}}]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(step_counts(&app, &journey, 1).await["wait_purchase"][0], 2);
}

/// A goal event ends the walk as converted wherever the customer is, counted at that step.
#[tokio::test(flavor = "multi_thread")]
async fn the_goal_converts_a_customer_wherever_they_are() {
    let app = spawn_app().await;
    let ids = customers(&app, 2, &[]).await;
    let journey = create(
        &app,
        json!({
            "name": "首单转化",
            "entry": {"kind": "manual"},
            "start": "hello",
            "steps": {
                "hello": {"type": "send", "channel": "sms", "content": "新人礼包已到账", "next": "wait"},
                "wait": {"type": "wait", "duration_seconds": 3600, "next": "again"},
                "again": {"type": "send", "channel": "sms", "content": "礼包即将过期"}
            },
            "goal": {"event": "order_paid", "where": {"property": "amount", "op": ">=", "value": 1}}
        }),
    )
    .await;
    activate(&app, &journey).await;
    let entered = enroll(&app, &journey, &[&ids[0], &ids[1], &ids[1]]).await;
    assert_eq!(entered["entered"], 2, "{entered}");
    wait_until(Duration::from_secs(10), "both waiting", || async {
        step_counts(&app, &journey, 1).await["wait"][1] == 2
    })
    .await;
    // Entering again while inside does nothing.
    let again = enroll(&app, &journey, &[&ids[0]]).await;
    assert_eq!(again["entered"], 0, "{again}");
    assert_eq!(again["not_entered"], json!([ids[0]]));
    post_events(
        &app,
        json!([
            {"event_id": "o-0", "external_id": "j0", "name": "order_paid", "properties": {"amount": 0}},
            {"event_id": "o-1", "external_id": "j1", "name": "order_paid", "properties": {"amount": 99}}
        ]),
    )
    .await;
    let j1 = wait_state(&app, &journey, &ids[1], "converted", 10).await;
    assert_eq!(
        actions(&j1),
        ["hello:sent", "wait:waiting", "wait:converted"],
        "{j1}"
    );
    assert_eq!(walk(&app, &journey, &ids[0]).await["state"], "active");
    let counts = step_counts(&app, &journey, 1).await;
    assert_eq!(counts["wait"], [2, 1, 0, 0, 1], "{counts:?}");
    let (_, stats) = app
        .get(&format!("/api/marketing/journeys/{journey}/stats"))
        .await;
    assert_eq!(stats["entered"], 2, "{stats}");
    assert_eq!(stats["converted"], 1, "{stats}");
    let hello = stats["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "hello")
        .unwrap();
    assert_eq!(hello["type"], "send");
    assert_eq!(hello["messages"]["figures"]["planned"], 2, "{hello}");

    // Archiving: the one still inside leaves, counted as exited at the wait.
    let (status, j) = app
        .post(
            &format!("/api/marketing/journeys/{journey}/archive"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(walk(&app, &journey, &ids[0]).await["state"], "exited");
    assert_eq!(
        step_counts(&app, &journey, 1).await["wait"],
        [2, 0, 0, 1, 1]
    );
    let (status, e) = app
        .post(
            &format!("/api/marketing/journeys/{journey}/activate"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409, "{e}");
}

/// Editing an active journey makes a new version: customers inside finish on theirs, new ones
/// walk the new one. Pausing holds everyone; activating again lets them go on.
#[tokio::test(flavor = "multi_thread")]
async fn customers_finish_on_their_version_and_hold_while_paused() {
    let app = spawn_app().await;
    let ids = customers(&app, 2, &[]).await;
    let v1 = json!({
        "name": "会员关怀",
        "entry": {"kind": "manual"},
        "start": "wait",
        "steps": {
            "wait": {"type": "wait", "duration_seconds": 2, "next": "note"},
            "note": {"type": "send", "channel": "sms", "content": "第一版文案"}
        }
    });
    let journey = create(&app, v1.clone()).await;
    activate(&app, &journey).await;
    enroll(&app, &journey, &[&ids[0]]).await;
    // The journey as read now, its ETag for the update.
    let resp = testkit::http_client()
        .get(app.url(&format!("/api/marketing/journeys/{journey}")))
        .bearer_auth(testkit::TOKEN)
        .send()
        .await
        .unwrap();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let mut v2 = v1.clone();
    v2["steps"]["note"]["content"] = json!("第二版文案");
    let resp = testkit::http_client()
        .put(app.url(&format!("/api/marketing/journeys/{journey}")))
        .bearer_auth(testkit::TOKEN)
        .header("If-Match", &etag)
        .json(&json!({"steps": v2["steps"]}))
        .send()
        .await
        .unwrap();
    let (status, j) = testkit::read(resp).await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["version"], 2, "{j}");
    // A stale If-Match changes nothing.
    let resp = testkit::http_client()
        .put(app.url(&format!("/api/marketing/journeys/{journey}")))
        .bearer_auth(testkit::TOKEN)
        .header("If-Match", &etag)
        .json(&json!({"name": "改名"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 412);
    enroll(&app, &journey, &[&ids[1]]).await;
    wait_state(&app, &journey, &ids[0], "completed", 10).await;
    wait_state(&app, &journey, &ids[1], "completed", 10).await;
    assert_eq!(walk(&app, &journey, &ids[0]).await["version"], 1);
    assert_eq!(walk(&app, &journey, &ids[1]).await["version"], 2);
    wait_until(Duration::from_secs(10), "both records", || async {
        step_records(&app, &journey, 1, "note").await == ["j0"]
            && step_records(&app, &journey, 2, "note").await == ["j1"]
    })
    .await;
    let contents = app
        .rows(&format!(
            "SELECT m.content AS line FROM marketing_campaign m
             WHERE m.trigger->>'journey_id' = '{journey}' ORDER BY (m.trigger->>'version')::int"
        ))
        .await;
    assert_eq!(contents, ["第一版文案", "第二版文案"]);

    // Paused: a customer whose wait ends meanwhile stays where they are.
    let ids2 = customers(&app, 3, &[]).await;
    enroll(&app, &journey, &[&ids2[2]]).await;
    wait_until(Duration::from_secs(10), "j2 waiting", || async {
        walk(&app, &journey, &ids2[2]).await["history"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    })
    .await;
    let (status, _) = app
        .post(
            &format!("/api/marketing/journeys/{journey}/pause"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, e) = app
        .post(
            &format!("/api/marketing/journeys/{journey}/enroll"),
            json!({"customer_ids": [ids2[0]]}),
        )
        .await;
    assert_eq!(status, 409, "paused journeys take no one in: {e}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = walk(&app, &journey, &ids2[2]).await;
    assert_eq!(held["state"], "active", "{held}");
    assert_eq!(held["step"], "wait", "{held}");
    activate(&app, &journey).await;
    wait_state(&app, &journey, &ids2[2], "completed", 10).await;
}

/// Segment entry: everyone matching when the journey is activated enters, then each customer who
/// starts to match; a split sends each customer the same way every time.
#[tokio::test(flavor = "multi_thread")]
async fn segment_members_enter_and_splits_are_stable() {
    let app = testkit::spawn_app_with(testkit::TestDb::new(), testkit::TestQueues::new(), |c| {
        c.journey_segment_poll_ms = 200;
    })
    .await;
    customers(&app, 40, &["VIP"]).await;
    let (status, seg) = app
        .post(
            "/api/marketing/segments",
            json!({"name": "VIP", "rule": {"tag": "VIP"}}),
        )
        .await;
    assert_eq!(status, 201, "{seg}");
    let journey = create(
        &app,
        json!({
            "name": "VIP 分流",
            "entry": {"kind": "segment", "segment_id": seg["id"]},
            "start": "ab",
            "steps": {
                "ab": {"type": "split", "branches": [{"weight": 50, "next": "a"}, {"weight": 50, "next": "b"}]},
                "a": {"type": "send", "channel": "sms", "content": "A"},
                "b": {"type": "send", "channel": "email", "content": "B"}
            }
        }),
    )
    .await;
    activate(&app, &journey).await;
    wait_until(
        Duration::from_secs(15),
        "the 40 members through",
        || async {
            let c = step_counts(&app, &journey, 1).await;
            c["a"][2] + c["b"][2] == 40
        },
    )
    .await;
    let c = step_counts(&app, &journey, 1).await;
    assert_eq!(c["ab"], [40, 0, 40, 0, 0]);
    assert!(c["a"][0] > 5 && c["b"][0] > 5, "both branches used: {c:?}");
    // A customer who starts to match enters too.
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": [{"external_id": "late", "name": "晚到", "phone": "+8613900000001", "email": "late@example.com", "tags": ["VIP"]}]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    wait_until(Duration::from_secs(15), "the late member", || async {
        step_counts(&app, &journey, 1).await["ab"][0] == 41
    })
    .await;
    // Records: each walker got exactly the message of their branch.
    wait_until(Duration::from_secs(10), "every record", || async {
        step_records(&app, &journey, 1, "a").await.len()
            + step_records(&app, &journey, 1, "b").await.len()
            == 41
    })
    .await;
    let a = step_records(&app, &journey, 1, "a").await;
    let b = step_records(&app, &journey, 1, "b").await;
    assert!(a.iter().all(|x| !b.contains(x)), "{a:?} {b:?}");
}

/// Two replicas walk the same customers: every step once per customer.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_take_each_step_once() {
    let app = spawn_app().await;
    let _replica = app.replica().await;
    let ids = customers(&app, 300, &[]).await;
    let journey = create(
        &app,
        json!({
            "name": "多副本",
            "entry": {"kind": "manual"},
            "start": "one",
            "steps": {
                "one": {"type": "send", "channel": "sms", "content": "一", "next": "wait"},
                "wait": {"type": "wait", "duration_seconds": 1, "next": "two"},
                "two": {"type": "send", "channel": "sms", "content": "二"}
            }
        }),
    )
    .await;
    activate(&app, &journey).await;
    let refs: Vec<&String> = ids.iter().collect();
    for chunk in refs.chunks(100) {
        assert_eq!(enroll(&app, &journey, chunk).await["entered"], 100);
    }
    wait_until(Duration::from_secs(30), "everyone through", || async {
        step_counts(&app, &journey, 1).await["two"][2] == 300
    })
    .await;
    let c = step_counts(&app, &journey, 1).await;
    assert_eq!(c["one"], [300, 0, 300, 0, 0]);
    assert_eq!(c["wait"], [300, 0, 300, 0, 0]);
    wait_until(Duration::from_secs(15), "600 records", || async {
        app.count(&format!(
            "SELECT count(*) AS n FROM marketing_record r JOIN marketing_campaign m ON m.id = r.campaign_id
             WHERE m.trigger->>'journey_id' = '{journey}'"
        ))
        .await
            == 600
    })
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM (SELECT r.customer_id FROM marketing_record r
             JOIN marketing_campaign m ON m.id = r.campaign_id
             WHERE m.trigger->>'journey_id' = '{journey}' GROUP BY r.customer_id, r.campaign_id
             HAVING count(*) > 1) d"
        ))
        .await,
        0
    );
}

/// The same journey life over gRPC: a bad definition names its field, then create, activate,
/// enter, follow the customer, read the counters, change (a new version), pause and archive.
#[tokio::test(flavor = "multi_thread")]
async fn journeys_over_grpc() {
    use crm_proto::v1 as pb;
    use crm_proto::v1::journey_service_client::JourneyServiceClient;
    use testkit::{authed, bad_field};

    let app = spawn_app().await;
    let ids = customers(&app, 1, &[]).await;
    let mut client = JourneyServiceClient::new(app.channel().await);
    let definition = |next: &str| {
        let v = json!({
            "entry": {"kind": "manual"},
            "start": "hello",
            "steps": {
                "hello": {"type": "send", "channel": "sms", "content": "您好", "next": next},
                "bye": {"type": "exit"}
            }
        });
        match v {
            Value::Object(o) => campaign_svc::grpc::convert::json_to_struct(o),
            _ => unreachable!(),
        }
    };
    let bad = client
        .create_journey(authed(pb::CreateJourneyRequest {
            name: "gRPC 旅程".into(),
            definition: Some(definition("nowhere")),
        }))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    assert_eq!(bad_field(&bad).as_deref(), Some("steps.hello.next"));
    let j = client
        .create_journey(authed(pb::CreateJourneyRequest {
            name: "gRPC 旅程".into(),
            definition: Some(definition("bye")),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((j.status.as_str(), j.version), ("draft", 1));
    let j = client
        .activate_journey(authed(pb::GetJourneyRequest { id: j.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(j.status, "active");
    let entered = client
        .enroll_customers(authed(pb::EnrollCustomersRequest {
            id: j.id.clone(),
            customer_ids: vec![ids[0].clone()],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(entered.entered, 1);
    wait_state(&app, &j.id, &ids[0], "exited", 10).await;
    let path = client
        .get_journey_customer(authed(pb::GetJourneyCustomerRequest {
            id: j.id.clone(),
            customer_id: ids[0].clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    let walk = campaign_svc::grpc::convert::struct_to_json(path.enrollments[0].clone());
    assert_eq!(actions(&walk), ["hello:sent", "bye:exited"], "{walk}");
    let stats = client
        .get_journey_stats(authed(pb::GetJourneyRequest { id: j.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stats.entered, stats.exited), (1, 1));
    let hello = stats.steps.iter().find(|s| s.step == "hello").unwrap();
    assert_eq!((hello.r#type.as_str(), hello.completed), ("send", 1));
    assert!(hello.messages.is_some());
    let j = client
        .update_journey(authed(pb::UpdateJourneyRequest {
            id: j.id.clone(),
            name: Some("gRPC 旅程 v2".into()),
            definition: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((j.name.as_str(), j.version), ("gRPC 旅程 v2", 2));
    let listed = client
        .list_journeys(authed(pb::ListJourneysRequest {
            status: Some("active".into()),
            page: 0,
            page_size: 0,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.journeys.len(), 1);
    let j = client
        .pause_journey(authed(pb::GetJourneyRequest { id: j.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(j.status, "paused");
    let j = client
        .archive_journey(authed(pb::GetJourneyRequest { id: j.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(j.status, "archived");
    let refused = client
        .activate_journey(authed(pb::GetJourneyRequest { id: j.id.clone() }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
}

/// A second campaign-svc, as a process of its own, killed (SIGKILL) while customers' timers are
/// falling due and it is taking their steps: the other replica carries on, and no step is lost
/// or taken twice (records, history and counters agree).
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_while_timers_are_due_loses_and_doubles_no_step() {
    let app = spawn_app().await;
    let ids = customers(&app, 2000, &[]).await;
    let log = std::env::temp_dir().join(format!("journey-replica-{}.log", uuid::Uuid::now_v7()));
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
    };
    let replica_http = free_port();
    let mut replica = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-svc"))
        .env("DATABASE_URL", &app.db.url)
        .env("DATABASE_POOL_SIZE", "4")
        .env("AMQP_URL", testkit::amqp_url())
        .env("QUEUE_PREFIX", &app.queues.prefix)
        .env("API_TOKENS", testkit::TOKEN)
        .env("HTTP_ADDR", format!("127.0.0.1:{replica_http}"))
        .env("GRPC_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("TRACKING_SECRET", testkit::TRACKING_SECRET)
        .env("PUBLIC_BASE_URL", testkit::PUBLIC_BASE_URL)
        .env("RELAY_PAGE_SIZE", "200")
        .env("RUST_LOG", "campaign_svc::fanout::journeys=debug")
        .stdout(std::fs::File::create(&log).expect("the replica's log"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("campaign-svc starts");
    // The replica is up and taking steps before the timers start: on a loaded machine its
    // start-up could outlast the whole journey, leaving it nothing to be killed in.
    let ready = format!("http://127.0.0.1:{replica_http}/readyz");
    wait_until(Duration::from_secs(60), "the replica ready", || async {
        reqwest::get(&ready)
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let journey = create(
        &app,
        json!({
            "name": "副本被杀",
            "entry": {"kind": "manual"},
            "start": "one",
            "steps": {
                "one": {"type": "send", "channel": "sms", "content": "一", "next": "w1"},
                "w1": {"type": "wait", "duration_seconds": 2, "next": "two"},
                "two": {"type": "send", "channel": "sms", "content": "二", "next": "w2"},
                "w2": {"type": "wait", "duration_seconds": 1, "next": "three"},
                "three": {"type": "send", "channel": "sms", "content": "三"}
            }
        }),
    )
    .await;
    activate(&app, &journey).await;
    let refs: Vec<&String> = ids.iter().collect();
    for chunk in refs.chunks(1000) {
        assert_eq!(enroll(&app, &journey, chunk).await["entered"], 1000);
    }
    let advanced = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("journey walks advanced"))
            .count()
    };
    // Timers are falling due and the replica is taking steps: kill it there.
    let before = advanced();
    wait_until(
        Duration::from_secs(30),
        "timers due and the replica busy",
        || async { step_counts(&app, &journey, 1).await["w1"][2] > 0 && advanced() > before },
    )
    .await;
    replica.kill().expect("SIGKILL the replica");
    let _ = replica.wait();
    let _ = std::fs::remove_file(&log);
    wait_until(Duration::from_secs(60), "everyone through", || async {
        step_counts(&app, &journey, 1).await["three"][2] == 2000
    })
    .await;
    let c = step_counts(&app, &journey, 1).await;
    for step in ["one", "w1", "two", "w2", "three"] {
        assert_eq!(c[step], [2000, 0, 2000, 0, 0], "{step}: {c:?}");
    }
    wait_until(Duration::from_secs(30), "6,000 records", || async {
        app.count(&format!(
            "SELECT count(*) AS n FROM marketing_record r JOIN marketing_campaign m ON m.id = r.campaign_id
             WHERE m.trigger->>'journey_id' = '{journey}'"
        ))
        .await
            == 6000
    })
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM (SELECT r.customer_id FROM marketing_record r
             JOIN marketing_campaign m ON m.id = r.campaign_id
             WHERE m.trigger->>'journey_id' = '{journey}' GROUP BY r.customer_id, r.campaign_id
             HAVING count(*) <> 1) d"
        ))
        .await,
        0
    );
    // Each walk's history: 3 sends, 2 waits, completed; numbered without a gap.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM (SELECT e.id FROM journey_enrollments e
             JOIN journey_history h ON h.enrollment_id = e.id
             WHERE e.journey_id = '{journey}' GROUP BY e.id
             HAVING count(*) <> 6 OR max(h.seq) <> 6 OR min(h.seq) <> 1) bad"
        ))
        .await,
        0
    );
}

/// A branch tests a saved segment (as it is when the branch is taken), the customer's fields and
/// their events; a missing segment is refused when saved; segments cannot nest segments.
#[tokio::test(flavor = "multi_thread")]
async fn branches_test_segments_fields_and_events() {
    let app = spawn_app().await;
    let vip = customers(&app, 2, &["VIP"]).await;
    let (status, _) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": [{"external_id": "plain", "name": "普通", "phone": "+8613700009999", "tags": ["新用户"]}]}),
        )
        .await;
    assert_eq!(status, 200);
    let plain = app
        .rows("SELECT id::text AS line FROM customers WHERE external_id = 'plain'")
        .await[0]
        .clone();
    let (status, seg) = app
        .post(
            "/api/marketing/segments",
            json!({"name": "VIP", "rule": {"tag": "VIP"}}),
        )
        .await;
    assert_eq!(status, 201, "{seg}");
    let body = |segment: &Value| {
        json!({
            "name": "分支",
            "entry": {"kind": "manual"},
            "start": "vip",
            "steps": {
                "vip": {"type": "branch", "rule": {"segment": segment}, "then": "buyer", "else": "other"},
                "buyer": {"type": "branch",
                          "rule": {"and": [{"attribute": "level", "op": ">=", "value": 3},
                                           {"event": "order_paid", "within_days": 30}]},
                          "then": "gold", "else": "other"},
                "gold": {"type": "exit"},
                "other": {"type": "exit"}
            }
        })
    };
    let (status, e) = app
        .post(
            "/api/marketing/journeys",
            body(&json!("0193a1b2-0000-7000-8000-000000000000")),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["field"], "steps.vip.rule", "{e}");
    let (status, e) = app
        .post(
            "/api/marketing/segments",
            json!({"name": "nested", "rule": {"segment": seg["id"]}}),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["field"], "rule.segment", "{e}");

    let journey = create(&app, body(&seg["id"])).await;
    activate(&app, &journey).await;
    // vip[0]: level 5 and paid: gold. vip[1]: level 5, never paid: other. plain: not VIP.
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({"customers": [
                {"external_id": "j0", "name": "客户0", "phone": "+8613700000000", "tags": ["VIP"], "attributes": {"level": 5}},
                {"external_id": "j1", "name": "客户1", "phone": "+8613700000001", "tags": ["VIP"], "attributes": {"level": 5}}]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    post_events(
        &app,
        json!([{"event_id": "paid-0", "external_id": "j0", "name": "order_paid"}]),
    )
    .await;
    enroll(&app, &journey, &[&vip[0], &vip[1], &plain]).await;
    let gold = wait_state(&app, &journey, &vip[0], "exited", 10).await;
    assert_eq!(
        actions(&gold),
        ["vip:then", "buyer:then", "gold:exited"],
        "{gold}"
    );
    let no_order = wait_state(&app, &journey, &vip[1], "exited", 10).await;
    assert_eq!(
        actions(&no_order),
        ["vip:then", "buyer:else", "other:exited"],
        "{no_order}"
    );
    let not_vip = wait_state(&app, &journey, &plain, "exited", 10).await;
    assert_eq!(actions(&not_vip), ["vip:else", "other:exited"], "{not_vip}");
}

/// Over a clock the test controls: a day-long wait does not end early, and ends once the
/// clock (`marketing.clock_offset`, set through the connection URL of a second replica) has moved
/// a day on; the next step then runs once.
#[tokio::test(flavor = "multi_thread")]
async fn a_day_long_wait_ends_when_the_clock_moves_a_day() {
    let app = spawn_app().await;
    let ids = customers(&app, 1, &[]).await;
    let journey = create(
        &app,
        json!({
            "name": "隔日提醒",
            "entry": {"kind": "manual"},
            "start": "hello",
            "steps": {
                "hello": {"type": "send", "channel": "sms", "content": "今天", "next": "day"},
                "day": {"type": "wait", "duration_seconds": 86400, "next": "tomorrow"},
                "tomorrow": {"type": "send", "channel": "sms", "content": "明天"}
            }
        }),
    )
    .await;
    activate(&app, &journey).await;
    enroll(&app, &journey, &[&ids[0]]).await;
    wait_until(Duration::from_secs(10), "the customer waiting", || async {
        step_counts(&app, &journey, 1).await["day"][1] == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(walk(&app, &journey, &ids[0]).await["state"], "active");

    // A replica whose database clock is a day and a minute ahead.
    let mut config = testkit::test_config(&app.db, &app.queues);
    config.database_url = format!(
        "{}?options=-c%20marketing.clock_offset%3D{}s",
        config.database_url,
        86_400 + 60
    );
    let later = campaign_svc::startup::Application::build(config)
        .await
        .expect("the replica builds");
    let (_running, stopped) = testkit::stop_signal();
    tokio::spawn(later.run(stopped));
    let done = wait_state(&app, &journey, &ids[0], "completed", 15).await;
    assert_eq!(
        actions(&done),
        [
            "hello:sent",
            "day:waiting",
            "tomorrow:sent",
            "tomorrow:completed"
        ],
        "{done}"
    );
    assert_eq!(step_counts(&app, &journey, 1).await["day"], [1, 0, 1, 0, 0]);
}
