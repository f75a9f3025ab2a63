//! WeChat official-account template messages: `POST {WECHAT_API_BASE}/cgi-bin/message/template/send
//! ?access_token=…` with `{"touser", "template_id", "url", "client_msg_id", "data"}`, as the
//! Official Account reference documents (developers.weixin.qq.com/doc/offiaccount,
//! Message_Management/Template_Message_Interface; api_sendtemplatemessage). WeChat signs
//! nothing per request: the access token in the query string is the credential. It comes from
//! `POST /cgi-bin/stable_token` (`{"grant_type": "client_credential", "appid", "secret",
//! "force_refresh": false}`, the default) or `GET /cgi-bin/token?grant_type=client_credential
//! &appid=…&secret=…` (`WECHAT_TOKEN_API=token`); both answer `{"access_token", "expires_in"}`.
//! `stable_token` is the default because several workers share one app: each `token` call makes
//! the previous token lapse within five minutes, so workers fetching their own would keep
//! invalidating each other's, while `stable_token` hands every caller the same token until it
//! expires.
//!
//! The token is cached per provider (every task of the worker shares it), replaced shortly
//! before its `expires_in`, and at once when a send is answered 40001 (invalid credential),
//! 40014 (invalid access_token) or 42001 (access_token expired): the send is then retried once
//! with the new token. Errors are `{"errcode", "errmsg"}` bodies with HTTP 200: 45009 (daily
//! quota) and 45011 (per-minute quota) are throttling; -1 (system busy) is retried; 40003
//! (invalid openid), 43004 (not following), 43101 (the user refused messages), 40037 (invalid
//! template_id), 47003 (bad data) and every other code are permanent. `msgid` is the provider
//! message id, which `TEMPLATESENDJOBFINISH` events name. The record id travels as
//! `client_msg_id`, WeChat's duplicate guard: a message resent after a worker crash is not
//! delivered twice while WeChat remembers the id.
//!
//! Content mapping (README "Providers" → WeChat): the rendered text is the value of the one
//! data key `WECHAT_DATA_KEY` of template `WECHAT_TEMPLATE_ID`, and its first link (already the
//! tracked redirect) is the message's `url`, where a tap leads.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Deserialize;

use super::{OutboundMessage, Provider, SendError, wire};

/// How long before its expiry a token is replaced: a send never starts with a token about to
/// lapse (WeChat tokens last 7,200 s).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The answers that say the token, not the message, was refused.
const TOKEN_REFUSED: [i64; 3] = [40001, 40014, 42001];

/// Which WeChat API issues access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenApi {
    /// `POST /cgi-bin/stable_token`: the same token for every caller until it expires.
    #[value(name = "stable_token")]
    StableToken,
    /// `GET /cgi-bin/token`: a new token per call (the previous one lapses within 5 minutes).
    Token,
}

/// Settings of `WECHAT_PROVIDER=wechat`.
#[derive(Debug, Clone, clap::Args)]
pub struct WechatSettings {
    /// Official account AppID (WECHAT_PROVIDER=wechat).
    #[arg(long, env = "WECHAT_APP_ID")]
    pub wechat_app_id: Option<String>,
    /// Official account AppSecret.
    #[arg(long, env = "WECHAT_APP_SECRET", hide_env_values = true)]
    pub wechat_app_secret: Option<String>,
    /// Template id (from the account's template library) every WeChat message is sent with.
    #[arg(long, env = "WECHAT_TEMPLATE_ID")]
    pub wechat_template_id: Option<String>,
    /// The template's data key that carries the rendered text (e.g. `content`, `thing1`).
    #[arg(long, env = "WECHAT_DATA_KEY", default_value = "content")]
    pub wechat_data_key: String,
    /// Where access tokens come from: stable_token (shared by every worker) or token.
    #[arg(long, env = "WECHAT_TOKEN_API", value_enum, default_value_t = TokenApi::StableToken)]
    pub wechat_token_api: TokenApi,
    /// WeChat API base URL.
    #[arg(
        long,
        env = "WECHAT_API_BASE",
        default_value = "https://api.weixin.qq.com"
    )]
    pub wechat_api_base: String,
}

impl WechatSettings {
    pub fn redacted(&self) -> String {
        format!(
            "wechat_api_base={} wechat_app_id={} wechat_app_secret={} wechat_template_id={} \
             wechat_data_key={} wechat_token_api={:?}",
            self.wechat_api_base,
            self.wechat_app_id.as_deref().unwrap_or("<unset>"),
            if self.wechat_app_secret.is_some() {
                "<set>"
            } else {
                "<unset>"
            },
            self.wechat_template_id.as_deref().unwrap_or("<unset>"),
            self.wechat_data_key,
            self.wechat_token_api,
        )
    }
}

