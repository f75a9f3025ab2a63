//! Segments and customers in the web console, in a real browser against the real campaign-svc:
//! `console/e2e/segments.mjs` seeds 300 customers and their events through the API, builds
//! `tag AND ((vip AND level = gold) OR NOT purchase in 30 days)` in the visual builder and saves
//! it; `console/e2e/customers.mjs` then opts one of those customers out of SMS and erases
//! another. Each count and state the pages showed is checked here against the API and against
//! the database (the segment's count recomputed in SQL, independently of the rule compiler).

use serde_json::json;

use super::{app_with_console, browser_script};

#[tokio::test(flavor = "multi_thread")]
async fn a_segment_built_in_the_browser_counts_what_the_data_holds_and_customers_are_managed() {
    let app = app_with_console().await;

    let seg = browser_script(&app, "segments.mjs", &[]).await;
    let tag = seg["run_tag"].as_str().expect("run tag").to_owned();
    let segment = seg["segment_id"].as_str().expect("segment id").to_owned();

    // The count the page showed, live and in the list, is the database's.
    let selected = format!(
        "SELECT count(*) AS n FROM customers c
         WHERE c.erased_at IS NULL AND '{tag}' = ANY (c.tags)
           AND (('vip' = ANY (c.tags) AND c.attributes ->> 'level' = 'gold')
                OR NOT EXISTS (SELECT 1 FROM customer_events e
                               WHERE e.customer_id = c.id AND e.name = 'purchase'
                                 AND e.occurred_at > now() - interval '30 days'))"
    );
    let in_db = app.count(&selected).await;
    assert_eq!(seg["ui_count"], in_db, "live count vs the database: {seg}");
    assert_eq!(
        seg["list_count"], in_db,
        "listed count vs the database: {seg}"
    );
    assert_eq!(
        seg["expected"], in_db,
        "the script's own computation: {seg}"
    );
    assert!(
        in_db > 0 && in_db < 300,
        "the rule selects some, not all: {in_db}"
    );

    // The rule typed as JSON (this run's VIPs) counted what the database holds.
    let vips = app
        .count(&format!(
            "SELECT count(*) AS n FROM customers WHERE tags @> ARRAY['{tag}', 'vip']"
        ))
        .await;
    assert_eq!(seg["vip_count"], vips, "{seg}");

    // The saved segment holds the rule built in the page (the page's later save, with a stale
    // If-Match, was refused and changed nothing), and the API counts it the same.
    let (status, saved) = app.get(&format!("/api/marketing/segments/{segment}")).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(seg["stale_save_refused"], true, "{seg}");
    assert_eq!(saved["description"], "changed elsewhere", "{saved}");
    assert_eq!(
        saved["rule"],
        json!({"and": [
            {"tag": tag},
            {"or": [
                {"and": [{"tag": "vip"}, {"attribute": "level", "op": "=", "value": "gold"}]},
                {"not": {"event": "purchase", "within_days": 30}}]}]})
    );
    let (status, count) = app
        .get(&format!("/api/marketing/segments/{segment}/count"))
        .await;
    assert_eq!(status, 200, "{count}");
    assert_eq!(count["count"], in_db);

    let cust = browser_script(&app, "customers.mjs", &[("E2E_RUN_TAG", tag.clone())]).await;

    // The SMS opt-out the page confirmed is the API's and the database's.
    let opted = cust["opted_out_customer"].as_str().expect("opted-out id");
    let (status, customer) = app.get(&format!("/api/marketing/customers/{opted}")).await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["external_id"], format!("{tag}-1"));
    assert_eq!(customer["opt_outs"], json!(["sms"]));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM customer_opt_outs WHERE customer_id = '{opted}' AND channel = 'sms'"
        ))
        .await,
        1
    );

    // The erased customer reads as 404 and keeps only a tombstone.
    let erased = cust["erased_customer"].as_str().expect("erased id");
    let (status, _) = app.get(&format!("/api/marketing/customers/{erased}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM customers
             WHERE id = '{erased}' AND erased_at IS NOT NULL AND name IS NULL AND external_id IS NULL"
        ))
        .await,
        1
    );
    let (_, found) = app
        .get(&format!("/api/marketing/customers?external_id={tag}-2"))
        .await;
    assert_eq!(
        found["customers"],
        json!([]),
        "the lookup no longer finds them"
    );

    let shots = super::repo().join("target/console-screenshots");
    for name in [
        "60-segments-builder",
        "61-segments-api-error",
        "62-segments-list",
        "63-segments-builder-en",
        "64-customers-lookup",
        "65-customers-page",
        "66-customers-erase-confirm",
    ] {
        assert!(
            shots.join(format!("{name}.png")).is_file(),
            "{name}.png written"
        );
    }
}
