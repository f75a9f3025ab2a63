//! One claimed record: the checks made again at send time (campaign still open, opt-outs, the
//! frequency cap, an address), rendering with the customer's variables and tracked links
//! ([`Dispatcher::prepare`]), then, once its spend is reserved ([`super::spend`]), the providers
//! ([`super::attempts`]).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use diesel_async::AsyncPgConnection;
use marketing_core::cost::Amount;
use marketing_core::render::{CampaignVars, Content, Recipient, VariantContent};
use marketing_core::vocabulary::Channel;
use uuid::Uuid;

use super::attempts::{Attempt, Tries};
use super::parked::Parked;
use super::{Delivered, Dispatcher, Verdict};
use crate::providers::OutboundMessage;
use crate::store::{self, Claimed, Outcome};

/// A rendered message allowed to go out, once its spend is reserved.
pub(super) struct Ready {
    pub message: OutboundMessage,
    /// The provider a worker left the record with, its outcome unknown (the only one it may go
    /// to).
    pub marker: Option<String>,
    pub campaign_id: Uuid,
    /// Whether its campaign has a spend cap.
    pub spend_capped: bool,
}

impl Dispatcher {
    /// Compiles the frozen content of every execution in `claimed` not yet in the cache (what
    /// [`Dispatcher::prepare`] renders).
    pub(super) async fn load_contents(
        &self,
        conn: &mut AsyncPgConnection,
        claimed: &[Claimed],
    ) -> anyhow::Result<()> {
        let missing: Vec<Uuid> = {
            let cache = self
                .contents
                .lock()
                .map_err(|_| anyhow::anyhow!("content cache poisoned"))?;
            let mut ids: Vec<Uuid> = claimed
                .iter()
                .map(|c| c.execution_id)
                .filter(|id| !cache.contains_key(id))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        if missing.is_empty() {
            return Ok(());
        }
        let rows = store::contents(conn, &missing)
            .await
            .context("loading execution contents")?;
        let mut cache = self
            .contents
            .lock()
            .map_err(|_| anyhow::anyhow!("content cache poisoned"))?;
        if cache.len() > 1000 {
            cache.clear();
        }
        for row in rows {
            let compiled = serde_json::from_value::<Vec<VariantContent>>(row.contents)
                .map_err(|e| e.to_string())
                .and_then(|variants| {
                    variants
                        .into_iter()
                        .map(|v| {
                            Content::compile(&v.source)
                                .map(|c| (v.variant, Arc::new(c)))
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Result<HashMap<_, _>, String>>()
                });
            cache.insert(row.id, Arc::new(compiled));
        }
        Ok(())
    }

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

    /// Decides whether one claimed record may be sent and renders its message; `Err` is the
    /// record's outcome when it may not.
    pub(super) fn prepare(&self, mut c: Claimed) -> Result<Ready, Delivered> {
        let channel = c.channel;
        let id = c.id;
        let failed = move |reason: String| Err(Delivered::not_sent(id, channel, reason));
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
            Channel::Wechat => c.wechat_openid.take(),
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
        Ok(Ready {
            message,
            marker: c.provider.take(),
            campaign_id: c.campaign_id,
            spend_capped: c.spend_capped,
        })
    }

    /// Sends a prepared message, which `reserved` this much of its campaign's spend cap.
    pub(super) async fn deliver(&self, ready: Ready, reserved: Amount) -> Delivered {
        let Ready {
            message, marker, ..
        } = ready;
        let channel = message.channel;
        let id = message.record_id;
        // A record a worker left with a provider, its outcome unknown, goes to that one only.
        let tries = Tries::resume(self.control.lanes(channel), marker.as_deref());
        let (outcome, verdict) = match self.attempt(&message, tries, true).await {
            Attempt::Done(outcome, verdict) => (outcome, verdict),
            Attempt::Parked { provider, tries } => (
                Outcome::Unsettled { provider },
                Verdict::Park(Box::new(Parked {
                    message,
                    tries,
                    reserved,
                })),
            ),
        };
        Delivered {
            id,
            outcome,
            verdict,
            channel: channel.as_str(),
            reserved,
        }
    }
}