struct AccessToken {
    value: String,
    replace_at: Instant,
}

pub struct Wechat {
    client: reqwest::Client,
    send_url: reqwest::Url,
    token_url: reqwest::Url,
    token_api: TokenApi,
    app_id: String,
    app_secret: String,
    template_id: String,
    data_key: String,
    /// One fetch at a time: sends waiting for a token wait for the same one.
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

/// What WeChat answered a call, read from its JSON body.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    msgid: Option<serde_json::Value>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

impl Wechat {
    pub fn new(s: &WechatSettings, timeout: Duration) -> anyhow::Result<Self> {
        let required = |v: &Option<String>, name: &str| {
            v.clone()
                .filter(|v| !v.trim().is_empty())
                .with_context(|| format!("{name} is required with WECHAT_PROVIDER=wechat"))
        };
        let base = wire::base_url(&s.wechat_api_base, "WECHAT_API_BASE")?;
        let path = match s.wechat_token_api {
            TokenApi::StableToken => "/cgi-bin/stable_token",
            TokenApi::Token => "/cgi-bin/token",
        };
        if s.wechat_data_key.trim().is_empty() {
            anyhow::bail!("WECHAT_DATA_KEY must name a data key of the template");
        }
        Ok(Wechat {
            client: wire::client(timeout)?,
            send_url: base
                .join("/cgi-bin/message/template/send")
                .context("WECHAT_API_BASE")?,
            token_url: base.join(path).context("WECHAT_API_BASE")?,
            token_api: s.wechat_token_api,
            app_id: required(&s.wechat_app_id, "WECHAT_APP_ID")?,
            app_secret: required(&s.wechat_app_secret, "WECHAT_APP_SECRET")?,
            template_id: required(&s.wechat_template_id, "WECHAT_TEMPLATE_ID")?,
            data_key: s.wechat_data_key.trim().to_owned(),
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn access_token(&self) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.replace_at) {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Drops the cached token if it is still `stale` (sends refused together drop it once, and
    /// the first of them fetches the next one for all).
    async fn forget_token(&self, stale: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == stale) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<AccessToken, SendError> {
        let started = Instant::now();
        let request = match self.token_api {
            TokenApi::StableToken => {
                self.client
                    .post(self.token_url.clone())
                    .json(&serde_json::json!({
                        "grant_type": "client_credential",
                        "appid": self.app_id,
                        "secret": self.app_secret,
                        "force_refresh": false,
                    }))
            }
            TokenApi::Token => {
                let mut url = self.token_url.clone();
                url.query_pairs_mut()
                    .append_pair("grant_type", "client_credential")
                    .append_pair("appid", &self.app_id)
                    .append_pair("secret", &self.app_secret);
                self.client.get(url)
            }
        };
        let resp = request
            .send()
            .await
            .map_err(|e| wire::unreachable("the WeChat token API", e))?;
        let status = resp.status();
        let text = wire::body("the WeChat token API", resp).await?;
        let answer = read(status, &text, "the WeChat token API")?;
        match answer {
            Answer {
                errcode: 0,
                access_token: Some(value),
                expires_in: Some(expires_in),
                ..
            } => {
                let lifetime = Duration::from_secs(expires_in);
                let margin = REFRESH_MARGIN.min(lifetime / 2);
                Ok(AccessToken {
                    value,
                    replace_at: started + lifetime - margin,
                })
            }
            Answer {
                errcode: 0, errmsg, ..
            } => Err(SendError::Transient(format!(
                "the WeChat token API answered no access_token: {}",
                wire::excerpt(&errmsg)
            ))),
            Answer {
                errcode, errmsg, ..
            } => Err(match refusal(errcode, &errmsg) {
                SendError::Permanent(reason) => {
                    SendError::Permanent(format!("WeChat refused the app credentials: {reason}"))
                }
                other => other,
            }),
        }
    }

    /// The template message for `m` (see the module's top comment for the mapping).
    fn payload(&self, m: &OutboundMessage) -> serde_json::Value {
        let mut data = serde_json::Map::new();
        data.insert(
            self.data_key.clone(),
            serde_json::json!({ "value": m.body }),
        );
        let mut payload = serde_json::json!({
            "touser": m.to,
            "template_id": self.template_id,
            "client_msg_id": m.record_id.to_string(),
            "data": data,
        });
        if let Some(url) = first_link(&m.body) {
            payload["url"] = url.into();
        }
        payload
    }

    /// One template-send call with `token`: the `msgid`, or WeChat's errcode and errmsg.
    async fn post(
        &self,
        token: &str,
        payload: &serde_json::Value,
    ) -> Result<Result<String, (i64, String)>, SendError> {
        let mut url = self.send_url.clone();
        url.query_pairs_mut().append_pair("access_token", token);
        let resp = self
            .client
            .post(url)
            .json(payload)
            .send()
            .await
            .map_err(|e| wire::unreachable("WeChat", e))?;
        let status = resp.status();
        let text = wire::body("WeChat", resp).await?;
        let answer = read(status, &text, "WeChat")?;
        if answer.errcode != 0 {
            return Ok(Err((answer.errcode, answer.errmsg)));
        }
        let msgid = match answer.msgid {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                return Err(SendError::Transient(format!(
                    "WeChat answered no msgid: {}",
                    wire::excerpt(&text)
                )));
            }
        };
        Ok(Ok(msgid))
    }
}

/// WeChat's JSON answer; an HTTP error (WeChat answers its own errors with 200) or a body that
/// is not its JSON is a failure of the call.
fn read(status: reqwest::StatusCode, text: &str, what: &str) -> Result<Answer, SendError> {
    if !status.is_success() {
        let reason = format!("{what} answered {status}: {}", wire::excerpt(text));
        return Err(if status.as_u16() == 429 {
            SendError::Throttled {
                reason,
                retry_after: None,
            }
        } else if status.is_server_error() {
            SendError::Transient(reason)
        } else {
            SendError::Permanent(reason)
        });
    }
    serde_json::from_str(text)
        .map_err(|e| SendError::Transient(format!("{what} answered {e}: {}", wire::excerpt(text))))
}

/// What an errcode means for the message.
fn refusal(errcode: i64, errmsg: &str) -> SendError {
    let reason = format!("{errcode} {}", errmsg.trim());
    match errcode {
        45009 | 45011 => SendError::Throttled {
            reason,
            retry_after: None,
        },
        -1 => SendError::Transient(reason),
        // A token refused again right after it was fetched: worth another try later.
        c if TOKEN_REFUSED.contains(&c) => SendError::Transient(reason),
        _ => SendError::Permanent(reason),
    }
}

/// The first `http(s)` link of a text: up to the first character that cannot stand in a URL
/// unencoded, without trailing punctuation.
fn first_link(text: &str) -> Option<&str> {
    let start = [text.find("https://"), text.find("http://")]
        .into_iter()
        .flatten()
        .min()?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_graphic())
        .unwrap_or(rest.len());
    let link = rest[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']);
    (link.len() > "https://".len()).then_some(link)
}

#[async_trait::async_trait]
impl Provider for Wechat {
    fn name(&self) -> &'static str {
        "wechat"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let payload = self.payload(m);
        let token = self.access_token().await?;
        let (errcode, errmsg) = match self.post(&token, &payload).await? {
            Ok(msgid) => return Ok(Some(msgid)),
            Err(refused) => refused,
        };
        if !TOKEN_REFUSED.contains(&errcode) {
            return Err(refusal(errcode, &errmsg));
        }
        // The token lapsed or was replaced early: fetch another and send once more.
        tracing::info!(
            errcode,
            errmsg,
            "WeChat refused the access token; fetching a new one"
        );
        self.forget_token(&token).await;
        let token = self.access_token().await?;
        match self.post(&token, &payload).await? {
            Ok(msgid) => Ok(Some(msgid)),
            Err((errcode, errmsg)) => Err(refusal(errcode, &errmsg)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_decide_the_outcome() {
        assert!(matches!(
            refusal(45009, "reach max api daily quota limit"),
            SendError::Throttled { .. }
        ));
        assert!(matches!(
            refusal(45011, "api minute-quota reach limit"),
            SendError::Throttled { .. }
        ));
        assert!(matches!(
            refusal(-1, "system error"),
            SendError::Transient(_)
        ));
        for permanent in [40003, 43004, 43101, 40037, 47003] {
            assert!(
                matches!(refusal(permanent, "x"), SendError::Permanent(_)),
                "{permanent}"
            );
        }
        match refusal(40003, "invalid openid rid: 1") {
            SendError::Permanent(r) => assert_eq!(r, "40003 invalid openid rid: 1"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_first_link_becomes_the_url() {
        assert_eq!(
            first_link("双11 5折：https://m.example/t/c/abc。快来"),
            Some("https://m.example/t/c/abc")
        );
        assert_eq!(
            first_link("see http://a.example/x, or https://b.example/y."),
            Some("http://a.example/x")
        );
        assert_eq!(first_link("no link here, just https://"), None);
    }
}
