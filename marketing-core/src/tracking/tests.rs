use super::*;
use crate::render::{CampaignVars, Rendered};
use crate::vocabulary::Channel;

fn signer() -> Signer {
    Signer::new(b"secret", "https://m.example.com/")
}

#[test]
fn tokens_round_trip_and_refuse_tampering() {
    let s = signer();
    let record = Uuid::now_v7();
    for t in [
        Token::Click {
            record,
            link: 3,
            url: "https://shop.example.com/a?b=c".into(),
        },
        Token::Open { record },
        Token::Unsubscribe { record },
    ] {
        let signed = s.sign(&t);
        assert_eq!(s.verify(&signed), Some(t.clone()));
        // Another secret, a flipped character, a truncation: all refused.
        assert_eq!(Signer::new(b"other", "x").verify(&signed), None);
        let mut chars: Vec<char> = signed.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        assert_eq!(s.verify(&chars.iter().collect::<String>()), None);
        assert_eq!(s.verify(&signed[..signed.len() - 2]), None);
        let (payload, _) = signed.split_once('.').unwrap();
        assert_eq!(s.verify(payload), None);
        assert_eq!(s.verify(&format!("{payload}.")), None);
    }
    assert_eq!(s.verify("garbage"), None);
    assert!(s.open_url(record).starts_with("https://m.example.com/t/o/"));
}

#[test]
fn messages_get_tracked_links_an_unsubscribe_link_and_for_email_a_pixel() {
    let s = signer();
    let record = Uuid::now_v7();
    let unsubscribe = s.unsubscribe_url(record);
    let sms = s.decorate(
        record,
        Channel::Sms,
        Some("zh-CN"),
        &unsubscribe,
        Rendered {
            subject: "s".into(),
            body: "抢购 https://shop.example.com/a".into(),
            html_body: None,
        },
    );
    let click = s.click_url(record, 0, "https://shop.example.com/a");
    assert_eq!(sms.body, format!("抢购 {click}\n\n退订：{unsubscribe}"));
    assert_eq!(sms.html_body, None);

    // The content placed the unsubscribe link itself: not added again, not wrapped.
    let email = s.decorate(
        record,
        Channel::Email,
        Some("en-US"),
        &unsubscribe,
        Rendered {
            subject: "s".into(),
            body: format!("Bye: {unsubscribe}"),
            html_body: Some(format!(
                r#"<html><body><a href="https://x.example.com/?a=1&amp;b=2">x</a><a href="{unsubscribe}">bye</a></body></html>"#
            )),
        },
    );
    assert_eq!(email.body, format!("Bye: {unsubscribe}"));
    let html = email.html_body.unwrap();
    let click = s.click_url(record, 0, "https://x.example.com/?a=1&b=2");
    assert!(
        html.contains(&format!(r#"<a href="{click}">x</a>"#)),
        "{html}"
    );
    assert_eq!(html.matches(&unsubscribe).count(), 1, "{html}");
    assert!(
        html.ends_with(&format!(
            r#"<img src="{}" width="1" height="1" alt="" style="display:none"></body></html>"#,
            s.open_url(record)
        )),
        "{html}"
    );

    // Plain-text e-mail gets an escaped HTML part for the pixel.
    let plain = s.decorate(
        record,
        Channel::Email,
        None,
        &unsubscribe,
        Rendered {
            subject: "s".into(),
            body: "<b>hi</b>".into(),
            html_body: None,
        },
    );
    let html = plain.html_body.unwrap();
    assert!(html.contains("&lt;b&gt;hi&lt;/b&gt;"), "{html}");
    assert!(html.contains(&s.open_url(record)));
    assert!(html.contains(&format!("退订：{unsubscribe}")), "{html}");
}

#[test]
fn links_in_text_and_html_are_rewritten_in_order() {
    let (text, next) = rewrite_text(
        "Sale at https://shop.example.com/sale?x=1 and http://a.example.com. Not ftp://x",
        0,
        |i, url| Some(format!("<{i}:{url}>")),
    );
    assert_eq!(
        text,
        "Sale at <0:https://shop.example.com/sale?x=1> and <1:http://a.example.com>. Not ftp://x"
    );
    assert_eq!(next, 2);
    let (html, next) = rewrite_html(
        r#"<a href="https://a.example.com/?a=1&amp;b=2">A</a> <a HREF='mailto:x@y'>m</a> <a href="http://b.example.com">B</a>"#,
        5,
        |i, url| Some(format!("https://t/{i}?u={url}")),
    );
    assert_eq!(
        html,
        r#"<a href="https://t/5?u=https://a.example.com/?a=1&amp;b=2">A</a> <a HREF='mailto:x@y'>m</a> <a href="https://t/6?u=http://b.example.com">B</a>"#
    );
    assert_eq!(next, 7);
}

#[test]
fn finishing_renders_with_the_records_own_links_and_previews_take_the_same_path() {
    use crate::render::{Content, MessageSource, Recipient};
    let s = signer();
    let record = Uuid::now_v7();
    let content = Content::compile(&MessageSource {
        body: "{{ name }}，领券https://shop.example.com/a，不想收到？{{ unsubscribe_url }}".into(),
        ..Default::default()
    })
    .unwrap();
    let recipient = Recipient {
        name: Some("张三".into()),
        // Whatever the caller put here, the record's own link is used.
        unsubscribe_url: Some("https://elsewhere.example.com/u".into()),
        ..Default::default()
    };
    let finished = s
        .finish(
            record,
            Channel::Sms,
            &content,
            recipient.clone(),
            &no_campaign(),
        )
        .unwrap();
    assert_eq!(finished.unsubscribe_url, s.unsubscribe_url(record));
    assert_eq!(
        finished.message.body,
        format!(
            "张三，领券{}，不想收到？{}",
            s.click_url(record, 0, "https://shop.example.com/a"),
            s.unsubscribe_url(record)
        )
    );
    let preview = s
        .finish_preview(Channel::Sms, &content, recipient.clone(), &no_campaign())
        .unwrap();
    let as_preview_record = s
        .finish(
            PREVIEW_RECORD,
            Channel::Sms,
            &content,
            recipient,
            &no_campaign(),
        )
        .unwrap();
    assert_eq!(preview, as_preview_record.message);
    assert_eq!(
        preview
            .body
            .replace(
                &s.click_url(PREVIEW_RECORD, 0, "https://shop.example.com/a"),
                &s.click_url(record, 0, "https://shop.example.com/a")
            )
            .replace(
                &s.unsubscribe_url(PREVIEW_RECORD),
                &s.unsubscribe_url(record)
            ),
        finished.message.body,
        "a preview differs from the real message by its tokens only"
    );
}

/// Campaign variables of no campaign in particular.
fn no_campaign() -> CampaignVars {
    CampaignVars {
        id: Uuid::nil(),
        name: String::new(),
        channel: Channel::Sms,
        start_time: None,
        end_time: None,
    }
}
