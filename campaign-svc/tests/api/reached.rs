//! Set-up shared by the webhook and conversion tests: campaigns whose messages reached their
//! audience. No worker runs in these tests, so after a real trigger the records are moved to
//! `sent` (with `sent_at` and the `sent` counter) by SQL, as the worker would have.

use serde_json::{Value, json};
use testkit::TestApp;

/// `n` customers reachable on every channel, all tagged `tag`; returns their ids.
pub async fn customers(app: &TestApp, tag: &str, n: usize) -> Vec<String> {
    let customers: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "external_id": format!("{tag}-{i}"),
                "name": format!("Customer {i}"),
                "phone": format!("+86138000{i:05}"),
                "email": format!("c{i}.{tag}@example.com"),
                "push_token": format!("push-{tag}-{i}"),
                "tags": [tag],
            })
        })
        .collect();
    let (status, out) = app
        .post(
            "/api/marketing/customers/bulk",
            json!({ "customers": customers }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// A campaign on `channel` to everyone tagged `tag`, triggered, its records then `sent`
/// `sent_ago` (an SQL interval such as `'1 hour'`) ago. Returns the campaign id and its
/// records (id, customer id).
pub async fn sent_campaign(
    app: &TestApp,
    channel: &str,
    tag: &str,
    sent_ago: &str,
) -> (String, Vec<(String, String)>) {
    let campaign = app
        .create_campaign(json!({
            "name": format!("{channel} to {tag} {sent_ago} ago"),
            "type": channel,
            "target_tags": [tag],
            "content": "Hello {{name}}",
        }))
        .await;
    let id = campaign["id"].as_str().unwrap().to_owned();
    let (status, t) = app
        .post(&format!("/api/marketing/campaigns/{id}/trigger"), json!({}))
        .await;
    assert_eq!(status, 202, "{t}");
    crate::frozen(app, t["execution_id"].as_str().unwrap()).await;
    // What the worker does on a successful send (see the module comment).
    app.sql(&format!(
        "UPDATE marketing_record SET status = 'sent', attempts = 1,
                sent_at = now() - interval '{sent_ago}'
         WHERE campaign_id = '{id}'"
    ))
    .await;
    app.sql(&format!(
        "UPDATE campaign_stats SET sent = planned WHERE campaign_id = '{id}'"
    ))
    .await;
    let (status, list) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={id}&page_size=500"
        ))
        .await;
    assert_eq!(status, 200, "{list}");
    let records = list["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["customer_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (id, records)
}

/// One record as the API lists it.
pub async fn record(app: &TestApp, campaign: &str, record: &str) -> Value {
    let (_, list) = app
        .get(&format!(
            "/api/marketing/records?campaign_id={campaign}&page_size=500"
        ))
        .await;
    list["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == record)
        .cloned()
        .unwrap_or_else(|| panic!("record {record} in {list}"))
}

/// The campaign's `totals` figures.
pub async fn totals(app: &TestApp, campaign: &str) -> Value {
    let (status, stats) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats"))
        .await;
    assert_eq!(status, 200, "{stats}");
    stats["totals"].clone()
}
