//! Each vendor provider through the real worker (campaign-svc fans a campaign out, the worker
//! claims, renders, signs and sends) against the vendor's stand-in, which verifies signatures
//! and wire format as the vendor does: the happy path, throttling (retried, then sent) and an
//! invalid recipient (failed at once with the vendor's message). `credentials.rs` proves each
//! stand-in refuses a wrong signature, and that tokens are cached.

mod credentials;
mod email;
mod push;
mod sms;
mod wechat;

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel_async::RunQueryDsl;
use testkit::TestApp;
use testkit::vendors::{Books, Delivery, Mode};

use crate::common::{customers, send_campaign, start_worker, wait_final};

pub fn aliyun(v: &testkit::vendors::aliyun::AliyunStandIn) -> Vec<String> {
    args(&[
        ("--sms-provider", "aliyun"),
        ("--aliyun-access-key-id", &v.access_key_id),
        ("--aliyun-access-key-secret", &v.access_key_secret),
        ("--aliyun-sms-sign-name", "阿里云短信测试"),
        ("--aliyun-sms-template-code", "SMS_154950909"),
        ("--aliyun-sms-endpoint", &v.endpoint()),
    ])
}

pub fn tencent(v: &testkit::vendors::tencent::TencentStandIn) -> Vec<String> {
    args(&[
        ("--sms-provider", "tencent"),
        ("--tencent-secret-id", &v.secret_id),
        ("--tencent-secret-key", &v.secret_key),
        ("--tencent-sms-sdk-app-id", &v.sdk_app_id),
        ("--tencent-sms-sign-name", "腾讯云"),
        ("--tencent-sms-template-id", "1110"),
        ("--tencent-sms-endpoint", &v.endpoint()),
    ])
}

pub fn twilio(v: &testkit::vendors::twilio::TwilioStandIn) -> Vec<String> {
    args(&[
        ("--sms-provider", "twilio"),
        ("--twilio-account-sid", &v.account_sid),
        ("--twilio-auth-token", &v.auth_token),
        ("--twilio-from", &v.from),
        ("--twilio-api-base", &v.api_base()),
    ])
}

pub fn fcm(v: &testkit::vendors::fcm::FcmStandIn) -> Vec<String> {
    args(&[
        ("--push-provider", "fcm"),
        ("--fcm-service-account", &v.service_account_json()),
        ("--fcm-endpoint", &v.endpoint()),
    ])
}

pub fn apns(v: &testkit::vendors::apns::ApnsStandIn) -> Vec<String> {
    args(&[
        ("--push-provider", "apns"),
        ("--apns-key", &v.key_pem),
        ("--apns-key-id", &v.key_id),
        ("--apns-team-id", &v.team_id),
        ("--apns-topic", &v.topic),
        ("--apns-endpoint", &v.endpoint()),
        ("--apns-ca-cert", &v.ca_cert_path()),
    ])
}

pub fn ses(v: &testkit::vendors::ses::SesStandIn) -> Vec<String> {
    args(&[
        ("--email-provider", "ses"),
        ("--ses-region", &v.region),
        ("--ses-access-key-id", &v.access_key_id),
        ("--ses-secret-access-key", &v.secret_access_key),
        ("--ses-endpoint", &v.endpoint()),
    ])
}

pub fn wechat(v: &testkit::vendors::wechat::WechatStandIn) -> Vec<String> {
    use testkit::vendors::wechat::{APP_ID, APP_SECRET, TEMPLATE_ID};
    args(&[
        ("--wechat-provider", "wechat"),
        ("--wechat-app-id", APP_ID),
        ("--wechat-app-secret", APP_SECRET),
        ("--wechat-template-id", TEMPLATE_ID),
        ("--wechat-api-base", &v.endpoint()),
    ])
}

/// `--flag=value` each, so that values starting with `-` (a PEM key) stay values.
fn args(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// A record's outcome as the worker wrote it.
#[derive(Debug, QueryableByName)]
pub struct Outcome {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub provider_message_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error_message: Option<String>,
}

async fn outcomes(app: &TestApp, campaign: &str) -> Vec<Outcome> {
    let mut conn = app.db().await;
    diesel::sql_query(
        "SELECT id::text AS id, status::text AS status, provider_message_id, error_message \
         FROM marketing_record WHERE campaign_id = $1::uuid ORDER BY id",
    )
    .bind::<Text, _>(campaign)
    .load(&mut conn)
    .await
    .expect("the records load")
}

const RECIPIENTS: usize = 3;

/// Sends "Hi {{ name }}" on `channel` to three customers through a worker with `args`.
async fn run(channel: &str, args: &[String]) -> (TestApp, Vec<Outcome>) {
    run_to(channel, args, RECIPIENTS, "Hi {{ name }}").await
}

/// Sends `content` on `channel` to `n` customers through a worker with `args`.
async fn run_to(
    channel: &str,
    args: &[String],
    n: usize,
    content: &str,
) -> (TestApp, Vec<Outcome>) {
    let app = testkit::spawn_app().await;
    customers(&app, n).await;
    let _worker = start_worker(&app, args);
    let campaign = send_campaign(&app, channel, content).await;
    wait_final(&app, &campaign, Duration::from_secs(60)).await;
    let outcomes = outcomes(&app, &campaign).await;
    assert_eq!(outcomes.len(), n);
    (app, outcomes)
}

/// Every record `sent` with the message id the vendor answered, each message accepted once
/// and no signature refused; returns each record with the vendor's view of its message.
pub async fn delivers(channel: &str, args: &[String], books: &Books) -> Vec<(Outcome, Delivery)> {
    let (_app, outcomes) = run(channel, args).await;
    let deliveries = books.deliveries();
    assert_eq!(deliveries.len(), RECIPIENTS, "{deliveries:?}");
    assert_eq!(books.bad_signatures(), 0, "every request verified");
    outcomes
        .into_iter()
        .map(|o| {
            assert_eq!(o.status, "sent", "{o:?}");
            let d = deliveries
                .iter()
                .find(|d| Some(&d.id) == o.provider_message_id.as_ref())
                .unwrap_or_else(|| panic!("the vendor's id is kept: {o:?} {deliveries:?}"))
                .clone();
            (o, d)
        })
        .collect()
}

/// The vendor throttles each recipient's first two attempts: each is tried a third time and
/// sent.
pub async fn retries_throttling(channel: &str, args: &[String], books: &Books, first_to: &str) {
    books.set_mode(Mode::Throttle(2));
    let (_app, outcomes) = run(channel, args).await;
    assert!(outcomes.iter().all(|o| o.status == "sent"), "{outcomes:?}");
    assert_eq!(books.deliveries().len(), RECIPIENTS);
    assert_eq!(
        books.attempts(first_to),
        3,
        "two throttled attempts, then the send"
    );
    assert_eq!(books.bad_signatures(), 0);
}

/// The vendor refuses every recipient as invalid: each record `failed` at once (one attempt)
/// with the vendor's code and message.
pub async fn fails_invalid_recipients(
    channel: &str,
    args: &[String],
    books: &Books,
    first_to: &str,
    vendor_message: &str,
) {
    books.set_mode(Mode::InvalidRecipient);
    let (_app, outcomes) = run(channel, args).await;
    for o in &outcomes {
        assert_eq!(o.status, "failed", "{o:?}");
        let reason = o.error_message.as_deref().unwrap_or("");
        assert!(
            reason.contains("refused the message") && reason.contains(vendor_message),
            "{reason}"
        );
    }
    assert_eq!(
        books.attempts(first_to),
        1,
        "a permanent refusal is not retried"
    );
    assert!(books.deliveries().is_empty());
}
