use diesel_async::AsyncPgConnection;

use super::*;

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// A fresh database has no statistics at all, like a table right after a large freeze: the
/// page must still walk the index from the cursor rather than read and sort the rest.
#[tokio::test]
async fn a_page_walks_the_index_from_the_cursor_whatever_the_statistics() {
    let db = testkit::TestDb::new();
    marketing_core::db::prepare(&db.url, 1)
        .await
        .expect("database");
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let campaign = Uuid::now_v7();
    let execution = Uuid::now_v7();
    for sql in [
        format!(
            "INSERT INTO marketing_campaign
                 (id, name, type, status, content, created_by, updated_by)
             VALUES ('{campaign}', 'plan', 'sms', 'active', 'hi', uuid_v7(), uuid_v7())"
        ),
        format!(
            "INSERT INTO campaign_executions (id, campaign_id, execution_type, status)
             VALUES ('{execution}', '{campaign}', 'actual', 'running')"
        ),
        "INSERT INTO customers (id, external_id, name, phone, tags)
         SELECT uuid_v7(), 'c' || i, 'n', '+8613800' || i, ARRAY['t']
         FROM generate_series(1, 20000) i"
            .to_owned(),
        format!(
            "INSERT INTO marketing_record (id, campaign_id, execution_id, customer_id, channel, status)
             SELECT uuid_v7(), '{campaign}', '{execution}', id, 'sms', 'pending' FROM customers"
        ),
    ] {
        diesel::sql_query(sql).execute(&mut conn).await.expect("seed");
    }
    let cursor: Uuid = marketing_core::schema::marketing_record::table
        .select(marketing_core::schema::marketing_record::customer_id)
        .order(marketing_core::schema::marketing_record::customer_id)
        .offset(5000)
        .first(&mut conn)
        .await
        .expect("cursor");

    let plan: Vec<PlanLine> = read_page(
        &mut conn,
        &format!("EXPLAIN {PAGE_SQL}"),
        campaign,
        execution,
        Some(cursor),
        5000,
    )
    .await
    .expect("explain");
    let plan = plan
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        plan.contains("Index Scan using marketing_record_execution_customer"),
        "{plan}"
    );
    assert!(!plan.contains("Sort"), "{plan}");

    // And the page itself: the next records after the cursor, in customer order.
    let rows: Vec<PageRow> = read_page(&mut conn, PAGE_SQL, campaign, execution, Some(cursor), 3)
        .await
        .expect("page");
    let ids: Vec<Uuid> = rows.iter().filter_map(|r| r.customer_id).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > cursor);
}
