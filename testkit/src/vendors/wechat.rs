//! The WeChat Official Account API: access tokens and template messages, and the event pushes
//! WeChat sends to an account's server.
//!
//! Tokens: `GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…` and `POST
//! /cgi-bin/stable_token` (`{"grant_type", "appid", "secret", "force_refresh"}`) answer
//! `{"access_token", "expires_in"}` for the test app, or WeChat's error bodies: 40002 (bad
//! grant_type), 40013 (unknown appid), 40125 (wrong secret). As WeChat does, `token` issues a
//! new token per call (the previous one lapses within 5 minutes) while `stable_token` answers
//! the current one until it expires. `POST /cgi-bin/message/template/send?access_token=…`
//! answers 41001 without a token, 40001 for one it never issued, 42001 for an expired one (by
//! time, or after [`WechatStandIn::set_token_uses`] sends), checks the JSON shape (`touser`,
//! the test `template_id`, `data` values as `{"value": "…"}`, `url` a http(s) link: else 47003
//! or 40037), deduplicates by `(touser, client_msg_id)` and answers `{"errcode": 0, "errmsg":
//! "ok", "msgid": …}`, 45009 (throttling), 40003 (invalid openid) per [`Mode`], or the errcode
//! set for one follower ([`WechatStandIn::refuse`]: 43004 not following, 43101 refused).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sha1::Digest as _;

use super::{Books, Delivery, Mode, Verdict};

pub const APP_ID: &str = "wx0123456789abcdef";
pub const APP_SECRET: &str = "stand-in-app-secret-0123456789ab";
pub const TEMPLATE_ID: &str = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY";
/// The official account's own id (`ToUserName` of its event pushes).
pub const ACCOUNT: &str = "gh_7f083739789a";

#[derive(Default)]
struct Tokens {
    /// Issued tokens: when each expires and how many sends it has left (`None`: any number).
    issued: HashMap<String, (Instant, Option<u32>)>,
    count: usize,
    /// The token `stable_token` answers while it is valid.
    stable: Option<String>,
    lifetime: Option<Duration>,
    uses: Option<u32>,
    /// Sends refused for their token (41001, 40001, 42001).
    refused: u64,
    next_msgid: u64,
    /// `(touser, client_msg_id)` → the msgid answered.
    sent: HashMap<(String, String), u64>,
    /// Follower → the errcode every message to them gets.
    refusing: HashMap<String, i64>,
}

#[derive(Clone)]
pub struct WechatStandIn {
    pub addr: std::net::SocketAddr,
    pub books: Books,
    tokens: Arc<Mutex<Tokens>>,
}

fn answer(errcode: i64, errmsg: &str) -> Response {
    // WeChat answers its errors with HTTP 200 and a `rid` for support.
    axum::Json(
        json!({"errcode": errcode, "errmsg": format!("{errmsg} rid: 6751b1c2-1f2e3d4c-5b6a7980")}),
    )
    .into_response()
}

fn errmsg(errcode: i64) -> &'static str {
    match errcode {
        43004 => "require subscribe hint: [stand-in]",
        43101 => "user refuse to accept the msg hint: [stand-in]",
        40003 => "invalid openid hint: [stand-in]",
        45009 => "reach max api daily quota limit hint: [stand-in]",
        -1 => "system error hint: [stand-in]",
        _ => "stand-in refusal",
    }
}

impl WechatStandIn {
    pub async fn start(mode: Mode) -> Self {
        let (listener, addr) = super::listen().await;
        let stand_in = WechatStandIn {
            addr,
            books: Books::new(mode),
            tokens: Arc::new(Mutex::new(Tokens {
                next_msgid: 200_163_836,
                ..Tokens::default()
            })),
        };
        let app = axum::Router::new()
            .route("/cgi-bin/token", get(token))
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/cgi-bin/message/template/send", post(send))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    /// `WECHAT_API_BASE`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tokens) -> T) -> T {
        f(&mut self.tokens.lock().expect("stand-in lock"))
    }

