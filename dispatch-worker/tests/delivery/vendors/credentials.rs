//! Each stand-in's signature check is real: a provider signing with a wrong secret (or key) is
//! refused with the vendor's error and nothing is delivered, while the same provider with the
//! right one is accepted. And tokens are cached: FCM fetches a new access token only when the
//! old one nears its expiry.

use std::time::Duration;

use clap::Parser as _;
use dispatch_worker::config::Config;
use dispatch_worker::providers::{OutboundMessage, Providers, SendError};
use marketing_core::vocabulary::Channel;
use testkit::vendors::Mode;

/// The providers a worker with `args` (and nothing else) would build.
fn providers(args: &[String]) -> Providers {
    let config = Config::try_parse_from(
        std::iter::once("dispatch-worker".to_owned()).chain(args.iter().cloned()),
    )
    .expect("the settings parse");
    Providers::from_config(&config).expect("the providers build")
}

fn message(channel: Channel, to: &str) -> OutboundMessage {
    OutboundMessage {
        record_id: uuid::Uuid::new_v4(),
        campaign_id: uuid::Uuid::new_v4(),
        channel,
        to: to.into(),
        subject: "Double 11".into(),
        body: "Hi 客户0".into(),
        html_body: None,
        unsubscribe_url: Some("https://marketing.test/u/x".into()),
    }
}

/// Sends one message with the right settings (accepted) and one with `wrong` replacing the
/// value of `setting` (refused permanently, with `vendor_error` in the reason).
async fn refused_when_wrong(
    channel: Channel,
    to: &str,
    args: Vec<String>,
    books: &testkit::vendors::Books,
    setting: &str,
    wrong: &str,
    vendor_error: &str,
) {
    let right = providers(&args)
        .for_channel(channel)
        .send(&message(channel, to))
        .await;
    assert!(right.is_ok(), "the right secret is accepted: {right:?}");
    let mut bad = args.clone();
    let at = bad
        .iter()
        .position(|a| a.starts_with(&format!("{setting}=")))
        .expect("the setting is given");
    bad[at] = format!("{setting}={wrong}");
    match providers(&bad)
        .for_channel(channel)
        .send(&message(channel, to))
        .await
    {
        Err(SendError::Permanent(reason)) => {
            assert!(reason.contains(vendor_error), "{reason}")
        }
        other => panic!("a wrong signature must be refused for good: {other:?}"),
    }
    assert_eq!(
        books.bad_signatures(),
        1,
        "the stand-in refused exactly one"
    );
    assert_eq!(
        books.deliveries().len(),
        1,
        "only the signed message arrived"
    );
}

#[tokio::test]
async fn aliyun_refuses_a_wrong_access_key_secret() {
    let v = testkit::vendors::aliyun::AliyunStandIn::start(Mode::Ok).await;
    let args = super::aliyun(&v);
    refused_when_wrong(
        Channel::Sms,
        "+8613800000000",
        args,
        &v.books,
        "--aliyun-access-key-secret",
        "not-the-secret",
        "SignatureDoesNotMatch",
    )
    .await;
}

#[tokio::test]
async fn tencent_refuses_a_wrong_secret_key() {
    let v = testkit::vendors::tencent::TencentStandIn::start(Mode::Ok).await;
    let args = super::tencent(&v);
    refused_when_wrong(
        Channel::Sms,
        "+8613800000000",
        args,
        &v.books,
        "--tencent-secret-key",
        "not-the-key",
        "AuthFailure.SignatureFailure",
    )
    .await;
}

#[tokio::test]
async fn twilio_refuses_a_wrong_auth_token() {
    let v = testkit::vendors::twilio::TwilioStandIn::start(Mode::Ok).await;
    let args = super::twilio(&v);
    refused_when_wrong(
        Channel::Sms,
        "+8613800000000",
        args,
        &v.books,
        "--twilio-auth-token",
        "not-the-token",
        "20003: Authenticate",
    )
    .await;
}

