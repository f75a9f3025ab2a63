//! Push notifications through FCM HTTP v1 and APNs (HTTP/2 over TLS).

use testkit::vendors::Mode;
use testkit::vendors::apns::ApnsStandIn;
use testkit::vendors::fcm::FcmStandIn;

use super::{delivers, fails_invalid_recipients, retries_throttling};

#[tokio::test(flavor = "multi_thread")]
async fn fcm_sends_with_one_cached_access_token() {
    let v = FcmStandIn::start(Mode::Ok).await;
    for (record, d) in delivers("push_notification", &super::fcm(&v), &v.books).await {
        assert!(d.to.starts_with("tok-"), "{}", d.to);
        assert_eq!(d.fields["notification"]["title"], "Double 11");
        assert!(
            d.fields["notification"]["body"]
                .as_str()
                .unwrap()
                .starts_with("Hi 客户")
        );
        assert_eq!(d.fields["data"]["record_id"], record.id);
        assert!(d.id.starts_with("projects/stand-in-project/messages/"));
    }
    assert_eq!(v.tokens_issued(), 1, "one access token serves every send");
}

#[tokio::test(flavor = "multi_thread")]
async fn fcm_quota_exceeded_is_retried_after_its_retry_after() {
    let v = FcmStandIn::start(Mode::Ok).await;
    let started = std::time::Instant::now();
    retries_throttling("push_notification", &super::fcm(&v), &v.books, "tok-0").await;
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "two throttled answers with Retry-After: 1 took at least 2 s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fcm_unregistered_tokens_fail_with_its_code() {
    let v = FcmStandIn::start(Mode::Ok).await;
    fails_invalid_recipients(
        "push_notification",
        &super::fcm(&v),
        &v.books,
        "tok-0",
        "UNREGISTERED: Requested entity was not found.",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apns_sends_over_http2_with_the_record_id_as_apns_id() {
    let v = ApnsStandIn::start(Mode::Ok).await;
    for (record, d) in delivers("push_notification", &super::apns(&v), &v.books).await {
        assert_eq!(d.id, record.id, "apns-id is the record id");
        assert_eq!(d.fields["apns-collapse-id"], record.id);
        assert_eq!(d.fields["payload"]["aps"]["alert"]["title"], "Double 11");
        assert_eq!(d.fields["payload"]["record_id"], record.id);
    }
    assert_eq!(v.provider_tokens_seen(), 1, "the provider token is reused");
}

#[tokio::test(flavor = "multi_thread")]
async fn apns_too_many_requests_is_retried() {
    let v = ApnsStandIn::start(Mode::Ok).await;
    retries_throttling("push_notification", &super::apns(&v), &v.books, "tok-0").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apns_bad_device_tokens_fail_with_the_reason() {
    let v = ApnsStandIn::start(Mode::Ok).await;
    fails_invalid_recipients(
        "push_notification",
        &super::apns(&v),
        &v.books,
        "tok-0",
        "400 BadDeviceToken",
    )
    .await;
}
