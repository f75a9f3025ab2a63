//! E-mail through Amazon SES API v2.

use testkit::vendors::Mode;
use testkit::vendors::ses::SesStandIn;

use super::{delivers, fails_invalid_recipients, retries_throttling};

#[tokio::test(flavor = "multi_thread")]
async fn ses_sends_the_text_and_unsubscribe_headers_signed_with_sigv4() {
    let v = SesStandIn::start(Mode::Ok).await;
    for (record, d) in delivers("email", &super::ses(&v), &v.books).await {
        let f = &d.fields;
        assert!(d.to.ends_with("@example.com"), "{}", d.to);
        assert_eq!(f["FromEmailAddress"], "Marketing <marketing@example.com>");
        let simple = &f["Content"]["Simple"];
        assert_eq!(simple["Subject"]["Data"], "Double 11");
        assert!(
            simple["Body"]["Text"]["Data"]
                .as_str()
                .unwrap()
                .starts_with("Hi 客户")
        );
        assert_eq!(simple["Headers"][0]["Name"], "List-Unsubscribe");
        assert_eq!(f["EmailTags"][0]["Value"], record.id);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ses_too_many_requests_is_retried() {
    let v = SesStandIn::start(Mode::Ok).await;
    retries_throttling("email", &super::ses(&v), &v.books, "c0@example.com").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ses_rejected_messages_fail_with_its_message() {
    let v = SesStandIn::start(Mode::Ok).await;
    fails_invalid_recipients(
        "email",
        &super::ses(&v),
        &v.books,
        "c0@example.com",
        "MessageRejected: Email address is not verified.",
    )
    .await;
}
