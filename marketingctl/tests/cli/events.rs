//! `events send`: one event from flags, idempotent on its id; an unknown customer is refused.

use crate::{TempFile, ctl, customers, spawn_app};
use testkit::TOKEN;

#[tokio::test]
async fn sends_an_event_with_properties_once() {
    let app = spawn_app().await;
    let ids = customers(&app, "ev", 1).await;
    let args = [
        "events",
        "send",
        "--external-id",
        "ev-0",
        "--name",
        "order_paid",
        "-p",
        "amount=99.5",
        "-p",
        "currency=CNY",
        "--event-id",
        "order-1001",
        "-o",
        "json",
    ];
    let run = ctl(&app, TOKEN, &args).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["accepted"], 1, "{run:?}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM customer_events WHERE customer_id = '{}' \
             AND name = 'order_paid' AND (properties->>'amount')::float = 99.5 \
             AND properties->>'currency' = 'CNY'",
            ids[0]
        ))
        .await,
        1
    );
    let repeat = ctl(&app, TOKEN, &args).await;
    assert_eq!(repeat.code, 0, "{repeat:?}");
    assert_eq!(repeat.json()["duplicates"], 1, "{repeat:?}");

    let unknown = ctl(
        &app,
        TOKEN,
        &[
            "events",
            "send",
            "--external-id",
            "nobody",
            "--name",
            "order_paid",
        ],
    )
    .await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stdout.contains("unknown_customer"), "{unknown:?}");

    let file = TempFile::new(
        "events.jsonl",
        "{\"external_id\": \"ev-0\", \"name\": \"viewed\"}\n\
         {\"external_id\": \"nobody\", \"name\": \"viewed\"}\n",
    );
    let batch = ctl(
        &app,
        TOKEN,
        &["events", "send", "-f", file.arg(), "-o", "json"],
    )
    .await;
    assert_eq!(batch.code, 4, "{batch:?}");
    assert_eq!(batch.json()["accepted"], 1);
    assert_eq!(batch.json()["rejected"][0]["line"], 2, "{batch:?}");
}
