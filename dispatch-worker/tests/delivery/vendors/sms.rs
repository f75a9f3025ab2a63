//! SMS through Aliyun, Tencent Cloud and Twilio.

use testkit::vendors::Mode;
use testkit::vendors::aliyun::AliyunStandIn;
use testkit::vendors::tencent::TencentStandIn;
use testkit::vendors::twilio::TwilioStandIn;

use super::{delivers, fails_invalid_recipients, retries_throttling};

const FIRST_PHONE: &str = "+8613800000000";

/// The rendered message: the content, then its unsubscribe footer.
fn rendered(body: &str) -> bool {
    body.starts_with("Hi 客户") && body.contains("\n\n退订：https://marketing.test/u/")
}

#[tokio::test(flavor = "multi_thread")]
async fn aliyun_sends_the_message_as_the_template_variable_signed() {
    let v = AliyunStandIn::start(Mode::Ok).await;
    for (record, d) in delivers("sms", &super::aliyun(&v), &v.books).await {
        assert!(d.to.starts_with("861380"), "sent without the +: {}", d.to);
        assert_eq!(d.fields["OutId"], record.id, "the record id is the OutId");
        assert_eq!(d.fields["SignName"], "阿里云短信测试");
        assert_eq!(d.fields["TemplateCode"], "SMS_154950909");
        assert!(
            rendered(d.fields["TemplateParam"]["content"].as_str().unwrap()),
            "{d:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aliyun_flow_control_is_retried() {
    let v = AliyunStandIn::start(Mode::Ok).await;
    retries_throttling("sms", &super::aliyun(&v), &v.books, "8613800000000").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn aliyun_illegal_numbers_fail_with_its_code() {
    let v = AliyunStandIn::start(Mode::Ok).await;
    fails_invalid_recipients(
        "sms",
        &super::aliyun(&v),
        &v.books,
        "8613800000000",
        "isv.MOBILE_NUMBER_ILLEGAL: 非法手机号",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tencent_sends_the_message_as_the_template_parameter_signed() {
    let v = TencentStandIn::start(Mode::Ok).await;
    for (record, d) in delivers("sms", &super::tencent(&v), &v.books).await {
        assert!(d.to.starts_with("+861380"), "{}", d.to);
        assert_eq!(d.fields["SessionContext"], record.id);
        assert_eq!(d.fields["TemplateId"], "1110");
        assert!(
            rendered(d.fields["TemplateParamSet"][0].as_str().unwrap()),
            "{d:?}"
        );
        assert!(d.id.starts_with("5000:"), "the SerialNo is kept: {}", d.id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tencent_frequency_limits_are_retried() {
    let v = TencentStandIn::start(Mode::Ok).await;
    retries_throttling("sms", &super::tencent(&v), &v.books, FIRST_PHONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tencent_incorrect_numbers_fail_with_its_code() {
    let v = TencentStandIn::start(Mode::Ok).await;
    fails_invalid_recipients(
        "sms",
        &super::tencent(&v),
        &v.books,
        FIRST_PHONE,
        "InvalidParameterValue.IncorrectPhoneNumber: 手机号格式错误。",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_sends_the_rendered_text_from_the_configured_number() {
    let v = TwilioStandIn::start(Mode::Ok).await;
    for (_, d) in delivers("sms", &super::twilio(&v), &v.books).await {
        assert!(d.to.starts_with("+861380"), "{}", d.to);
        assert_eq!(d.fields["From"], v.from.as_str());
        assert!(rendered(d.fields["Body"].as_str().unwrap()), "{d:?}");
        assert!(d.id.starts_with("SM"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_429_is_retried() {
    let v = TwilioStandIn::start(Mode::Ok).await;
    retries_throttling("sms", &super::twilio(&v), &v.books, FIRST_PHONE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_invalid_numbers_fail_with_error_21211() {
    let v = TwilioStandIn::start(Mode::Ok).await;
    fails_invalid_recipients(
        "sms",
        &super::twilio(&v),
        &v.books,
        FIRST_PHONE,
        "21211: The 'To' number +861380",
    )
    .await;
}

/// The whole round trip: the worker sends through Aliyun and stores its BizId; Aliyun pushes
/// each message's delivery report to campaign-svc's `/webhooks/sms/aliyun`, which finds the
/// record by that BizId and marks it delivered, counted once.
#[tokio::test(flavor = "multi_thread")]
async fn aliyun_delivery_reports_come_back_and_deliver_the_records() {
    use std::time::Duration;

    use crate::common::{customers, send_campaign, start_worker, wait_final};

    let v = AliyunStandIn::start(Mode::Ok).await;
    let app = testkit::spawn_app_with(testkit::TestDb::new(), testkit::TestQueues::new(), |c| {
        c.callbacks.aliyun_callback_token = Some("report-token".into())
    })
    .await;
    v.push_reports_to(&app.url("/webhooks/sms/aliyun?token=report-token"));
    customers(&app, 3).await;
    let _worker = start_worker(&app, &super::aliyun(&v));
    let campaign = send_campaign(&app, "sms", "Hi {{ name }}").await;
    wait_final(&app, &campaign, Duration::from_secs(60)).await;
    testkit::wait_until(
        Duration::from_secs(30),
        "every record delivered",
        || async {
            app.count(&format!(
                "SELECT count(*) AS n FROM marketing_record
             WHERE campaign_id = '{campaign}' AND status = 'delivered'"
            ))
            .await
                == 3
        },
    )
    .await;
    let (_, stats) = app
        .get(&format!("/api/marketing/campaigns/{campaign}/stats"))
        .await;
    assert_eq!(stats["totals"]["delivered"], 3, "{stats}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_events WHERE provider = 'aliyun'")
            .await,
        3
    );
}
