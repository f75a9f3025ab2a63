//! The vendors' own callbacks, outside the bearer auth, each proving itself as its vendor
//! authenticates (see `crate::callbacks`): Aliyun and Tencent Cloud by the `token` in the URL,
//! Twilio by `X-Twilio-Signature`, WeChat by the `signature` in the URL, SNS by its certificate
//! signature; and the generic signed
//! inbound SMS form. The check comes before the body is parsed. Each answers in the body its
//! vendor documents.

use axum::Json;
use axum::extract::{OriginalUri, Request, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::RestState;
use super::extract::{QueryParams, read_body};
use crate::domain::reply::InboundBatch;
use crate::domain::vendor::{Vendor, aliyun, sns, tencent, twilio, verify_token, wechat};
use crate::domain::webhook::SIGNATURE_HEADER;
use crate::error::{Error, Result};
use crate::service::replies::ReplyOutcome;
use crate::service::sns::SnsOutcome;
use crate::service::webhooks::WebhookOutcome;

fn json(body: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(body).map_err(|e| Error::MalformedJson(e.to_string()))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| Error::BadSignature("signature header is not ASCII"))
        })
        .transpose()
}

/// `POST /webhooks/sms/aliyun?token=…`: `SmsReport` delivery receipts.
#[utoipa::path(
    post,
    path = "/webhooks/sms/aliyun",
    tag = "webhooks",
    params(("token" = String, Query, description = "The callback token configured for the vendor")),
    request_body(content = Vec<Object>, description = "Aliyun `SmsReport` messages"),
    responses((status = 200, description = "Accepted, in the vendor's words", body = Object))
)]
pub async fn aliyun_receipts(
    State(state): State<RestState>,
    QueryParams(query): QueryParams,
    request: Request,
) -> Result<Json<serde_json::Value>> {
    let body = read_body(request, &state).await?;
    let cb = &state.service.settings().callbacks;
    verify_token(
        cb.aliyun_token.as_deref(),
        query.get("token").map(String::as_str),
        "aliyun",
    )?;
    let batch = aliyun::receipts(json(&body)?)?;
    state
        .service
        .apply_vendor_receipts(Vendor::Aliyun, batch)
        .await?;
    Ok(Json(aliyun::accepted()))
}

/// `POST /webhooks/sms/aliyun/replies?token=…`: `SmsUp` inbound messages.
#[utoipa::path(
    post,
    path = "/webhooks/sms/aliyun/replies",
    tag = "webhooks",
    params(("token" = String, Query, description = "The callback token configured for the vendor")),
    request_body(content = Vec<Object>, description = "Aliyun `SmsUp` messages"),
    responses((status = 200, description = "Accepted, in the vendor's words", body = Object))
)]
pub async fn aliyun_replies(
    State(state): State<RestState>,
    QueryParams(query): QueryParams,
    request: Request,
) -> Result<Json<serde_json::Value>> {
    let body = read_body(request, &state).await?;
    let settings = state.service.settings();
    let token = settings.callbacks.aliyun_token.as_deref();
    verify_token(token, query.get("token").map(String::as_str), "aliyun")?;
    let batch = aliyun::replies(json(&body)?, settings.default_phone_region)?;
    state.service.apply_replies("aliyun", batch).await?;
    Ok(Json(aliyun::accepted()))
}

/// `POST /webhooks/sms/tencent?token=…`: status reports.
#[utoipa::path(
    post,
    path = "/webhooks/sms/tencent",
    tag = "webhooks",
    params(("token" = String, Query, description = "The callback token configured for the vendor")),
    request_body(content = Vec<Object>, description = "Tencent Cloud status reports"),
    responses((status = 200, description = "Accepted, in the vendor's words", body = Object))
)]
pub async fn tencent_receipts(
    State(state): State<RestState>,
    QueryParams(query): QueryParams,
    request: Request,
) -> Result<Json<serde_json::Value>> {
    let body = read_body(request, &state).await?;
    let cb = &state.service.settings().callbacks;
    verify_token(
        cb.tencent_token.as_deref(),
        query.get("token").map(String::as_str),
        "tencent",
    )?;
    let batch = tencent::receipts(json(&body)?)?;
    state
        .service
        .apply_vendor_receipts(Vendor::Tencent, batch)
        .await?;
    Ok(Json(tencent::accepted()))
}

/// `POST /webhooks/sms/tencent/replies?token=…`: reply callbacks.
#[utoipa::path(
    post,
    path = "/webhooks/sms/tencent/replies",
    tag = "webhooks",
    params(("token" = String, Query, description = "The callback token configured for the vendor")),
    request_body(content = Object, description = "A Tencent Cloud reply callback"),
    responses((status = 200, description = "Accepted, in the vendor's words", body = Object))
)]
pub async fn tencent_replies(
    State(state): State<RestState>,
    QueryParams(query): QueryParams,
    request: Request,
) -> Result<Json<serde_json::Value>> {
    let body = read_body(request, &state).await?;
    let settings = state.service.settings();
    let token = settings.callbacks.tencent_token.as_deref();
    verify_token(token, query.get("token").map(String::as_str), "tencent")?;
    let batch = tencent::replies(json(&body)?, settings.default_phone_region)?;
    state.service.apply_replies("tencent", batch).await?;
    Ok(Json(tencent::accepted()))
}

/// The form of a Twilio callback, once its signature over the public URL checked out.
async fn twilio_form(
    state: &RestState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    request: Request,
) -> Result<Vec<(String, String)>> {
    let body = read_body(request, state).await?;
    let cb = &state.service.settings().callbacks;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", cb.twilio_base_url);
    let params = twilio::form(&body);
    twilio::verify_signature(
        cb.twilio_auth_token.as_deref(),
        &url,
        &params,
        header(headers, twilio::SIGNATURE_HEADER)?,
    )?;
    Ok(params)
}