    /// How long tokens issued from now on last (`expires_in`; 7,200 s unless set).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.with(|t| t.lifetime = Some(lifetime));
    }

    /// Tokens issued from now on expire after `n` template sends (WeChat expiring a token early,
    /// as it does when another caller fetched a new one).
    pub fn set_token_uses(&self, n: u32) {
        self.with(|t| t.uses = Some(n));
    }

    /// Every message to `openid` is answered `errcode` (43004, 43101, …).
    pub fn refuse(&self, openid: &str, errcode: i64) {
        self.with(|t| t.refusing.insert(openid.to_owned(), errcode));
    }

    /// Access tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.with(|t| t.count)
    }

    /// Template sends refused for their access token (missing, unknown or expired).
    pub fn token_refusals(&self) -> u64 {
        self.with(|t| t.refused)
    }

    fn issue(&self, t: &mut Tokens) -> (String, u64) {
        let lifetime = t.lifetime.unwrap_or(Duration::from_secs(7200));
        let value = format!("stand-in-{}", uuid::Uuid::new_v4().simple());
        t.issued
            .insert(value.clone(), (Instant::now() + lifetime, t.uses));
        t.count += 1;
        (value, lifetime.as_secs())
    }

    /// The error body for wrong credentials, if they are.
    fn check_credentials(&self, grant_type: &str, appid: &str, secret: &str) -> Option<Response> {
        if grant_type != "client_credential" {
            return Some(answer(40002, "invalid grant_type"));
        }
        if appid != APP_ID {
            self.books.bad_signature();
            return Some(answer(40013, "invalid appid"));
        }
        if !super::same(secret, APP_SECRET) {
            self.books.bad_signature();
            return Some(answer(40125, "invalid appsecret"));
        }
        None
    }
}

fn valid(t: &Tokens, token: &str) -> bool {
    t.issued
        .get(token)
        .is_some_and(|(expires, uses)| Instant::now() < *expires && uses.is_none_or(|n| n > 0))
}

async fn token(
    State(s): State<WechatStandIn>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if let Some(refused) = s.check_credentials(field("grant_type"), field("appid"), field("secret"))
    {
        return refused;
    }
    let (value, expires_in) = s.with(|t| {
        // A new token: the ones issued before lapse within five minutes.
        let lapse = Instant::now() + Duration::from_secs(300);
        for (expires, _) in t.issued.values_mut() {
            *expires = (*expires).min(lapse);
        }
        s.issue(t)
    });
    axum::Json(json!({"access_token": value, "expires_in": expires_in})).into_response()
}

async fn stable_token(State(s): State<WechatStandIn>, body: Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return answer(47001, "data format error");
    };
    let field = |k: &str| b[k].as_str().unwrap_or("").to_owned();
    if let Some(refused) =
        s.check_credentials(&field("grant_type"), &field("appid"), &field("secret"))
    {
        return refused;
    }
    let force = b["force_refresh"].as_bool().unwrap_or(false);
    let (value, expires_in) = s.with(|t| {
        if let Some(current) = t.stable.clone().filter(|c| !force && valid(t, c)) {
            let left = t.issued[&current]
                .0
                .saturating_duration_since(Instant::now());
            return (current, left.as_secs().max(1));
        }
        let (value, expires_in) = s.issue(t);
        t.stable = Some(value.clone());
        (value, expires_in)
    });
    axum::Json(json!({"access_token": value, "expires_in": expires_in})).into_response()
}

/// Why a template-send body is not what WeChat accepts, as WeChat words it.
fn shape_error(b: &Value) -> Option<(i64, String)> {
    if b["touser"].as_str().is_none_or(str::is_empty) {
        return Some((40003, "invalid openid".into()));
    }
    if b["template_id"].as_str() != Some(TEMPLATE_ID) {
        return Some((40037, "invalid template_id".into()));
    }
    let Some(data) = b["data"].as_object().filter(|d| !d.is_empty()) else {
        return Some((47003, "argument invalid! data invalid".into()));
    };
    for (key, v) in data {
        if !v["value"].is_string() {
            return Some((47003, format!("argument invalid! data.{key}.value invalid")));
        }
    }
    if let Some(url) = b.get("url")
        && !url
            .as_str()
            .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
    {
        return Some((47003, "argument invalid! url invalid".into()));
    }
    if b.get("client_msg_id").is_some_and(|c| !c.is_string()) {
        return Some((47003, "argument invalid! client_msg_id invalid".into()));
    }
    None
}

