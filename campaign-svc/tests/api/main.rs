//! Integration tests: the real app on random ports, against a fresh PostgreSQL database per test.

mod ab_test;
mod admin;
mod auth;
mod bad_input;
mod birthday;
mod campaigns;
mod console;
mod content;
mod conventions;
mod conversions;
mod cost;
mod customers;
mod event_campaigns;
mod events;
mod freeze;
mod frequency_cap;
mod grpc;
mod journeys;
mod limits;
mod local_time;
mod logs;
mod nul;
mod openapi;
mod previews;
mod reached;
mod records;
mod recurring;
mod replies;
mod segments;
mod templates;
mod trigger;
mod vendor_receipts;
mod webhooks;
mod wechat;

/// A real trigger answers once its execution is committed and writes the records in the
/// background: waits until `GET /executions/:id` shows every record written (`frozen`) and
/// returns that execution.
pub async fn frozen(app: &testkit::TestApp, execution: &str) -> serde_json::Value {
    let path = format!("/api/marketing/executions/{execution}");
    testkit::wait_until(
        std::time::Duration::from_secs(15),
        "the audience frozen",
        || async { app.get(&path).await.1["frozen"] == true },
    )
    .await;
    app.get(&path).await.1
}
