//! A campaign's life through the CLI: create from a file, list, trigger and watch it complete
//! with a worker delivering, archive.

use std::time::Duration;

use crate::{TempFile, ctl, customers, spawn_app, start_worker};
use testkit::TOKEN;

#[tokio::test(flavor = "multi_thread")]
async fn create_list_trigger_watch_and_archive() {
    let app = spawn_app().await;
    customers(&app, "cli", 5).await;
    let file = TempFile::new(
        "campaign.json",
        r#"{"name": "Spring sale", "type": "sms", "target_tags": ["cli"],
            "content": "Hi {{name}}, spring is here"}"#,
    );
    let created = ctl(
        &app,
        TOKEN,
        &["campaigns", "create", "-f", file.arg(), "-o", "json"],
    )
    .await;
    assert_eq!(created.code, 0, "{created:?}");
    let campaign = created.json();
    let id = campaign["id"].as_str().expect("an id").to_owned();
    assert_eq!(campaign["status"], "draft");
    assert_eq!(campaign["target_tags"][0], "cli");

    let listed = ctl(&app, TOKEN, &["campaigns", "list", "--output", "json"]).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    let ids: Vec<String> = listed.json()["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    assert!(ids.contains(&id), "{listed:?}");
    let table = ctl(&app, TOKEN, &["campaigns", "list"]).await;
    assert!(
        table.stdout.contains("Spring sale") && table.stdout.contains("STATUS"),
        "{table:?}"
    );

    let _worker = start_worker(&app, &[]);
    let watched = tokio::time::timeout(
        Duration::from_secs(60),
        ctl(
            &app,
            TOKEN,
            &["campaigns", "trigger", &id, "--watch", "-o", "json"],
        ),
    )
    .await
    .expect("the watch ends once the execution completes");
    assert_eq!(watched.code, 0, "{watched:?}");
    let progress = watched.json();
    assert_eq!(progress["status"], "completed", "{progress}");
    assert_eq!(progress["planned"], 5);
    assert_eq!(progress["sent"], 5);
    assert_eq!(app.records_with_status(&id, "sent").await, 5);

    let executions = ctl(&app, TOKEN, &["executions", "list", &id, "-o", "json"]).await;
    assert_eq!(executions.code, 0, "{executions:?}");
    let execution = executions.json()["executions"][0].clone();
    assert_eq!(execution["sent"], 5);
    let again = ctl(
        &app,
        TOKEN,
        &["executions", "watch", execution["id"].as_str().expect("id")],
    )
    .await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stdout
            .contains("completed: 5 planned, 5 sent, 0 failed"),
        "{again:?}"
    );

    // Triggering twice for real is the service's refusal: exit 2 with its message.
    let twice = ctl(&app, TOKEN, &["campaigns", "trigger", &id]).await;
    assert_eq!(twice.code, 2, "{twice:?}");

    let archived = ctl(&app, TOKEN, &["campaigns", "archive", &id, "-o", "json"]).await;
    assert_eq!(archived.code, 0, "{archived:?}");
    assert_eq!(archived.json()["status"], "archived");
    let got = ctl(&app, TOKEN, &["campaigns", "get", &id]).await;
    assert!(got.stdout.contains("archived"), "{got:?}");
}

#[tokio::test]
async fn a_bad_campaign_file_names_the_field() {
    let app = spawn_app().await;
    let unknown = TempFile::new("c.json", r#"{"name": "x", "type": "sms", "colour": "red"}"#);
    let run = ctl(&app, TOKEN, &["campaigns", "create", "-f", unknown.arg()]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("colour"), "{run:?}");
    // Read by the tool, refused by the service: exit 2, the field named.
    let refused = TempFile::new("c.json", r#"{"name": "x", "type": "fax", "content": "hi"}"#);
    let run = ctl(&app, TOKEN, &["campaigns", "create", "-f", refused.arg()]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("type"), "{run:?}");
}
