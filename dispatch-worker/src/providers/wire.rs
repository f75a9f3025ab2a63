//! What every vendor API client shares: one shape of HTTP client, reading a vendor's answer and
//! its `Retry-After`, and secrets given either inline or as a file path.

use std::time::Duration;

use anyhow::Context as _;
use reqwest::header::HeaderMap;

use super::SendError;

/// A client with the timeouts every vendor call uses (`PROVIDER_TIMEOUT_MS` for the whole
/// request): a stalled vendor costs a retry, not a stuck batch.
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    builder(timeout)
        .build()
        .context("building the vendor HTTP client")
}

/// The same client's builder, for vendors that need more (HTTP/2 only, an extra trusted root).
pub fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(CONNECT_TIMEOUT))
}

/// The longest a vendor's TCP (and TLS) connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A request that got no answer: [`SendError::Unavailable`] when no connection was made (the
/// vendor cannot have the message, so another provider may send it), else
/// [`SendError::Transient`] (a timeout or a connection lost after the request went out leaves
/// open whether the vendor took it).
pub fn unreachable(vendor: &str, e: reqwest::Error) -> SendError {
    let reason = format!("{vendor} unreachable: {e}");
    if e.is_connect() {
        SendError::Unavailable(reason)
    } else {
        SendError::Transient(reason)
    }
}

/// The body of an answer, read whole (a broken read is a transient failure).
pub async fn body(vendor: &str, resp: reqwest::Response) -> Result<String, SendError> {
    resp.text()
        .await
        .map_err(|e| SendError::Transient(format!("reading {vendor}'s answer: {e}")))
}

/// `Retry-After` in seconds, as every vendor here sends it (the HTTP-date form is not used by
/// them; when it comes, the ordinary backoff applies).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The start of a vendor's text, for error messages (bodies can be long; records keep a reason).
pub fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}

/// A secret setting given inline (JSON starting with `{`, PEM starting with `-----BEGIN`) or as
/// the path of a file holding it.
pub fn inline_or_file(value: &str, setting: &str) -> anyhow::Result<String> {
    let trimmed = value.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with("-----BEGIN") {
        return Ok(value.to_owned());
    }
    std::fs::read_to_string(value).with_context(|| format!("reading {setting} from {value}"))
}

/// `host[:port]` as the HTTP client sends it in the `Host` header (the port only when it is not
/// the scheme's default), which signatures that cover `host` must use.
pub fn host_header(url: &reqwest::Url) -> anyhow::Result<String> {
    let host = url
        .host_str()
        .with_context(|| format!("{url} has no host"))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Parses a configured base URL, naming the setting when it is wrong.
pub fn base_url(value: &str, setting: &str) -> anyhow::Result<reqwest::Url> {
    reqwest::Url::parse(value).with_context(|| format!("{setting} `{value}` is not a URL"))
}
