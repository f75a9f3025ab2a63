//! WeChat official-account template messages: one access token serves a whole campaign, a
//! token WeChat expires early is replaced mid-campaign without losing or repeating a message,
//! throttling (45009) is retried, an invalid openid (40003) and a follower who unfollowed
//! (43004) fail at once with WeChat's words.

use std::collections::HashSet;

use testkit::vendors::Mode;
use testkit::vendors::wechat::{TEMPLATE_ID, WechatStandIn};

use super::{fails_invalid_recipients, retries_throttling, run_to};

fn openid(i: usize) -> String {
    format!("oWx-{i:024}")
}

const CONTENT: &str = "Hi {{ name }}，双11 五折：https://shop.example/d11。";

#[tokio::test(flavor = "multi_thread")]
async fn wechat_sends_template_messages_with_one_cached_access_token() {
    let v = WechatStandIn::start(Mode::Ok).await;
    let (_app, outcomes) = run_to("wechat", &super::wechat(&v), 20, CONTENT).await;
    let deliveries = v.books.deliveries();
    assert_eq!(deliveries.len(), 20, "{deliveries:?}");
    assert_eq!(v.tokens_issued(), 1, "one access token serves every send");
    assert_eq!(v.token_refusals(), 0);
    assert_eq!(v.books.bad_signatures(), 0);
    for o in outcomes {
        assert_eq!(o.status, "sent", "{o:?}");
        let d = deliveries
            .iter()
            .find(|d| Some(&d.id) == o.provider_message_id.as_ref())
            .unwrap_or_else(|| panic!("the msgid is the provider message id: {o:?}"));
        assert_eq!(
            d.fields["client_msg_id"], o.id,
            "the record id guards resends"
        );
        assert_eq!(d.fields["template_id"], TEMPLATE_ID);
        let text = d.fields["data"]["content"]["value"].as_str().unwrap();
        assert!(text.starts_with("Hi 客户"), "{text}");
        assert!(
            !text.contains("shop.example"),
            "the link is tracked: {text}"
        );
        assert!(!text.contains("退订"), "{text}");
        let url = d.fields["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/t/c/", testkit::PUBLIC_BASE_URL)),
            "a tap opens the tracked link: {url}"
        );
        assert!(text.contains(url), "the same link: {text} {url}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_expired_mid_campaign_is_replaced_and_nothing_is_lost() {
    let v = WechatStandIn::start(Mode::Ok).await;
    v.set_token_uses(5);
    let (_app, outcomes) = run_to("wechat", &super::wechat(&v), 20, CONTENT).await;
    assert!(outcomes.iter().all(|o| o.status == "sent"), "{outcomes:?}");
    let deliveries = v.books.deliveries();
    let to: HashSet<_> = deliveries.iter().map(|d| d.to.clone()).collect();
    assert_eq!(
        (deliveries.len(), to.len()),
        (20, 20),
        "each follower got one message"
    );
    assert!(
        v.token_refusals() >= 1,
        "WeChat answered 42001 at least once"
    );
    assert!(
        v.tokens_issued() >= 4,
        "5 sends per token: {} tokens",
        v.tokens_issued()
    );
    assert_eq!(v.books.bad_signatures(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn wechat_frequency_limits_are_retried() {
    let v = WechatStandIn::start(Mode::Ok).await;
    retries_throttling("wechat", &super::wechat(&v), &v.books, &openid(0)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wechat_invalid_openids_fail_with_its_errcode() {
    let v = WechatStandIn::start(Mode::Ok).await;
    fails_invalid_recipients(
        "wechat",
        &super::wechat(&v),
        &v.books,
        &openid(0),
        "40003 invalid openid",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn followers_who_unfollowed_or_refuse_fail_and_the_others_are_sent() {
    let v = WechatStandIn::start(Mode::Ok).await;
    v.refuse(&openid(0), 43004);
    v.refuse(&openid(1), 43101);
    let (_app, outcomes) = run_to("wechat", &super::wechat(&v), 3, "Hi {{ name }}").await;
    let reasons: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status == "failed")
        .map(|o| o.error_message.clone().unwrap_or_default())
        .collect();
    assert_eq!(reasons.len(), 2, "{outcomes:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("43004 require subscribe")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("43101 user refuse")),
        "{reasons:?}"
    );
    assert_eq!(v.books.attempts(&openid(0)), 1, "not retried");
    assert_eq!(v.books.deliveries().len(), 1);
}

/// WeChat's pushes about what the worker sent, signed as WeChat signs them: the delivery report
/// of a message names it by the msgid the worker stored, and a follower who unfollows gets no
/// message of the next campaign.
#[tokio::test(flavor = "multi_thread")]
async fn wechat_pushes_report_deliveries_and_unfollows_stop_the_next_campaign() {
    use testkit::vendors::wechat::{job_finish_event, signed_query, unsubscribe_event};
    const TOKEN: &str = "wechat-server-token";
    let v = WechatStandIn::start(Mode::Ok).await;
    let app = testkit::spawn_app_with(testkit::TestDb::new(), testkit::TestQueues::new(), |c| {
        c.callbacks.wechat_callback_token = Some(TOKEN.into());
    })
    .await;
    crate::common::customers(&app, 3).await;
    let _worker = crate::common::start_worker(&app, &super::wechat(&v));
    let push = |xml: String, openid: Option<String>| {
        let url = app.url(&format!(
            "/webhooks/wechat/official-account?{}",
            signed_query(TOKEN, openid.as_deref())
        ));
        let http = app.http.clone();
        async move {
            let resp = http.post(url).body(xml).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };

    let first = crate::common::send_campaign(&app, "wechat", "Hi {{ name }}").await;
    crate::common::wait_final(&app, &first, std::time::Duration::from_secs(60)).await;
    let sent = super::outcomes(&app, &first).await;
    let msgid = sent[0].provider_message_id.clone().expect("a msgid");
    let to = v
        .books
        .deliveries()
        .into_iter()
        .find(|d| d.id == msgid)
        .expect("the vendor's message")
        .to;
    assert_eq!(
        push(job_finish_event(&to, &msgid, "success"), Some(to.clone())).await,
        (200, "success".to_owned())
    );
    let status = |id: String| {
        let app = &app;
        async move {
            app.rows(&format!(
                "SELECT status AS line FROM marketing_record WHERE id = '{id}'"
            ))
            .await
        }
    };
    assert_eq!(status(sent[0].id.clone()).await, ["delivered"]);

    assert_eq!(
        push(unsubscribe_event(&openid(1)), Some(openid(1))).await,
        (200, "success".to_owned())
    );
    let second = crate::common::send_campaign(&app, "wechat", "Hi again {{ name }}").await;
    crate::common::wait_final(&app, &second, std::time::Duration::from_secs(60)).await;
    let again = super::outcomes(&app, &second).await;
    assert_eq!(
        again.len(),
        2,
        "the follower who left is not in the audience"
    );
    assert!(again.iter().all(|o| o.status == "sent"), "{again:?}");
    assert_eq!(v.books.attempts(&openid(1)), 1, "only the first campaign's");
    assert_eq!(v.books.deliveries().len(), 5);
}
