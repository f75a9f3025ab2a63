//! `customers import`: batches, line numbers of refused lines, exit code 4, the good rows kept.

use crate::{TempFile, ctl, spawn_app};
use testkit::TOKEN;

#[tokio::test]
async fn a_csv_with_two_bad_lines_imports_the_rest_and_names_those_lines() {
    let app = spawn_app().await;
    let csv = TempFile::new(
        "customers.csv",
        "external_id,name,email,phone,tags,attributes\n\
         imp-1,Ann,ann@example.com,+8613800000011,vip;new,\"{\"\"tier\"\": 2}\"\n\
         ,NoId,noid@example.com,,,\n\
         imp-3,Bob,not-an-email,,,\n\
         imp-4,Cy,cy@example.com,,vip,\n\
         imp-5,Di,di@example.com,,,\n",
    );
    // Batches of two: the service refuses the first batch for line 4, which is dropped and the
    // rest of that batch sent again.
    let run = ctl(
        &app,
        TOKEN,
        &[
            "customers",
            "import",
            csv.arg(),
            "--batch-size",
            "2",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(run.code, 4, "{run:?}");
    let out = run.json();
    assert_eq!(out["imported"], 3, "{out}");
    assert_eq!(out["created"], 3, "{out}");
    let rejected = out["rejected"].as_array().expect("rejected");
    let lines: Vec<u64> = rejected.iter().filter_map(|r| r["line"].as_u64()).collect();
    assert_eq!(lines, vec![3, 4], "{out}");
    let reason = |i: usize| {
        rejected[i]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(reason(0).starts_with("external_id"), "{out}");
    assert!(reason(1).starts_with("email"), "{out}");
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM customers \
             WHERE external_id IN ('imp-1', 'imp-4', 'imp-5')"
        )
        .await,
        3
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customers WHERE external_id = 'imp-3'")
            .await,
        0
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM customers WHERE external_id = 'imp-1' \
             AND tags @> ARRAY['vip', 'new'] AND attributes->>'tier' = '2'"
        )
        .await,
        1
    );

    // The table summary says the same to a person.
    let again = ctl(&app, TOKEN, &["customers", "import", csv.arg()]).await;
    assert_eq!(again.code, 4, "{again:?}");
    assert!(
        again
            .stdout
            .contains("imported 3 customers (0 created, 3 updated)"),
        "{again:?}"
    );
    assert!(again.stdout.contains("line 4: email"), "{again:?}");
}

#[tokio::test]
async fn json_lines_import_and_a_clean_file_exits_0() {
    let app = spawn_app().await;
    let jsonl = TempFile::new(
        "customers.jsonl",
        "{\"external_id\": \"j-1\", \"email\": \"j1@example.com\", \"tags\": [\"a\"]}\n\
         \n\
         {\"external_id\": \"j-2\", \"shoe_size\": 42}\n",
    );
    let run = ctl(
        &app,
        TOKEN,
        &["customers", "import", jsonl.arg(), "-o", "json"],
    )
    .await;
    assert_eq!(run.code, 4, "{run:?}");
    let out = run.json();
    assert_eq!(out["imported"], 1);
    assert_eq!(out["rejected"][0]["line"], 3, "{out}");
    assert!(
        out["rejected"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("shoe_size"),
        "{out}"
    );
    let clean = TempFile::new("clean.csv", "external_id,tags\nc-1,x|y\nc-2,\n");
    let run = ctl(&app, TOKEN, &["customers", "import", clean.arg()]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM customers WHERE external_id LIKE 'c-%'")
            .await,
        2
    );
}
