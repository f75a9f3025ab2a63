//! `customers import FILE`: CSV (header row) or JSON lines, sent in batches through
//! BulkUpsertCustomers, with every refused line reported by its line number.

use std::path::Path;

use crm_proto::v1 as pb;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use serde_json::json;

use crate::cli::{Customers, Format};
use crate::client::{Context, EXIT_PARTIAL, Failure, bad_field};
use crate::output;

/// The columns a CSV file may have (`external_id` is required).
pub const COLUMNS: [&str; 11] = [
    "external_id",
    "name",
    "email",
    "phone",
    "push_token",
    "tags",
    "attributes",
    "locale",
    "time_zone",
    "birthday",
    "wechat_openid",
];

/// One line of a JSON-lines file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerLine {
    external_id: String,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    push_token: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    attributes: Option<serde_json::Value>,
    locale: Option<String>,
    time_zone: Option<String>,
    birthday: Option<String>,
    wechat_openid: Option<String>,
}

/// A line the tool or the service refused.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

/// The file read: customers with their line numbers, and the lines refused while reading.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<(u64, pb::CustomerInput)>,
    pub rejected: Vec<Rejected>,
}

pub async fn run(ctx: &Context, command: Customers) -> Result<u8, Failure> {
    let Customers::Import {
        file,
        format,
        batch_size,
    } = command;
    let format = format.unwrap_or_else(|| format_of(&file));
    let text = crate::campaigns::read_input(&file)?;
    let parsed = match format {
        Format::Csv => parse_csv(&text)?,
        Format::Jsonl => parse_jsonl(&text),
    };
    import(ctx, parsed, batch_size as usize).await
}

fn format_of(path: &Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson") => {
            Format::Jsonl
        }
        _ => Format::Csv,
    }
}

fn cell(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

fn attributes(v: serde_json::Value) -> Result<prost_types::Struct, String> {
    output::json_to_struct(&v).ok_or_else(|| "attributes: must be a JSON object".to_owned())
}

/// Reads CSV with a header row; an unknown or missing column stops the import (exit 1), a bad
/// line is rejected alone.
pub fn parse_csv(text: &str) -> Result<Parsed, Failure> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Failure::usage(format!("reading the CSV header: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if let Some(unknown) = header.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return Err(Failure::usage(format!(
            "unknown CSV column `{unknown}` (known: {})",
            COLUMNS.join(", ")
        )));
    }
    if !header.iter().any(|h| h == "external_id") {
        return Err(Failure::usage("the CSV header has no `external_id` column"));
    }
    let mut parsed = Parsed::default();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                parsed.rejected.push(Rejected {
                    line,
                    reason: format!("unreadable CSV: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            parsed.rejected.push(Rejected {
                line,
                reason: format!(
                    "{} fields where the header has {}",
                    record.len(),
                    header.len()
                ),
            });
            continue;
        }
        match csv_row(&header, &record) {
            Ok(c) => parsed.rows.push((line, c)),
            Err(reason) => parsed.rejected.push(Rejected { line, reason }),
        }
    }
    Ok(parsed)
}

fn csv_row(header: &[String], record: &csv::StringRecord) -> Result<pb::CustomerInput, String> {
    let mut c = pb::CustomerInput::default();
    for (column, value) in header.iter().zip(record.iter()) {
        let v = cell(value);
        match column.as_str() {
            "external_id" => c.external_id = v.unwrap_or_default(),
            "name" => c.name = v,
            "email" => c.email = v,
            "phone" => c.phone = v,
            "push_token" => c.push_token = v,
            "tags" => {
                c.tags = value
                    .split([';', '|'])
                    .filter_map(cell)
                    .collect::<Vec<String>>()
            }
            "attributes" => {
                if let Some(text) = v {
                    let json: serde_json::Value = serde_json::from_str(&text)
                        .map_err(|e| format!("attributes: not JSON: {e}"))?;
                    c.attributes = Some(attributes(json)?);
                }
            }
            "locale" => c.locale = v,
            "time_zone" => c.time_zone = v,
            "birthday" => c.birthday = v,
            "wechat_openid" => c.wechat_openid = v,
            _ => {}
        }
    }
    if c.external_id.is_empty() {
        return Err("external_id: is required".into());
    }
    Ok(c)
}

/// Reads JSON lines (blank lines are skipped); a bad line is rejected alone.
pub fn parse_jsonl(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let de = &mut serde_json::Deserializer::from_str(raw);
        let row = serde_path_to_error::deserialize::<_, CustomerLine>(de)
            .map_err(|e| match e.path().to_string().as_str() {
                "." => e.inner().to_string(),
                path => format!("{path}: {}", e.inner()),
            })
            .and_then(|l| {
                Ok(pb::CustomerInput {
                    external_id: l.external_id,
                    name: l.name,
                    email: l.email,
                    phone: l.phone,
                    push_token: l.push_token,
                    tags: l.tags,
                    attributes: l.attributes.map(attributes).transpose()?,
                    locale: l.locale,
                    time_zone: l.time_zone,
                    birthday: l.birthday,
                    wechat_openid: l.wechat_openid,
                })
            });
        match row {
            Ok(c) => parsed.rows.push((line, c)),
            Err(reason) => parsed.rejected.push(Rejected { line, reason }),
        }
    }
    parsed
}

