//! The shared gate statements against the real database: the reservation clock, and adaptive
//! throttling pauses.

use std::time::Duration;

use dispatch_worker::store::gates;

const MS: Duration = Duration::from_millis(1);

fn close(secs: f64, expected: f64) -> bool {
    (secs - expected).abs() < 0.03
}

#[tokio::test(flavor = "multi_thread")]
async fn reservations_queue_on_one_clock_with_a_bounded_credit() {
    let app = testkit::spawn_app().await;
    let mut conn = app.db().await;
    // 100/s, reservations of 10 (0.1 s), a credit of 0.025 s.
    let first = gates::reserve(&mut conn, "sms:http", 0.1, 0.025)
        .await
        .unwrap();
    assert!(
        close(first, 0.075),
        "idle: the credit comes first ({first})"
    );
    let second = gates::reserve(&mut conn, "sms:http", 0.1, 0.025)
        .await
        .unwrap();
    assert!(close(second, 0.175), "queued after the first ({second})");
    let other = gates::reserve(&mut conn, "sms:aliyun", 0.1, 0.025)
        .await
        .unwrap();
    assert!(
        close(other, 0.075),
        "each provider has its own clock ({other})"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = gates::reserve(&mut conn, "sms:http", 0.1, 0.025)
        .await
        .unwrap();
    assert!(
        close(later, 0.075),
        "idle time banks no more than the credit ({later})"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttles_pause_everyone_and_double_while_the_vendor_keeps_throttling() {
    let app = testkit::spawn_app().await;
    let mut conn = app.db().await;
    let (base, max) = (200 * MS, Duration::from_secs(30));
    let p = gates::throttle(&mut conn, "sms:http", None, base, max)
        .await
        .unwrap();
    assert_eq!(p.level, 1);
    assert!(close(p.left.as_secs_f64(), 0.2), "{p:?}");
    let left = gates::pause_left(&mut conn, "sms:http").await.unwrap();
    assert!(left > 150 * MS, "every worker sees it: {left:?}");
    // Answers to requests sent before the pause was known: the same pause.
    let same = gates::throttle(&mut conn, "sms:http", None, base, max)
        .await
        .unwrap();
    assert_eq!(same.level, 1, "{same:?}");
    assert!(same.left <= p.left, "{same:?}");
    // A reservation made during the pause starts after it.
    let end = gates::reserve(&mut conn, "sms:http", 0.1, 0.0)
        .await
        .unwrap();
    assert!(end > 0.25, "tokens after the pause ({end})");
    // Throttled again just after the pause ended: the vendor still throttles, so it doubles.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let again = gates::throttle(&mut conn, "sms:http", None, base, max)
        .await
        .unwrap();
    assert_eq!(again.level, 2, "{again:?}");
    assert!(close(again.left.as_secs_f64(), 0.4), "{again:?}");
    // A Retry-After longer than the pause lengthens it, and none exceeds the longest.
    let told = gates::throttle(
        &mut conn,
        "sms:http",
        Some(Duration::from_secs(1)),
        base,
        max,
    )
    .await
    .unwrap();
    assert!(close(told.left.as_secs_f64(), 1.0), "{told:?}");
    let capped = gates::throttle(
        &mut conn,
        "sms:http",
        Some(Duration::from_secs(3600)),
        base,
        max,
    )
    .await
    .unwrap();
    assert!(close(capped.left.as_secs_f64(), 30.0), "{capped:?}");
    // Other providers are not paused; their first throttle starts from the first pause.
    let fresh = gates::throttle(&mut conn, "push_notification:fcm", None, base, max)
        .await
        .unwrap();
    assert_eq!(fresh.level, 1);
    assert!(
        gates::pause_left(&mut conn, "email:smtp")
            .await
            .unwrap()
            .is_zero()
    );
}