#[tokio::test]
async fn fcm_refuses_an_assertion_signed_with_another_key() {
    let v = testkit::vendors::fcm::FcmStandIn::start(Mode::Ok).await;
    let args = super::fcm(&v);
    let other = v.service_account_signed_with(testkit::vendors::fcm::OTHER_KEY);
    refused_when_wrong(
        Channel::PushNotification,
        "tok-0",
        args,
        &v.books,
        "--fcm-service-account",
        &other,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn apns_refuses_a_token_signed_with_another_key() {
    let v = testkit::vendors::apns::ApnsStandIn::start(Mode::Ok).await;
    let args = super::apns(&v);
    let other = testkit::vendors::apns::other_key_pem();
    refused_when_wrong(
        Channel::PushNotification,
        "tok-0",
        args,
        &v.books,
        "--apns-key",
        &other,
        "403 InvalidProviderToken",
    )
    .await;
}

#[tokio::test]
async fn ses_refuses_a_wrong_secret_access_key() {
    let v = testkit::vendors::ses::SesStandIn::start(Mode::Ok).await;
    let args = super::ses(&v);
    refused_when_wrong(
        Channel::Email,
        "c0@example.com",
        args,
        &v.books,
        "--ses-secret-access-key",
        "not-the-secret",
        "InvalidSignatureException",
    )
    .await;
}

#[tokio::test]
async fn fcm_fetches_a_new_access_token_only_when_the_old_one_nears_expiry() {
    let v = testkit::vendors::fcm::FcmStandIn::start(Mode::Ok).await;
    // Tokens good for 2 s are replaced after 1 s (half their life when that is shorter than
    // the five-minute margin).
    v.set_token_lifetime(Duration::from_secs(2));
    let fcm = providers(&super::fcm(&v));
    let push = fcm.for_channel(Channel::PushNotification);
    for _ in 0..3 {
        push.send(&message(Channel::PushNotification, "tok-0"))
            .await
            .expect("sent");
    }
    assert_eq!(v.tokens_issued(), 1, "cached");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    push.send(&message(Channel::PushNotification, "tok-0"))
        .await
        .expect("sent");
    assert_eq!(v.tokens_issued(), 2, "refreshed before it expired");
    assert_eq!(
        v.books.bad_signatures(),
        0,
        "never sent with an expired token"
    );
}

#[tokio::test]
async fn wechat_refuses_a_wrong_app_secret() {
    let v = testkit::vendors::wechat::WechatStandIn::start(Mode::Ok).await;
    let args = super::wechat(&v);
    refused_when_wrong(
        Channel::Wechat,
        "oWx-000000000000000000000000",
        args,
        &v.books,
        "--wechat-app-secret",
        "not-the-secret",
        "40125 invalid appsecret",
    )
    .await;
}

#[tokio::test]
async fn wechat_caches_its_token_from_either_token_api_until_it_nears_expiry() {
    for api in ["stable_token", "token"] {
        let v = testkit::vendors::wechat::WechatStandIn::start(Mode::Ok).await;
        v.set_token_lifetime(Duration::from_secs(2));
        let mut args = super::wechat(&v);
        args.push(format!("--wechat-token-api={api}"));
        let wechat = providers(&args);
        let lane = wechat.for_channel(Channel::Wechat);
        for _ in 0..3 {
            lane.send(&message(Channel::Wechat, "oWx-0"))
                .await
                .expect("sent");
        }
        assert_eq!(v.tokens_issued(), 1, "{api}: cached");
        // Past its expiry: the worker fetched the next one before sending (stable_token hands
        // out the same token until then, so the new one comes only now).
        tokio::time::sleep(Duration::from_millis(2100)).await;
        lane.send(&message(Channel::Wechat, "oWx-0"))
            .await
            .expect("sent");
        assert_eq!(v.tokens_issued(), 2, "{api}: a new token");
        assert_eq!(
            v.token_refusals(),
            0,
            "{api}: never sent with an expired token"
        );
        assert_eq!(v.books.deliveries().len(), 4);
    }
}
