//! Printing: aligned tables for people, JSON for scripts, and the JSON shapes of API messages.

use chrono::{DateTime, Utc};
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Timestamp, Value as PbValue};
use serde_json::{Map, Value, json};

use crm_proto::v1 as pb;

/// Prints `rows` under `header`, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints a JSON document on stdout.
pub fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

pub fn time(t: &Option<Timestamp>) -> Value {
    match t
        .as_ref()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
    {
        Some(t) => json!(t.to_rfc3339()),
        None => Value::Null,
    }
}

pub fn time_text(t: &Option<Timestamp>) -> String {
    time(t).as_str().unwrap_or("-").to_owned()
}

pub fn parse_time(field: &str, text: &str) -> Result<Timestamp, String> {
    let t = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|e| format!("{field}: `{text}` is not an RFC 3339 time: {e}"))?;
    Ok(Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

pub fn struct_to_json(s: &Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(v: &PbValue) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => json!(n),
        Some(Kind::StringValue(s)) => json!(s),
        Some(Kind::BoolValue(b)) => json!(b),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value_to_json).collect()),
    }
}

/// A JSON object as a protobuf Struct (`None` when `v` is not an object).
pub fn json_to_struct(v: &Value) -> Option<Struct> {
    let Value::Object(map) = v else { return None };
    Some(object_to_struct(map))
}

fn object_to_struct(map: &Map<String, Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
    }
}

fn json_to_value(v: &Value) -> PbValue {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(json_to_value).collect(),
        }),
        Value::Object(o) => Kind::StructValue(object_to_struct(o)),
    };
    PbValue { kind: Some(kind) }
}

pub fn campaign(c: &pb::Campaign) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "type": c.r#type,
        "status": c.status,
        "target_tags": c.target_tags,
        "target_segment_id": c.target_segment_id,
        "content_template_id": c.content_template_id,
        "content": c.content,
        "variants": c.variants.iter().map(|v| json!({
            "key": v.key, "weight": v.weight, "content": v.content, "template_id": v.template_id,
        })).collect::<Vec<_>>(),
        "trigger": c.trigger.as_ref().map(|t| json!({
            "kind": t.kind, "cron": t.cron, "time_zone": t.time_zone, "event": t.event,
            "where": t.r#where.as_ref().map(struct_to_json), "delay_seconds": t.delay_seconds,
            "once_per_customer": t.once_per_customer, "cooldown_hours": t.cooldown_hours,
        })),
        "start_time": time(&c.start_time),
        "end_time": time(&c.end_time),
        "actual_start_time": time(&c.actual_start_time),
        "actual_end_time": time(&c.actual_end_time),
        "next_run_at": time(&c.next_run_at),
        "paused": c.paused,
        "send_at_local": c.send_at_local,
        "time_zone": c.time_zone,
        "quiet_hours": c.quiet_hours.as_ref().map(|q| json!({"start": q.start, "end": q.end})),
        "spend_cap": c.spend_cap,
        "created_by": c.created_by,
        "updated_by": c.updated_by,
        "created_at": time(&c.created_at),
        "updated_at": time(&c.updated_at),
    })
}

pub fn campaign_rows(cs: &[pb::Campaign]) -> Vec<Vec<String>> {
    cs.iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.name.clone(),
                c.r#type.clone(),
                c.status.clone(),
                time_text(&c.start_time),
            ]
        })
        .collect()
}

pub const CAMPAIGN_HEADER: [&str; 5] = ["ID", "NAME", "TYPE", "STATUS", "START"];

pub fn execution(e: &pb::Execution) -> Value {
    json!({
        "id": e.id,
        "campaign_id": e.campaign_id,
        "execution_type": e.execution_type,
        "status": e.status,
        "planned": e.planned,
        "published": e.published,
        "sent": e.sent,
        "failed": e.failed,
        "remaining": e.remaining,
        "percent": e.percent,
        "rate_per_second": e.rate_per_second,
        "eta_seconds": e.eta_seconds,
        "frozen": e.frozen,
        "skipped": e.skipped,
        "created_at": time(&e.created_at),
        "finished_at": time(&e.finished_at),
        "occurrence": time(&e.occurrence),
    })
}

pub fn progress(p: &pb::ExecutionProgress) -> Value {
    json!({
        "execution_id": p.execution_id,
        "campaign_id": p.campaign_id,
        "status": p.status,
        "planned": p.planned,
        "frozen": p.frozen,
        "published": p.published,
        "sent": p.sent,
        "failed": p.failed,
        "remaining": p.remaining,
        "percent": p.percent,
        "rate_per_second": p.rate_per_second,
        "eta_seconds": p.eta_seconds,
    })
}

/// Prints `value` as JSON, or as `key: value` lines for people.
pub fn record(json_output: bool, value: &Value) {
    if json_output {
        print_json(value);
        return;
    }
    if let Value::Object(map) = value {
        let width = map.keys().map(|k| k.len()).max().unwrap_or(0);
        for (k, v) in map {
            let text = match v {
                Value::Null => "-".to_owned(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("{k:<width$}  {text}");
        }
    } else {
        println!("{value}");
    }
}
