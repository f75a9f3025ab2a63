//! Settings of the vendors' own callbacks (delivery receipts and inbound SMS in each vendor's
//! format, `/webhooks/sms/<vendor>…` and `/webhooks/email/ses`): how each one proves it comes
//! from the vendor, and which SMS replies opt their sender out.
//!
//! Twilio signs its callbacks with the account's auth token, WeChat with the Token of the
//! official account's server configuration, and SNS signs with an AWS
//! certificate; Aliyun and Tencent Cloud sign nothing, so their callback URLs carry a secret
//! `token` query parameter instead (a source-IP allow-list was not chosen: behind a load
//! balancer or proxy the peer address is the proxy's, and neither vendor promises a stable
//! list of callback addresses). A vendor whose setting is unset is refused (401).

use anyhow::Context as _;

use crate::domain::reply::OptOutKeywords;

/// The flags and environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct CallbackArgs {
    /// Secret that Aliyun's callback URLs carry as `?token=` (receipts: /webhooks/sms/aliyun,
    /// replies: /webhooks/sms/aliyun/replies). Unset: Aliyun callbacks are refused (401).
    #[arg(long, env = "ALIYUN_CALLBACK_TOKEN", hide_env_values = true)]
    pub aliyun_callback_token: Option<String>,

    /// Secret that Tencent Cloud's callback URLs carry as `?token=` (receipts:
    /// /webhooks/sms/tencent, replies: /webhooks/sms/tencent/replies). Unset: refused (401).
    #[arg(long, env = "TENCENT_CALLBACK_TOKEN", hide_env_values = true)]
    pub tencent_callback_token: Option<String>,

    /// Twilio auth token that verifies `X-Twilio-Signature` (/webhooks/sms/twilio,
    /// /webhooks/sms/twilio/replies). Unset: Twilio callbacks are refused (401).
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,

    /// Public base URL Twilio calls (the signature covers the full URL Twilio used, which the
    /// service cannot see behind a proxy). Default: PUBLIC_BASE_URL.
    #[arg(long, env = "TWILIO_WEBHOOK_BASE_URL")]
    pub twilio_webhook_base_url: Option<String>,

    /// Comma-separated SNS topic ARNs whose SES notifications /webhooks/email/ses accepts
    /// (any AWS account can sign SNS messages; the topic says they are ours). Unset: refused.
    #[arg(long, env = "SNS_TOPIC_ARNS", value_delimiter = ',')]
    pub sns_topic_arns: Vec<String>,

    /// PEM certificate (inline, or a file path) that SNS signatures are checked with instead of
    /// the one fetched from the message's SigningCertURL.
    #[arg(long, env = "SNS_SIGNING_CERT")]
    pub sns_signing_cert: Option<String>,

    /// Comma-separated URL prefixes a SigningCertURL or SubscribeURL may start with besides
    /// https://sns.<region>.amazonaws.com[.cn]/ (a proxy or mirror of those).
    #[arg(long, env = "SNS_CERT_URL_PREFIXES", value_delimiter = ',')]
    pub sns_cert_url_prefixes: Vec<String>,

    /// The Token set in the WeChat official account's server configuration: verifies the
    /// `signature` of its event pushes (/webhooks/wechat/official-account). Unset: refused (401).
    #[arg(long, env = "WECHAT_CALLBACK_TOKEN", hide_env_values = true)]
    pub wechat_callback_token: Option<String>,

    /// Comma-separated SMS replies that opt the sender out of SMS, matched whole after trimming
    /// whitespace and punctuation, ignoring case and full/half width (`ＴＤ` is `TD`).
    #[arg(
        long,
        env = "SMS_OPT_OUT_KEYWORDS",
        value_delimiter = ',',
        default_value = "TD,T,退订,STOP,UNSUBSCRIBE"
    )]
    pub sms_opt_out_keywords: Vec<String>,
}

/// The settings, resolved and checked at start-up.
#[derive(Debug, Clone)]
pub struct VendorCallbacks {
    pub aliyun_token: Option<String>,
    pub tencent_token: Option<String>,
    pub twilio_auth_token: Option<String>,
    pub wechat_token: Option<String>,
    /// Without a trailing `/`.
    pub twilio_base_url: String,
    pub sns_topic_arns: Vec<String>,
    /// DER of the configured certificate, if any.
    pub sns_signing_cert: Option<Vec<u8>>,
    pub sns_cert_url_prefixes: Vec<String>,
    pub opt_out_keywords: OptOutKeywords,
}

impl VendorCallbacks {
    pub fn from_args(a: &CallbackArgs, public_base_url: &str) -> anyhow::Result<Self> {
        let secret = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let list = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let sns_signing_cert = a
            .sns_signing_cert
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|v| {
                let pem = if v.trim_start().starts_with("-----BEGIN") {
                    v.to_owned()
                } else {
                    std::fs::read_to_string(v).with_context(|| format!("reading {v}"))?
                };
                crate::domain::vendor::sns::certificate_der(pem.as_bytes())
                    .context("SNS_SIGNING_CERT is not a PEM X.509 certificate")
            })
            .transpose()?;
        Ok(VendorCallbacks {
            aliyun_token: secret(&a.aliyun_callback_token),
            tencent_token: secret(&a.tencent_callback_token),
            twilio_auth_token: secret(&a.twilio_auth_token),
            wechat_token: secret(&a.wechat_callback_token),
            twilio_base_url: a
                .twilio_webhook_base_url
                .as_deref()
                .unwrap_or(public_base_url)
                .trim_end_matches('/')
                .to_owned(),
            sns_topic_arns: list(&a.sns_topic_arns),
            sns_signing_cert,
            sns_cert_url_prefixes: list(&a.sns_cert_url_prefixes),
            opt_out_keywords: OptOutKeywords::new(&a.sms_opt_out_keywords)
                .map_err(|e| anyhow::anyhow!("SMS_OPT_OUT_KEYWORDS: {e}"))?,
        })
    }

    /// The settings as logged at start-up: secrets masked.
    pub fn redacted(a: &CallbackArgs) -> String {
        let set = |s: &Option<String>| if s.is_some() { "<set>" } else { "<unset>" };
        format!(
            "aliyun_callback_token={} tencent_callback_token={} twilio_auth_token={} \
             wechat_callback_token={} twilio_webhook_base_url={} sns_topic_arns={:?} \
             sns_signing_cert={} \
             sns_cert_url_prefixes={:?} sms_opt_out_keywords={:?}",
            set(&a.aliyun_callback_token),
            set(&a.tencent_callback_token),
            set(&a.twilio_auth_token),
            set(&a.wechat_callback_token),
            a.twilio_webhook_base_url
                .as_deref()
                .unwrap_or("<PUBLIC_BASE_URL>"),
            a.sns_topic_arns,
            set(&a.sns_signing_cert),
            a.sns_cert_url_prefixes,
            a.sms_opt_out_keywords,
        )
    }
}
