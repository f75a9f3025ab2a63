//! Campaign messages over gRPC: conversions between protobuf campaigns, triggers, timing and
//! variants and the domain's fields (the handlers are in `campaigns.rs`).

use crm_proto::v1 as pb;

use super::convert::{UpdateMask, from_timestamp, opt_timestamp, timestamp};
use crate::domain::campaign::{Campaign, CampaignFields};
use crate::domain::execution::Sample;
use crate::domain::parse_uuid;
use crate::domain::variant::VariantFields;
use crate::error::Result;

pub(super) fn to_pb(c: Campaign) -> pb::Campaign {
    pb::Campaign {
        id: c.id.to_string(),
        name: c.name,
        r#type: c.channel.as_str().to_owned(),
        status: c.status.as_str().to_owned(),
        target_tags: c.target_tags,
        target_segment_id: c.target_segment_id.map(|u| u.to_string()),
        content_template_id: c.content_template_id.map(|u| u.to_string()),
        content: c.content,
        start_time: opt_timestamp(c.start_time),
        end_time: opt_timestamp(c.end_time),
        actual_start_time: opt_timestamp(c.actual_start_time),
        actual_end_time: opt_timestamp(c.actual_end_time),
        created_by: c.created_by.to_string(),
        updated_by: c.updated_by.to_string(),
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
        trigger: Some(trigger_pb(&c.trigger)),
        next_run_at: opt_timestamp(c.next_run_at),
        paused: c.paused,
        send_at_local: c.send_at_local,
        time_zone: c.time_zone,
        quiet_hours: c.quiet_hours.as_ref().map(quiet_pb),
        spend_cap: c.spend_cap.map(|a| a.to_string()),
        variants: c
            .variants
            .into_iter()
            .map(|v| pb::Variant {
                key: v.key,
                weight: v.weight,
                content: v.content,
                template_id: v.template_id.map(|t| t.to_string()),
            })
            .collect(),
    }
}

pub(super) fn variant_fields(variants: Vec<pb::Variant>) -> Result<Vec<VariantFields>> {
    variants
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            Ok(VariantFields {
                key: Some(v.key),
                weight: Some(i64::from(v.weight)),
                content: v.content,
                template_id: opt_uuid(&format!("variants[{i}].template_id"), v.template_id)?,
            })
        })
        .collect()
}

/// A rendered message as gRPC returns it.
pub(super) fn sample_to_pb(s: Sample) -> pb::RenderedSample {
    pb::RenderedSample {
        customer_id: s.customer_id.to_string(),
        to: s.to,
        subject: s.subject,
        body: s.body,
        variant: s.variant,
        html_body: s.html_body,
        error: s.error,
    }
}

/// An optional UUID field: absent or empty means none.
pub(super) fn opt_uuid(field: &str, v: Option<String>) -> Result<Option<uuid::Uuid>> {
    v.filter(|s| !s.is_empty())
        .map(|s| parse_uuid(field, &s))
        .transpose()
}

pub(super) fn opt_time(
    field: &str,
    v: Option<prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    v.map(|t| from_timestamp(field, t)).transpose()
}

const UPDATABLE: &[&str] = &[
    "name",
    "type",
    "target_tags",
    "target_segment_id",
    "content_template_id",
    "content",
    "start_time",
    "end_time",
    "variants",
    "trigger",
    "send_at_local",
    "time_zone",
    "quiet_hours",
    "spend_cap",
];