async fn send(
    State(s): State<WechatStandIn>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    s.books.request();
    let token = q.get("access_token").map(String::as_str).unwrap_or("");
    let refused = s.with(|t| {
        let known = t.issued.contains_key(token);
        let refusal = if token.is_empty() {
            Some((41001, "access_token missing"))
        } else if !known {
            Some((
                40001,
                "invalid credential, access_token is invalid or not latest",
            ))
        } else if !valid(t, token) {
            Some((42001, "access_token expired"))
        } else {
            None
        };
        if refusal.is_some() {
            t.refused += 1;
        }
        refusal
    });
    if let Some((code, msg)) = refused {
        if code == 40001 {
            s.books.bad_signature();
        }
        return answer(code, msg);
    }
    let Ok(b) = serde_json::from_slice::<Value>(&body) else {
        return answer(47001, "data format error");
    };
    if let Some((code, msg)) = shape_error(&b) {
        return answer(code, &msg);
    }
    let to = b["touser"].as_str().unwrap_or_default().to_owned();
    // The token served this send (counted even when the message is refused).
    s.with(|t| {
        if let Some((_, Some(n))) = t.issued.get_mut(token) {
            *n = n.saturating_sub(1);
        }
    });
    if let Some(code) = s.with(|t| t.refusing.get(&to).copied()) {
        s.books.verdict(&to);
        return answer(code, errmsg(code));
    }
    match s.books.verdict(&to) {
        Verdict::Throttle => answer(45009, errmsg(45009)),
        Verdict::Invalid => answer(40003, errmsg(40003)),
        Verdict::Accept => {
            let client_msg_id = b["client_msg_id"].as_str().map(str::to_owned);
            let (msgid, first) = s.with(|t| {
                if let Some(id) = client_msg_id
                    .as_ref()
                    .and_then(|c| t.sent.get(&(to.clone(), c.clone())))
                {
                    return (*id, false);
                }
                let id = t.next_msgid;
                t.next_msgid += 1;
                if let Some(c) = &client_msg_id {
                    t.sent.insert((to.clone(), c.clone()), id);
                }
                (id, true)
            });
            if first {
                s.books.deliver(Delivery {
                    to,
                    id: msgid.to_string(),
                    fields: b,
                });
            }
            axum::Json(json!({"errcode": 0, "errmsg": "ok", "msgid": msgid})).into_response()
        }
    }
}

// The event pushes WeChat sends to the account's server URL, written here independently of
// campaign-svc's reading of them.

/// WeChat's `signature` of a push: hex SHA-1 of the token, timestamp and nonce sorted and
/// joined.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    super::hex(&sha1::Sha1::digest(parts.concat().as_bytes()))
}

/// The query string of a signed push (`signature`, `timestamp`, `nonce`, and `openid`, which
/// WeChat adds to pushes from a follower).
pub fn signed_query(token: &str, openid: Option<&str>) -> String {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let nonce = (uuid::Uuid::new_v4().as_u128() as u32).to_string();
    let mut q = format!(
        "signature={}&timestamp={timestamp}&nonce={nonce}",
        signature(token, &timestamp, &nonce)
    );
    if let Some(o) = openid {
        q.push_str(&format!("&openid={o}"));
    }
    q
}

/// The `unsubscribe` (取消关注) event of follower `openid`.
pub fn unsubscribe_event(openid: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\n\
         <FromUserName><![CDATA[{openid}]]></FromUserName>\n\
         <CreateTime>{}</CreateTime>\n\
         <MsgType><![CDATA[event]]></MsgType>\n\
         <Event><![CDATA[unsubscribe]]></Event>\n</xml>",
        chrono::Utc::now().timestamp()
    )
}

/// The `TEMPLATESENDJOBFINISH` event of message `msgid` to `openid`, with WeChat's `status`
/// (`success`, `failed:user block`, `failed: system failed`).
pub fn job_finish_event(openid: &str, msgid: &str, status: &str) -> String {
    format!(
        "<xml>\n<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\n\
         <FromUserName><![CDATA[{openid}]]></FromUserName>\n\
         <CreateTime>1395658920</CreateTime>\n\
         <MsgType><![CDATA[event]]></MsgType>\n\
         <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n\
         <MsgID>{msgid}</MsgID>\n\
         <Status><![CDATA[{status}]]></Status>\n</xml>"
    )
}
