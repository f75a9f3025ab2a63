//! One claimed record: the checks made again at send time (campaign still open, opt-outs, the
//! frequency cap, an address), rendering with the customer's variables and tracked links, and
//! the provider call with its retries.

use std::sync::Arc;
use std::time::Duration;

use marketing_core::render::{CampaignVars, Content, Recipient};
use marketing_core::vocabulary::Channel;
use uuid::Uuid;

use super::{Dispatcher, Verdict};
use crate::providers::{OutboundMessage, SendError};
use crate::store::{Claimed, Outcome};

/// The longest a vendor's `Retry-After` holds a message back. The batch's transaction stays open
/// while its messages wait, so a vendor asking for minutes gets its job dead-lettered after
/// `MAX_ATTEMPTS` instead of holding the batch's locks that long.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(10);

impl Dispatcher {
    /// The compiled content for a claimed record's execution and variant.
    fn content(&self, c: &Claimed) -> Result<Arc<Content>, String> {
        let cache = self
            .contents
            .lock()
            .map_err(|_| "content cache poisoned".to_owned())?;
        let variants = cache
            .get(&c.execution_id)
            .ok_or_else(|| format!("execution {} has no content", c.execution_id))?;
        let variants = variants.as_ref().as_ref().map_err(Clone::clone)?;
        variants.get(&c.variant).cloned().ok_or_else(|| {
            format!(
                "execution {} has no variant {:?}",
                c.execution_id, c.variant
            )
        })
    }

    /// Decides and, when allowed, sends one claimed record.
    pub(super) async fn deliver(&self, mut c: Claimed) -> (Uuid, Outcome, Verdict, &'static str) {
        let channel = c.channel;
        let label = channel.as_str();
        let id = c.id;
        let failed = move |reason: String| (id, Outcome::Failed { reason }, Verdict::Ack, label);
        if !c.campaign_open {
            return failed("not sent: the campaign ended before this message was sent".into());
        }
        if c.opted_out {
            return failed(format!("not sent: the customer opted out of {channel}"));
        }
        if let Some(cap) = self.frequency_cap.filter(|_| c.frequency_capped) {
            return failed(format!(
                "not sent: frequency cap reached ({} per {} h on {channel})",
                cap.max, cap.window_hours
            ));
        }
        let to = match channel {
            Channel::Sms => c.phone.clone(),
            Channel::Email => c.email.clone(),
            Channel::PushNotification => c.push_token.take(),
        };
        let Some(to) = to.filter(|t| !t.trim().is_empty()) else {
            return failed(format!("not sent: the customer has no {channel} address"));
        };
        let content = match self.content(&c) {
            Ok(content) => content,
            Err(e) => return failed(format!("not sent: the content cannot be rendered: {e}")),
        };
        // The record is the recipient's: its fields move into the template's variables.
        let recipient = Recipient {
            name: c.name.take(),
            email: c.email.take(),
            phone: c.phone.take(),
            external_id: c.external_id.take(),
            locale: c.locale.take(),
            time_zone: c.time_zone.take(),
            birthday: c.birthday,
            attributes: std::mem::take(&mut c.attributes),
            unsubscribe_url: None,
        };
        let campaign = CampaignVars {
            id: c.campaign_id,
            name: std::mem::take(&mut c.campaign_name),
            channel,
            start_time: c.start_time,
            end_time: c.end_time,
        };
        // The same path previews take, so they show exactly this message.
        let finished = match self
            .signer
            .finish(c.id, channel, &content, recipient, &campaign)
        {
            Ok(f) => f,
            Err(e) => return failed(format!("not sent: the content cannot be rendered: {e}")),
        };
        let message = OutboundMessage {
            record_id: c.id,
            campaign_id: c.campaign_id,
            channel,
            to,
            subject: finished.message.subject,
            body: finished.message.body,
            html_body: finished.message.html_body,
            unsubscribe_url: Some(finished.unsubscribe_url),
        };
        let provider = self.providers.for_channel(channel);
        let mut attempt = 1;
        loop {
            let started = std::time::Instant::now();
            let sent = provider.send(&message).await;
            metrics::histogram!(
                "worker_provider_duration_seconds",
                "channel" => label,
                "provider" => provider.name()
            )
            .record(started.elapsed().as_secs_f64());
            match sent {
                Ok(provider_message_id) => {
                    let outcome = Outcome::Sent {
                        at: chrono::Utc::now(),
                        provider_message_id,
                    };
                    return (c.id, outcome, Verdict::Ack, label);
                }
                Err(SendError::Permanent(e)) => {
                    return failed(format!("{} refused the message: {e}", provider.name()));
                }
                Err(e) if attempt >= self.retry.max_attempts => {
                    tracing::warn!(record_id = %c.id, error = %e, "giving up after {attempt} attempts");
                    let reason = format!(
                        "{} failed {attempt} times; last error: {e}",
                        provider.name()
                    );
                    return (c.id, Outcome::Failed { reason }, Verdict::DeadLetter, label);
                }
                Err(e) => {
                    let backoff = self.retry.base * 2u32.saturating_pow(attempt - 1);
                    let delay = match &e {
                        SendError::Throttled {
                            retry_after: Some(wait),
                            ..
                        } => backoff.max((*wait).min(RETRY_AFTER_CAP)),
                        _ => backoff,
                    };
                    tracing::debug!(record_id = %c.id, error = %e, ?delay, "transient provider error; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }
}
