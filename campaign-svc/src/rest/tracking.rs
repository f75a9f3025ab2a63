//! The public endpoints links in messages lead to: click redirects, the open pixel and the
//! unsubscribe page. No bearer token: the signed token in the path is the authority. A token that
//! does not verify (forged, tampered, truncated) gets a bare 404 and nothing is written.
//!
//! Previews and simulation samples carry tokens for [`PREVIEW_RECORD`], which no record has: their
//! links redirect and their pixel loads as a real message's would, and their unsubscribe page says
//! it is a preview; nothing is looked up or written.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use marketing_core::tracking::{PREVIEW_RECORD, Token, redirect_location};
use marketing_core::vocabulary::Channel;

use super::RestState;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

fn token(state: &RestState, raw: &str) -> Option<Token> {
    let token = state.service.settings().signer.verify(raw);
    if token.is_none() {
        metrics::counter!("tracking_rejected_tokens_total").increment(1);
    }
    token
}

/// `GET /t/c/{token}`: records the click and redirects (302) to the link's original URL.
#[utoipa::path(
    get,
    path = "/t/c/{token}",
    tag = "tracking",
    params(("token" = String, Path, description = "The signed token of the link")),
    responses(
        (status = 302, description = "To the link's original URL", headers(
            ("Location" = String, description = "The original URL")
        )),
        (status = 404, description = "A token that does not verify", content_type = "text/plain", body = String),
    )
)]
pub async fn click(State(state): State<RestState>, Path(raw): Path<String>) -> Response {
    let Some(Token::Click { record, link, url }) = token(&state, &raw) else {
        return not_found();
    };
    if record != PREVIEW_RECORD
        && let Err(e) = state.service.record_click(record, link).await
    {
        // The customer still gets where they wanted to go.
        tracing::error!(error = ?e, record_id = %record, "recording a click failed");
    }
    // A link found in an HTML `href` may hold non-ASCII characters: never sent raw.
    match HeaderValue::from_str(&redirect_location(&url)) {
        Ok(location) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => not_found(),
    }
}

/// `GET /t/o/{token}`: records the open and answers the pixel.
#[utoipa::path(
    get,
    path = "/t/o/{token}",
    tag = "tracking",
    params(("token" = String, Path, description = "The signed token of the link")),
    responses(
        (status = 200, description = "A transparent 1×1 GIF", content_type = "image/gif", body = Vec<u8>),
        (status = 404, description = "A token that does not verify", content_type = "text/plain", body = String),
    )
)]
pub async fn open(State(state): State<RestState>, Path(raw): Path<String>) -> Response {
    let Some(Token::Open { record }) = token(&state, &raw) else {
        return not_found();
    };
    if record != PREVIEW_RECORD
        && let Err(e) = state.service.record_open(record).await
    {
        tracing::error!(error = ?e, record_id = %record, "recording an open failed");
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, max-age=0"),
            ),
        ],
        PIXEL,
    )
        .into_response()
}

fn channel_words(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "短信 / SMS",
        Channel::Email => "邮件 / e-mail",
        Channel::PushNotification => "推送 / push notifications",
        Channel::Wechat => "微信 / WeChat",
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\
         <body style=\"font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem\">\
         {body}</body></html>"
    ))
}

/// The unsubscribe link of a preview (GET or POST): it belongs to no customer, so it says so and
/// changes nothing.
fn preview_page() -> Response {
    page(
        "预览 / Preview",
        "<h1>预览 / Preview</h1><p>这是预览中的退订链接，没有退订任何人。<br>\
         This is the unsubscribe link of a preview: nobody was unsubscribed.</p>",
    )
    .into_response()
}

/// `GET /u/{token}`: a confirmation page. Only the POST unsubscribes, so link scanners that
/// fetch every URL in a message cannot unsubscribe anyone.
#[utoipa::path(
    get,
    path = "/u/{token}",
    tag = "tracking",
    params(("token" = String, Path, description = "The signed token of the link")),
    responses(
        (status = 200, description = "The confirmation page", content_type = "text/html", body = String),
        (status = 404, description = "A token that does not verify", content_type = "text/plain", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/plain", body = String),
    )
)]
pub async fn unsubscribe_page(State(state): State<RestState>, Path(raw): Path<String>) -> Response {
    let Some(Token::Unsubscribe { record }) = token(&state, &raw) else {
        return not_found();
    };
    if record == PREVIEW_RECORD {
        return preview_page();
    }
    match state.service.record_channel(record).await {
        Ok(Some(channel)) => page(
            "退订 / Unsubscribe",
            &format!(
                "<h1>退订 / Unsubscribe</h1>\
                 <p>不再接收我们的营销{words}？<br>Stop receiving our marketing {words}?</p>\
                 <form method=\"post\"><button type=\"submit\">确认退订 / Unsubscribe</button></form>",
                words = channel_words(channel)
            ),
        )
        .into_response(),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "unsubscribe page");
            (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response()
        }
    }
}

/// `POST /u/{token}`: opts the customer out of the message's channel. Also the RFC 8058
/// one-click target of `List-Unsubscribe-Post` (body `List-Unsubscribe=One-Click`); repeating it
/// is harmless.
#[utoipa::path(
    post,
    path = "/u/{token}",
    tag = "tracking",
    params(("token" = String, Path, description = "The signed token of the link")),
    responses(
        (status = 200, description = "Unsubscribed", content_type = "text/html", body = String),
        (status = 404, description = "A token that does not verify", content_type = "text/plain", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/plain", body = String),
    )
)]
pub async fn unsubscribe(State(state): State<RestState>, Path(raw): Path<String>) -> Response {
    let Some(Token::Unsubscribe { record }) = token(&state, &raw) else {
        return not_found();
    };
    if record == PREVIEW_RECORD {
        return preview_page();
    }
    match state.service.unsubscribe(record).await {
        Ok(Some(channel)) => page(
            "已退订 / Unsubscribed",
            &format!(
                "<h1>已退订 / Unsubscribed</h1><p>您将不再收到我们的营销{words}。<br>\
                 You will no longer receive our marketing {words}.</p>",
                words = channel_words(channel)
            ),
        )
        .into_response(),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = ?e, "unsubscribe");
            (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response()
        }
    }
}
