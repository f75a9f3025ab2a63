//! What campaigns cost: prices (`MESSAGE_COSTS` in `COST_CURRENCY`, parsed once in
//! `marketing_core::cost`), the dry run's estimate, and what is left of a campaign's spend cap.
//! What each message actually cost is the workers' to write (README "Cost and spend caps").

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marketing_core::cost::{Amount, Currency, MessageCosts};
use marketing_core::models::CampaignRow;
use marketing_core::schema::campaign_spend::dsl as cs;
use marketing_core::vocabulary::Channel;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Message prices, their currency, and each channel's primary provider (the workers').
#[derive(Debug, Clone)]
pub struct Pricing {
    pub costs: MessageCosts,
    pub currency: Currency,
    sms: String,
    email: String,
    push: String,
    wechat: String,
}

impl Pricing {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Pricing {
            costs: config.cost.message_costs.clone(),
            currency: config.cost.cost_currency.clone(),
            sms: config.primaries.sms_provider.trim().to_owned(),
            email: config.primaries.email_provider.trim().to_owned(),
            push: config.primaries.push_provider.trim().to_owned(),
            wechat: config.primaries.wechat_provider.trim().to_owned(),
        }
    }

    /// The channel's primary provider and its price.
    pub fn primary(&self, channel: Channel) -> (&str, Amount) {
        let provider = match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
            Channel::PushNotification => &self.push,
            Channel::Wechat => &self.wechat,
        };
        (provider, self.costs.price(channel, provider))
    }
}

/// A dry run's cost: the recipients it would send to at the channel's primary price, and what
/// is left of the campaign's spend cap. Stored on the simulated execution as found then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostEstimate {
    pub currency: String,
    /// The channel's primary provider, whose price the estimate uses.
    pub provider: String,
    /// Price of one message (decimal text).
    pub price: String,
    /// Messages the run would send (its planned recipients).
    pub messages: u64,
    /// messages × price.
    pub cost: String,
    /// The campaign's spend cap; `null` without one.
    pub spend_cap: Option<String>,
    /// The cap less what its messages cost and reserved so far; `null` without a cap.
    pub spend_cap_left: Option<String>,
    /// How many messages what is left pays for at this price (all of them when the price is 0);
    /// `null` without a cap.
    pub messages_within_cap: Option<u64>,
}

impl CostEstimate {
    pub fn new(
        pricing: &Pricing,
        campaign: &CampaignRow,
        messages: u64,
        spent: Amount,
    ) -> CostEstimate {
        let (provider, price) = pricing.primary(campaign.type_);
        let cost = Amount::from_micros(
            price
                .micros()
                .saturating_mul(i64::try_from(messages).unwrap_or(i64::MAX)),
        );
        let left = campaign
            .spend_cap_micros
            .map(|cap| Amount::from_micros(cap.saturating_sub(spent.micros())));
        let within = left.map(|left| {
            if price.is_zero() {
                messages
            } else {
                messages.min((left.micros() / price.micros()) as u64)
            }
        });
        CostEstimate {
            currency: pricing.currency.to_string(),
            provider: provider.to_owned(),
            price: price.to_string(),
            messages,
            cost: cost.to_string(),
            spend_cap: campaign
                .spend_cap_micros
                .map(|c| Amount::from_micros(c).to_string()),
            spend_cap_left: left.map(|l| l.to_string()),
            messages_within_cap: within,
        }
    }
}

/// What a campaign's messages cost and reserved so far (0 before its first capped send).
pub async fn spent(conn: &mut AsyncPgConnection, campaign: uuid::Uuid) -> Result<Amount> {
    let spent: Option<i64> = cs::campaign_spend
        .find(campaign)
        .select(cs::spent_micros)
        .first(conn)
        .await
        .optional()?;
    Ok(Amount::from_micros(spent.unwrap_or(0)))
}