/// Follows AIP-134: with a mask, exactly the listed paths change (absent = cleared); without
/// one, every field present in the message changes.
pub(super) fn update_fields(mut r: pb::UpdateCampaignRequest) -> Result<CampaignFields> {
    let mask = UpdateMask::parse(r.update_mask.take(), UPDATABLE)?;
    let wants = |path: &str, present: bool| mask.wants(path, present);
    let mut f = CampaignFields::default();
    if wants("name", r.name.is_some()) {
        f.name = Some(r.name.unwrap_or_default());
    }
    if wants("type", r.r#type.is_some()) {
        f.channel = Some(r.r#type.unwrap_or_default());
    }
    if wants("target_tags", !r.target_tags.is_empty()) {
        f.target_tags = Some(r.target_tags);
    }
    if wants("target_segment_id", r.target_segment_id.is_some()) {
        f.target_segment_id = Some(opt_uuid("target_segment_id", r.target_segment_id)?);
    }
    if wants("content_template_id", r.content_template_id.is_some()) {
        f.content_template_id = Some(opt_uuid("content_template_id", r.content_template_id)?);
    }
    if wants("content", r.content.is_some()) {
        f.content = Some(r.content.unwrap_or_default());
    }
    if wants("variants", !r.variants.is_empty()) {
        f.variants = Some(variant_fields(r.variants)?);
    }
    if wants("start_time", r.start_time.is_some()) {
        f.start_time = Some(opt_time("start_time", r.start_time)?);
    }
    if wants("end_time", r.end_time.is_some()) {
        f.end_time = Some(opt_time("end_time", r.end_time)?);
    }
    if wants("send_at_local", r.send_at_local.is_some()) {
        f.send_at_local = Some(r.send_at_local.take());
    }
    if wants("time_zone", r.time_zone.is_some()) {
        f.time_zone = Some(r.time_zone.take());
    }
    if wants("quiet_hours", r.quiet_hours.is_some()) {
        f.quiet_hours = Some(r.quiet_hours.take().map(quiet_json));
    }
    if wants("spend_cap", r.spend_cap.is_some()) {
        f.spend_cap = Some(r.spend_cap.take().filter(|s| !s.is_empty()));
    }
    if wants("trigger", r.trigger.is_some()) {
        // A listed but absent trigger goes back to the default, `once`.
        f.trigger = Some(
            r.trigger
                .map_or_else(|| serde_json::json!({"kind": "once"}), trigger_json),
        );
    }
    Ok(f)
}

/// A trigger message as the JSON the domain parser reads (shared with REST, so both refuse the
/// same triggers with the same words).
pub(super) fn trigger_json(t: pb::CampaignTrigger) -> serde_json::Value {
    let mut v = serde_json::json!({"kind": t.kind});
    if let Some(cron) = t.cron {
        v["cron"] = cron.into();
    }
    if let Some(zone) = t.time_zone {
        v["time_zone"] = zone.into();
    }
    if let Some(event) = t.event {
        v["event"] = event.into();
    }
    if let Some(rule) = t.r#where {
        v["where"] = super::convert::struct_to_json(rule);
    }
    if let Some(delay) = t.delay_seconds {
        v["delay_seconds"] = delay.into();
    }
    if let Some(once) = t.once_per_customer {
        v["once_per_customer"] = once.into();
    }
    if let Some(hours) = t.cooldown_hours {
        v["cooldown_hours"] = hours.into();
    }
    v
}

pub(super) fn quiet_json(q: pb::QuietHours) -> serde_json::Value {
    serde_json::json!({"start": q.start, "end": q.end})
}

fn quiet_pb(v: &serde_json::Value) -> pb::QuietHours {
    let text = |key: &str| {
        v.get(key)
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    pb::QuietHours {
        start: text("start"),
        end: text("end"),
    }
}

fn trigger_pb(v: &serde_json::Value) -> pb::CampaignTrigger {
    let text = |key: &str| v.get(key).and_then(|s| s.as_str()).map(str::to_owned);
    pb::CampaignTrigger {
        kind: text("kind").unwrap_or_else(|| "once".to_owned()),
        cron: text("cron"),
        time_zone: text("time_zone"),
        event: text("event"),
        r#where: match v.get("where") {
            Some(serde_json::Value::Object(o)) => Some(super::convert::json_to_struct(o.clone())),
            _ => None,
        },
        delay_seconds: v.get("delay_seconds").and_then(|d| d.as_i64()),
        once_per_customer: v.get("once_per_customer").and_then(|b| b.as_bool()),
        cooldown_hours: v.get("cooldown_hours").and_then(|h| h.as_i64()),
    }
}
