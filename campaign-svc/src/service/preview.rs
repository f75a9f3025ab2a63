//! Previews: a campaign or a template rendered for chosen customers exactly as the worker would
//! send it (see [`super::plan`]), without sending anything or writing anything.

use chrono::Utc;
use marketing_core::models::CampaignRow;
use marketing_core::vocabulary::CampaignStatus;
use uuid::Uuid;

use super::MarketingService;
use super::campaigns::{check_references, new_row};
use super::templates::find_template;
use crate::auth::Caller;
use crate::domain::campaign::NewCampaign;
use crate::domain::execution::Sample;
use crate::error::{Error, Result};
use crate::fanout::plan::{Plan, audience_samples, customer_sample};

/// Most customers one preview renders.
pub const MAX_PREVIEW: u32 = 50;

/// Whom a preview renders for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewTarget {
    /// One customer, in the audience or not.
    Customer(Uuid),
    /// The first N recipients of the campaign's audience (by customer id).
    FirstOfAudience(u32),
}

impl PreviewTarget {
    /// `customer_id` wins; otherwise `limit` (default 5, at most [`MAX_PREVIEW`]).
    pub fn parse(customer_id: Option<Uuid>, limit: Option<i64>) -> Result<Self> {
        if let Some(id) = customer_id {
            if limit.is_some() {
                return Err(Error::invalid(
                    "limit",
                    "give either customer_id or limit, not both",
                ));
            }
            return Ok(PreviewTarget::Customer(id));
        }
        match limit.unwrap_or(5) {
            n if (1..=i64::from(MAX_PREVIEW)).contains(&n) => {
                Ok(PreviewTarget::FirstOfAudience(n as u32))
            }
            _ => Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PREVIEW}"),
            )),
        }
    }
}

impl MarketingService {
    /// Renders a campaign (its content, template or A/B variants) as it would be sent.
    pub async fn preview_campaign(&self, id: Uuid, target: PreviewTarget) -> Result<Vec<Sample>> {
        let mut conn = self.pool.get().await?;
        let campaign = super::campaigns::find(&mut conn, id).await?;
        let plan = Plan::resolve(&mut conn, &campaign).await?;
        let signer = &self.settings.signer;
        match target {
            PreviewTarget::Customer(c) => Ok(vec![
                customer_sample(&mut conn, &campaign, &plan, signer, c).await?,
            ]),
            PreviewTarget::FirstOfAudience(n) => {
                audience_samples(&mut conn, &campaign, &plan, signer, i64::from(n), None).await
            }
        }
    }

    /// Renders a campaign not saved yet (a create's fields) for one customer: the same checks
    /// as a create (content, variants, trigger, references), nothing written or sent.
    pub async fn preview_new_campaign(
        &self,
        caller: Caller,
        new: NewCampaign,
        customer_id: Uuid,
    ) -> Result<Sample> {
        // The nil id: an unsaved campaign has none yet, so its A/B split is only indicative.
        let campaign = new_row(Uuid::nil(), caller, new, Utc::now())?;
        let mut conn = self.pool.get().await?;
        check_references(&mut conn, &campaign).await?;
        let plan = Plan::resolve(&mut conn, &campaign).await?;
        customer_sample(
            &mut conn,
            &campaign,
            &plan,
            &self.settings.signer,
            customer_id,
        )
        .await
    }

    /// Renders a template for one customer; campaign variables take the template's name.
    pub async fn preview_template(&self, id: Uuid, customer_id: Uuid) -> Result<Sample> {
        let mut conn = self.pool.get().await?;
        let t = find_template(&mut conn, id).await?;
        let channel = t.channel;
        let plan = Plan::single(
            channel,
            marketing_core::render::MessageSource {
                subject: t.subject,
                body: t.body,
                html_body: t.html_body,
            },
        )?;
        let now = Utc::now();
        let campaign = CampaignRow {
            id: Uuid::nil(),
            name: t.name,
            type_: t.channel,
            status: CampaignStatus::Draft,
            target_tags: Vec::new(),
            target_segment_id: None,
            content_template_id: Some(id),
            content: String::new(),
            variants: serde_json::json!([]),
            start_time: None,
            end_time: None,
            actual_start_time: None,
            actual_end_time: None,
            created_by: Uuid::nil(),
            updated_by: Uuid::nil(),
            created_at: now,
            updated_at: now,
            trigger: serde_json::json!({"kind": "once"}),
            next_run_at: None,
            paused_at: None,
            send_at_local: None,
            time_zone: None,
            quiet_hours: None,
            spend_cap_micros: None,
        };
        customer_sample(
            &mut conn,
            &campaign,
            &plan,
            &self.settings.signer,
            customer_id,
        )
        .await
    }
}
