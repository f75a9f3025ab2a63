//! `events send`: one event from flags, or JSON lines from a file (1,000 per call), with every
//! refused event reported (by line number for a file).

use crm_proto::v1 as pb;
use crm_proto::v1::event_input::Customer;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cli::{Events, SendEvent};
use crate::client::{Context, EXIT_PARTIAL, EXIT_REFUSED, Failure};
use crate::output;

/// The service takes at most this many events per call.
const BATCH: usize = 1000;

/// One line of an events file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventLine {
    event_id: Option<String>,
    customer_id: Option<String>,
    external_id: Option<String>,
    name: String,
    properties: Option<Value>,
    occurred_at: Option<String>,
}

pub async fn run(ctx: &Context, command: Events) -> Result<u8, Failure> {
    let Events::Send(send) = command;
    let (events, mut rejected, from_file) = match &send.file {
        Some(path) => {
            let text = crate::campaigns::read_input(path)?;
            let (events, rejected) = parse_lines(&text);
            (events, rejected, true)
        }
        None => (vec![(1, from_flags(&send)?)], Vec::new(), false),
    };
    let mut client = ctx.events();
    let (mut accepted, mut duplicates) = (0u64, 0u64);
    for chunk in events.chunks(BATCH) {
        let request = pb::TrackEventsRequest {
            events: chunk.iter().map(|(_, e)| e.clone()).collect(),
        };
        let answer = client.track_events(request).await?.into_inner();
        accepted += answer.accepted;
        duplicates += answer.duplicates;
        for r in answer.rejected {
            let line = chunk.get(r.index as usize).map_or(0, |(l, _)| *l);
            // "events[3].name: …" names the field as the file does: "name: …".
            let reason = match r.message.split_once("].") {
                Some((_, rest)) if r.message.starts_with("events[") => rest.to_owned(),
                _ => r.message,
            };
            rejected.push((line, format!("{reason} ({})", r.code)));
        }
    }
    rejected.sort_by_key(|(line, _)| *line);
    if ctx.json() {
        output::print_json(&json!({
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": rejected.iter().map(|(line, reason)| json!({"line": line, "reason": reason})).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "accepted {accepted}, duplicates {duplicates}, rejected {}",
            rejected.len()
        );
        for (line, reason) in &rejected {
            if from_file {
                println!("  line {line}: {reason}");
            } else {
                println!("  {reason}");
            }
        }
    }
    Ok(match (rejected.is_empty(), from_file) {
        (true, _) => 0,
        (false, true) => EXIT_PARTIAL,
        (false, false) => EXIT_REFUSED,
    })
}

fn from_flags(s: &SendEvent) -> Result<pb::EventInput, Failure> {
    let customer = match (&s.customer_id, &s.external_id) {
        (Some(id), _) => Customer::CustomerId(id.clone()),
        (None, Some(x)) => Customer::ExternalId(x.clone()),
        (None, None) => {
            return Err(Failure::usage(
                "events send needs --external-id or --customer-id (or -f FILE)",
            ));
        }
    };
    let name = s
        .name
        .clone()
        .ok_or_else(|| Failure::usage("events send needs --name (or -f FILE)"))?;
    let mut properties = serde_json::Map::new();
    for p in &s.properties {
        let (key, value) = p
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--property `{p}`: expected key=value")))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        properties.insert(key.trim().to_owned(), value);
    }
    let occurred_at = s
        .occurred_at
        .as_deref()
        .map(|t| output::parse_time("--occurred-at", t))
        .transpose()
        .map_err(Failure::usage)?;
    Ok(pb::EventInput {
        event_id: s
            .event_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        customer: Some(customer),
        name,
        properties: output::json_to_struct(&Value::Object(properties)),
        occurred_at,
    })
}

type Lines = (Vec<(u64, pb::EventInput)>, Vec<(u64, String)>);

/// Reads JSON lines (blank lines skipped); a bad line is rejected alone.
fn parse_lines(text: &str) -> Lines {
    let (mut events, mut rejected) = (Vec::new(), Vec::new());
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let de = &mut serde_json::Deserializer::from_str(raw);
        let parsed = serde_path_to_error::deserialize::<_, EventLine>(de)
            .map_err(|e| match e.path().to_string().as_str() {
                "." => e.inner().to_string(),
                path => format!("{path}: {}", e.inner()),
            })
            .and_then(|l| {
                let customer = match (l.customer_id, l.external_id) {
                    (Some(id), None) => Customer::CustomerId(id),
                    (None, Some(x)) => Customer::ExternalId(x),
                    _ => return Err("exactly one of customer_id and external_id".to_owned()),
                };
                let properties = match l.properties {
                    None => None,
                    Some(v) => Some(
                        output::json_to_struct(&v)
                            .ok_or_else(|| "properties: must be a JSON object".to_owned())?,
                    ),
                };
                let occurred_at = l
                    .occurred_at
                    .as_deref()
                    .map(|t| output::parse_time("occurred_at", t))
                    .transpose()?;
                Ok(pb::EventInput {
                    event_id: l
                        .event_id
                        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                    customer: Some(customer),
                    name: l.name,
                    properties,
                    occurred_at,
                })
            });
        match parsed {
            Ok(e) => events.push((line, e)),
            Err(reason) => rejected.push((line, reason)),
        }
    }
    (events, rejected)
}
