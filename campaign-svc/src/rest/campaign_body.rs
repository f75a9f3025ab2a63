//! The body of `POST /campaigns` and `PUT /campaigns/{id}`, as the transport reads it before the
//! domain parser (shared with gRPC) checks it.

use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::double_option;
use crate::domain::campaign::CampaignFields;
use crate::domain::variant::VariantFields;
use crate::domain::{parse_time, parse_uuid};
use crate::error::Result;
use marketing_core::vocabulary::Channel;

/// The create/update body: the seed's fields. Every field optional here so that the domain
/// parser, shared with gRPC, names what is missing.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "六月会员关怀短信", "type": "sms", "target_tags": ["VIP", "新用户"],
    "content": "亲爱的[客户姓名]，您有一份6月专属好礼待领取！",
    "start_time": "2030-06-10T09:00:00Z", "end_time": "2030-06-15T23:59:59Z"
}))]
pub struct CampaignBody {
    /// Required on create; 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// The channel; required on create.
    #[serde(rename = "type")]
    #[schema(value_type = Option<Channel>)]
    channel: Option<String>,
    #[serde(default)]
    target_tags: Option<Vec<String>>,
    /// A saved segment as the audience (instead of `target_tags`); `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<uuid::Uuid>)]
    target_segment_id: Option<Option<String>>,
    /// A template as the content (instead of `content`); `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<uuid::Uuid>)]
    content_template_id: Option<Option<String>>,
    /// The message (a template: `{{ name }}`, `{{ attributes.city }}`, …), up to 100,000
    /// characters.
    content: Option<String>,
    /// An A/B test: 2–5 variants whose weights add up to 100.
    variants: Option<Vec<VariantBody>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    start_time: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    end_time: Option<Option<String>>,
    /// `{"kind": "once"}` (the default), `{"kind": "recurring", "cron": "0 9 * * MON",
    /// "time_zone": "Asia/Shanghai"}` or `{"kind": "event", "event": "signed_up", …}`.
    #[schema(value_type = Option<Object>)]
    trigger: Option<serde_json::Value>,
    /// Each message leaves at this local time of day (`HH:MM`) on the customer's clock.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, example = "09:00")]
    send_at_local: Option<Option<String>>,
    /// The IANA zone of customers without one.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, example = "Asia/Shanghai")]
    time_zone: Option<Option<String>>,
    /// `{"start": "21:00", "end": "08:00"}` on the customer's clock.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    quiet_hours: Option<Option<serde_json::Value>>,
    /// The most the campaign may spend, in `COST_CURRENCY`: decimal text (`"500.00"`) or a JSON
    /// number; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, example = "500.00")]
    spend_cap: Option<Option<serde_json::Value>>,
}

/// One A/B variant: `{"key": "A", "weight": 50, "content": "…"}` or `{"weight": 50,
/// "template_id": "…"}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantBody {
    /// `A`, `B`, … when not given.
    key: Option<String>,
    /// Percentage of the audience, 1–99.
    #[schema(minimum = 1, maximum = 99)]
    weight: Option<i64>,
    /// Either `content` or `template_id`.
    content: Option<String>,
    #[schema(value_type = Option<uuid::Uuid>)]
    template_id: Option<String>,
}

impl CampaignBody {
    pub(super) fn into_fields(self) -> Result<CampaignFields> {
        let uuid = |field: &str, v: Option<Option<String>>| {
            v.map(|o| o.map(|s| parse_uuid(field, &s)).transpose())
                .transpose()
        };
        let time = |field: &str, v: Option<Option<String>>| {
            v.map(|o| o.map(|s| parse_time(field, &s)).transpose())
                .transpose()
        };
        Ok(CampaignFields {
            name: self.name,
            channel: self.channel,
            target_tags: self.target_tags,
            target_segment_id: uuid("target_segment_id", self.target_segment_id)?,
            content_template_id: uuid("content_template_id", self.content_template_id)?,
            content: self.content,
            variants: self
                .variants
                .map(|vs| {
                    vs.into_iter()
                        .enumerate()
                        .map(|(i, v)| {
                            Ok(VariantFields {
                                key: v.key,
                                weight: v.weight,
                                content: v.content,
                                template_id: v
                                    .template_id
                                    .filter(|t| !t.is_empty())
                                    .map(|t| parse_uuid(&format!("variants[{i}].template_id"), &t))
                                    .transpose()?,
                            })
                        })
                        .collect::<Result<Vec<_>>>()
                })
                .transpose()?,
            start_time: time("start_time", self.start_time)?,
            end_time: time("end_time", self.end_time)?,
            trigger: self.trigger,
            send_at_local: self.send_at_local,
            time_zone: self.time_zone,
            quiet_hours: self.quiet_hours,
            spend_cap: self
                .spend_cap
                .map(|v| v.map(spend_cap_text).transpose())
                .transpose()?,
        })
    }
}

/// A spend cap as sent: decimal text, or a JSON number taken as the decimal it was written as
/// (`12.5`, not a float's binary expansion).
fn spend_cap_text(v: serde_json::Value) -> Result<String> {
    match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(crate::error::Error::invalid(
            "spend_cap",
            "must be a decimal amount such as \"500.00\" (or null)",
        )),
    }
}