/// `POST /webhooks/sms/twilio`: status callbacks.
#[utoipa::path(
    post,
    path = "/webhooks/sms/twilio",
    tag = "webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and form")),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "Twilio's status callback form"),
    responses((status = 200, description = "What the receipts did", body = WebhookOutcome))
)]
pub async fn twilio_receipts(
    State(state): State<RestState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<WebhookOutcome>> {
    let params = twilio_form(&state, &uri, &headers, request).await?;
    let batch = twilio::receipts(&params)?;
    Ok(Json(
        state
            .service
            .apply_vendor_receipts(Vendor::Twilio, batch)
            .await?,
    ))
}

/// `POST /webhooks/sms/twilio/replies`: incoming messages, answered with empty TwiML.
#[utoipa::path(
    post,
    path = "/webhooks/sms/twilio/replies",
    tag = "webhooks",
    params(("X-Twilio-Signature" = String, Header, description = "Twilio's signature of the URL and form")),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "Twilio's incoming message form"),
    responses((status = 200, description = "Empty TwiML", content_type = "text/xml", body = String))
)]
pub async fn twilio_replies(
    State(state): State<RestState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    request: Request,
) -> Result<Response> {
    let params = twilio_form(&state, &uri, &headers, request).await?;
    let batch = twilio::replies(&params, state.service.settings().default_phone_region);
    state.service.apply_replies("twilio", batch).await?;
    Ok((
        [(CONTENT_TYPE, "text/xml; charset=utf-8")],
        twilio::EMPTY_TWIML,
    )
        .into_response())
}

/// `POST /webhooks/email/ses`: SES events delivered by SNS (and its subscription messages).
#[utoipa::path(
    post,
    path = "/webhooks/email/ses",
    tag = "webhooks",
    request_body(content = Object, description = "An SNS message (`Notification`, `SubscriptionConfirmation`, …)"),
    responses((status = 200, description = "What the message did", body = SnsOutcome))
)]
pub async fn ses(State(state): State<RestState>, request: Request) -> Result<Json<SnsOutcome>> {
    let body = read_body(request, &state).await?;
    let message = sns::SnsMessage::parse(&body)?;
    state.service.verify_sns(&message).await?;
    Ok(Json(state.service.apply_sns(message).await?))
}

/// `POST /webhooks/sms/replies`: inbound SMS in the generic form, signed like the generic
/// webhook (`X-Signature`, `WEBHOOK_SECRET`).
#[utoipa::path(
    post,
    path = "/webhooks/sms/replies",
    tag = "webhooks",
    params(("X-Signature" = String, Header, description = "As `/webhooks/{provider}`'s")),
    request_body(content = Object, description = "`{\"messages\": [{\"message_id\", \"from\", \"text\", …}]}`"),
    responses((status = 200, description = "What the messages did", body = ReplyOutcome))
)]
pub async fn generic_replies(
    State(state): State<RestState>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<ReplyOutcome>> {
    let body = read_body(request, &state).await?;
    let signature = header(&headers, SIGNATURE_HEADER)?;
    state.service.verify_webhook(signature, &body)?;
    let batch = InboundBatch::parse(json(&body)?, state.service.settings().default_phone_region)?;
    Ok(Json(state.service.apply_replies("api", batch).await?))
}

/// `GET /webhooks/wechat/official-account?signature=…&timestamp=…&nonce=…&echostr=…`: the
/// handshake WeChat makes when the server URL is saved; answered with `echostr` once the
/// signature checks out.
#[utoipa::path(
    get,
    path = "/webhooks/wechat/official-account",
    tag = "webhooks",
    params(
        ("signature" = String, Query, description = "SHA-1 of the sorted token, `timestamp` and `nonce`"),
        ("timestamp" = String, Query),
        ("nonce" = String, Query),
        ("echostr" = String, Query, description = "Echoed back when the signature checks out"),
    ),
    responses((status = 200, description = "`echostr`", content_type = "text/plain", body = String))
)]
pub async fn wechat_handshake(
    State(state): State<RestState>,
    QueryParams(query): QueryParams,
) -> Result<Response> {
    let token = state.service.settings().callbacks.wechat_token.as_deref();
    wechat::verify_signature(token, &query)?;
    let echo = query
        .get("echostr")
        .cloned()
        .ok_or_else(|| Error::invalid("echostr", "is required"))?;
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], echo).into_response())
}

/// `POST /webhooks/wechat/official-account?signature=…&timestamp=…&nonce=…`: event pushes
/// (`unsubscribe`, `TEMPLATESENDJOBFINISH`), answered `success` as WeChat expects.
#[utoipa::path(
    post,
    path = "/webhooks/wechat/official-account",
    tag = "webhooks",
    params(
        ("signature" = String, Query, description = "SHA-1 of the sorted token, `timestamp` and `nonce`"),
        ("timestamp" = String, Query),
        ("nonce" = String, Query),
    ),
    request_body(content = String, content_type = "text/xml", description = "A WeChat event push (XML)"),
    responses((status = 200, description = "`success`", content_type = "text/plain", body = String))
)]
pub async fn wechat_push(
    State(state): State<RestState>,
    QueryParams(query): QueryParams,
    request: Request,
) -> Result<Response> {
    let body = read_body(request, &state).await?;
    let token = state.service.settings().callbacks.wechat_token.as_deref();
    wechat::verify_signature(token, &query)?;
    let push = wechat::Push::parse(&body)?;
    state.service.apply_wechat_push(push).await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        wechat::ACKNOWLEDGED,
    )
        .into_response())
}