/// Sends the rows in batches. When the service refuses a batch for one customer
/// (`customers[i].field`), that line is rejected and the rest of the batch is sent again.
async fn import(ctx: &Context, parsed: Parsed, batch_size: usize) -> Result<u8, Failure> {
    let Parsed { rows, mut rejected } = parsed;
    let mut client = ctx.customers();
    let bar = ProgressBar::with_draw_target(
        Some(rows.len() as u64),
        if ctx.json() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "[{elapsed_precise}] {wide_bar} {pos}/{len} customers · {per_sec} · ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut created, mut updated) = (0u64, 0u64);
    for chunk in rows.chunks(batch_size.max(1)) {
        let mut batch: Vec<(u64, pb::CustomerInput)> = chunk.to_vec();
        while !batch.is_empty() {
            let request = pb::BulkUpsertCustomersRequest {
                customers: batch.iter().map(|(_, c)| c.clone()).collect(),
            };
            match client.bulk_upsert_customers(request).await {
                Ok(answer) => {
                    let a = answer.into_inner();
                    created += a.created;
                    updated += a.updated;
                    bar.inc(batch.len() as u64);
                    break;
                }
                Err(status) => {
                    let Some((index, reason)) = refused_item(&status, batch.len()) else {
                        bar.abandon();
                        let mut failure = Failure::from(status);
                        failure.message = format!(
                            "{} (imported {} customers before this batch)",
                            failure.message,
                            created + updated
                        );
                        return Err(failure);
                    };
                    let (line, _) = batch.remove(index);
                    rejected.push(Rejected { line, reason });
                    bar.inc(1);
                }
            }
        }
    }
    bar.finish_and_clear();
    rejected.sort_by_key(|r| r.line);
    let imported = created + updated;
    if ctx.json() {
        output::print_json(&json!({
            "imported": imported,
            "created": created,
            "updated": updated,
            "rejected": rejected.iter().map(|r| json!({"line": r.line, "reason": r.reason})).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "imported {imported} customers ({created} created, {updated} updated); rejected {} lines",
            rejected.len()
        );
        for r in &rejected {
            println!("  line {}: {}", r.line, r.reason);
        }
    }
    Ok(if rejected.is_empty() { 0 } else { EXIT_PARTIAL })
}

/// The batch item an INVALID_ARGUMENT names (`customers[3].email: …`), and the reason with the
/// field as the file names it (`email: …`).
fn refused_item(status: &tonic::Status, len: usize) -> Option<(usize, String)> {
    if status.code() != tonic::Code::InvalidArgument {
        return None;
    }
    let (field, description) = bad_field(status)?;
    let rest = field.strip_prefix("customers[")?;
    let (index, tail) = rest.split_once(']')?;
    let index: usize = index.parse().ok().filter(|i| *i < len)?;
    let column = tail.trim_start_matches('.');
    let reason = if column.is_empty() {
        description
    } else {
        format!("{column}: {description}")
    };
    Some((index, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_keep_their_file_line_numbers() {
        let text = "external_id,name,tags,attributes\n\
                    a1,Ann,vip;new,\"{\"\"tier\"\":2}\"\n\
                    ,NoId,,\n\
                    a3,Bob,x|y\n\
                    a4,Cy,,[1]\n\
                    a5,Di,,\n";
        let p = parse_csv(text).unwrap();
        let lines: Vec<u64> = p.rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 6]);
        assert_eq!(p.rows[0].1.tags, vec!["vip", "new"]);
        let bad: Vec<u64> = p.rejected.iter().map(|r| r.line).collect();
        assert_eq!(bad, vec![3, 4, 5], "{:?}", p.rejected);
        assert!(p.rejected[0].reason.starts_with("external_id"));
        assert!(p.rejected[2].reason.starts_with("attributes"));
    }

    #[test]
    fn an_unknown_column_stops_the_import() {
        let e = parse_csv("external_id,shoe_size\nx,42\n").unwrap_err();
        assert!(e.message.contains("shoe_size"), "{}", e.message);
    }

    #[test]
    fn json_lines_name_the_bad_field() {
        let p = parse_jsonl(
            "{\"external_id\":\"a\"}\n\n{\"external_id\":\"b\",\"tags\":\"x\"}\nnot json\n",
        );
        assert_eq!(p.rows.len(), 1);
        let bad: Vec<(u64, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(bad[0].0, 3);
        assert!(bad[0].1.starts_with("tags"), "{}", bad[0].1);
        assert_eq!(bad[1].0, 4);
    }
}
