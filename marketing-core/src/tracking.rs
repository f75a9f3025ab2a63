//! Tracking: signed tokens for click redirects, the e-mail open pixel and unsubscribe links, the
//! settings both binaries share for them (and for the frequency cap). Finding a message's links
//! and the redirect's `Location` are in [`links`]; turning rendered content into the message a
//! customer gets (tracked links, unsubscribe link, pixel) is in [`message`].
//!
//! A token is `base64url(payload) "." base64url(HMAC-SHA256(secret, payload)[..16])`. The payload
//! carries the record id, the kind and, for clicks, the link's index and URL: a redirect goes only
//! to a URL this service signed (no open redirect), and no token can be forged, altered or
//! enumerated without the secret. Verification needs no database lookup.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

mod links;
mod message;

pub use links::{redirect_location, rewrite_html, rewrite_text};
pub use message::Finished;

/// The secret used when `TRACKING_SECRET` is not set: fine on a laptop, never in production
/// (both binaries warn at start-up).
pub const DEVELOPMENT_SECRET: &str = "development-only-tracking-secret";

/// Settings both campaign-svc and dispatch-worker read.
#[derive(Debug, Clone, clap::Args)]
pub struct TrackingArgs {
    /// Secret that signs tracking and unsubscribe links; the same value on campaign-svc and
    /// every worker. Unset: an insecure development secret (a warning is logged).
    #[arg(long, env = "TRACKING_SECRET", hide_env_values = true)]
    pub tracking_secret: Option<String>,
    /// Public base URL of campaign-svc's REST port, used in links inside messages.
    #[arg(long, env = "PUBLIC_BASE_URL", default_value = "http://127.0.0.1:8080")]
    pub public_base_url: String,
    /// Most marketing messages a customer gets per channel within the window; 0 = no cap.
    #[arg(long, env = "FREQUENCY_CAP", default_value_t = 0)]
    pub frequency_cap: u32,
    /// The frequency cap's window, in hours.
    #[arg(long, env = "FREQUENCY_CAP_WINDOW_HOURS", default_value_t = 24)]
    pub frequency_cap_window_hours: u32,
}

impl TrackingArgs {
    pub fn signer(&self) -> Signer {
        let secret = match self.tracking_secret.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => s,
            None => {
                tracing::warn!(
                    "TRACKING_SECRET is not set: links are signed with an insecure development secret"
                );
                DEVELOPMENT_SECRET
            }
        };
        Signer::new(secret.as_bytes(), &self.public_base_url)
    }

    /// The frequency cap, when one is set.
    pub fn frequency_cap(&self) -> Option<FrequencyCap> {
        (self.frequency_cap > 0).then_some(FrequencyCap {
            max: self.frequency_cap,
            window_hours: self.frequency_cap_window_hours.max(1),
        })
    }
}

/// At most `max` marketing messages per customer and channel within `window_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyCap {
    pub max: u32,
    pub window_hours: u32,
}

/// What a token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A click on link number `link` (0-based, in order of appearance) of the record's message.
    Click {
        record: Uuid,
        link: u16,
        url: String,
    },
    /// The e-mail open pixel.
    Open { record: Uuid },
    /// The unsubscribe link.
    Unsubscribe { record: Uuid },
}

/// The record previews and simulation samples are finished for: no record has it, so their
/// tracked links still redirect, and following them (or their unsubscribe link) changes nothing.
pub const PREVIEW_RECORD: Uuid = Uuid::nil();

const MAC_BYTES: usize = 16;
/// Longest URL a click token carries.
pub const MAX_URL_BYTES: usize = 2048;

/// Signs and verifies tokens and builds the public URLs that carry them.
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
    base_url: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(secret: &[u8], base_url: &str) -> Self {
        Signer {
            mac: Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length"),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn tag(&self, payload: &[u8]) -> [u8; MAC_BYTES] {
        let mut mac = self.mac.clone();
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    pub fn sign(&self, token: &Token) -> String {
        let mut payload = Vec::with_capacity(32);
        match token {
            Token::Click { record, link, url } => {
                payload.push(b'c');
                payload.extend_from_slice(record.as_bytes());
                payload.extend_from_slice(&link.to_be_bytes());
                payload.extend_from_slice(url.as_bytes());
            }
            Token::Open { record } => {
                payload.push(b'o');
                payload.extend_from_slice(record.as_bytes());
            }
            Token::Unsubscribe { record } => {
                payload.push(b'u');
                payload.extend_from_slice(record.as_bytes());
            }
        }
        let tag = self.tag(&payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The token's meaning, or `None` when it was not signed with this secret (forged,
    /// tampered with, truncated, or not a token at all).
    pub fn verify(&self, token: &str) -> Option<Token> {
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac.clone();
        mac.update(&payload);
        mac.verify_truncated_left(&tag).ok()?;
        if tag.len() != MAC_BYTES {
            return None;
        }
        let (&kind, rest) = payload.split_first()?;
        let record = Uuid::from_slice(rest.get(..16)?).ok()?;
        let rest = &rest[16..];
        match kind {
            b'c' => {
                let link = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
                let url = String::from_utf8(rest[2..].to_vec()).ok()?;
                Some(Token::Click { record, link, url })
            }
            b'o' if rest.is_empty() => Some(Token::Open { record }),
            b'u' if rest.is_empty() => Some(Token::Unsubscribe { record }),
            _ => None,
        }
    }

    pub fn click_url(&self, record: Uuid, link: u16, url: &str) -> String {
        let t = self.sign(&Token::Click {
            record,
            link,
            url: url.to_owned(),
        });
        format!("{}/t/c/{t}", self.base_url)
    }

    pub fn open_url(&self, record: Uuid) -> String {
        format!(
            "{}/t/o/{}",
            self.base_url,
            self.sign(&Token::Open { record })
        )
    }

    pub fn unsubscribe_url(&self, record: Uuid) -> String {
        format!(
            "{}/u/{}",
            self.base_url,
            self.sign(&Token::Unsubscribe { record })
        )
    }
}

#[cfg(test)]
mod tests;
