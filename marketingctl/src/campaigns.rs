//! `campaigns …` and `executions …`.

use std::path::Path;
use std::time::Duration;

use crm_proto::v1 as pb;
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use serde_json::json;

use crate::cli::{Campaigns, Executions};
use crate::client::{Context, EXIT_PARTIAL, Failure};
use crate::output;

/// The campaign file of `campaigns create -f`: the REST API's JSON body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignFile {
    name: String,
    #[serde(rename = "type")]
    channel: String,
    #[serde(default)]
    target_tags: Vec<String>,
    target_segment_id: Option<String>,
    content_template_id: Option<String>,
    #[serde(default)]
    content: String,
    start_time: Option<String>,
    end_time: Option<String>,
    #[serde(default)]
    variants: Vec<VariantFile>,
    trigger: Option<TriggerFile>,
    send_at_local: Option<String>,
    time_zone: Option<String>,
    quiet_hours: Option<QuietHoursFile>,
    spend_cap: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    #[serde(default)]
    key: String,
    weight: u32,
    content: Option<String>,
    template_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerFile {
    kind: String,
    cron: Option<String>,
    time_zone: Option<String>,
    event: Option<String>,
    #[serde(rename = "where")]
    rule: Option<serde_json::Value>,
    delay_seconds: Option<i64>,
    once_per_customer: Option<bool>,
    cooldown_hours: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuietHoursFile {
    start: String,
    end: String,
}

/// Reads a file, or standard input for `-`.
pub fn read_input(path: &Path) -> Result<String, Failure> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| Failure::usage(format!("reading standard input: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("reading {}: {e}", path.display())))
}

fn parse_campaign_file(path: &Path, text: &str) -> Result<pb::CreateCampaignRequest, Failure> {
    let shown = path.display();
    let de = &mut serde_json::Deserializer::from_str(text);
    let f: CampaignFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        Failure::usage(format!("{shown}: {at}: {}", e.inner()))
    })?;
    let time = |field: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| output::parse_time(field, t))
            .transpose()
            .map_err(|e| Failure::usage(format!("{shown}: {e}")))
    };
    let rule = match f.trigger.as_ref().and_then(|t| t.rule.as_ref()) {
        None => None,
        Some(v) => Some(output::json_to_struct(v).ok_or_else(|| {
            Failure::usage(format!("{shown}: trigger.where: must be a JSON object"))
        })?),
    };
    Ok(pb::CreateCampaignRequest {
        name: f.name,
        r#type: f.channel,
        target_tags: f.target_tags,
        target_segment_id: f.target_segment_id,
        content_template_id: f.content_template_id,
        content: f.content,
        start_time: time("start_time", &f.start_time)?,
        end_time: time("end_time", &f.end_time)?,
        variants: f
            .variants
            .into_iter()
            .map(|v| pb::Variant {
                key: v.key,
                weight: v.weight,
                content: v.content,
                template_id: v.template_id,
            })
            .collect(),
        trigger: f.trigger.map(|t| pb::CampaignTrigger {
            kind: t.kind,
            cron: t.cron,
            time_zone: t.time_zone,
            event: t.event,
            r#where: rule,
            delay_seconds: t.delay_seconds,
            once_per_customer: t.once_per_customer,
            cooldown_hours: t.cooldown_hours,
        }),
        send_at_local: f.send_at_local,
        time_zone: f.time_zone,
        quiet_hours: f.quiet_hours.map(|q| pb::QuietHours {
            start: q.start,
            end: q.end,
        }),
        spend_cap: f.spend_cap,
    })
}

pub async fn run(ctx: &Context, command: Campaigns) -> Result<u8, Failure> {
    let mut client = ctx.campaigns();
    match command {
        Campaigns::List {
            status,
            channel,
            name,
            page,
            page_size,
        } => {
            let r = client
                .list_campaigns(pb::ListCampaignsRequest {
                    status,
                    r#type: channel,
                    name,
                    page,
                    page_size,
                })
                .await?
                .into_inner();
            let p = r.pagination.unwrap_or_default();
            if ctx.json() {
                output::print_json(&json!({
                    "campaigns": r.campaigns.iter().map(output::campaign).collect::<Vec<_>>(),
                    "pagination": {"total": p.total, "page": p.page, "page_size": p.page_size},
                }));
            } else {
                output::table(
                    &output::CAMPAIGN_HEADER,
                    &output::campaign_rows(&r.campaigns),
                );
                println!(
                    "page {} of {} campaigns ({} per page)",
                    p.page, p.total, p.page_size
                );
            }
        }
        Campaigns::Get { id } => {
            let c = client
                .get_campaign(pb::GetCampaignRequest { id })
                .await?
                .into_inner();
            output::record(ctx.json(), &output::campaign(&c));
        }
        Campaigns::Create { file } => {
            let text = read_input(&file)?;
            let req = parse_campaign_file(&file, &text)?;
            let c = client.create_campaign(req).await?.into_inner();
            output::record(ctx.json(), &output::campaign(&c));
        }
        Campaigns::Trigger {
            id,
            simulation,
            watch: follow,
        } => {
            let execution_type = if simulation { "simulation" } else { "actual" };
            let r = client
                .trigger_campaign(pb::TriggerCampaignRequest {
                    id,
                    execution_type: execution_type.into(),
                })
                .await?
                .into_inner();
            if follow {
                if !ctx.json() {
                    eprintln!("{} (execution {})", r.message, r.execution_id);
                }
                return watch(ctx, r.execution_id).await;
            }
            output::record(
                ctx.json(),
                &json!({"status": r.status, "message": r.message, "execution_id": r.execution_id}),
            );
        }
        Campaigns::Archive { id } => {
            let c = client
                .archive_campaign(pb::ArchiveCampaignRequest { id })
                .await?
                .into_inner();
            output::record(ctx.json(), &output::campaign(&c));
        }
    }
    Ok(0)
}

pub async fn run_executions(ctx: &Context, command: Executions) -> Result<u8, Failure> {
    let mut client = ctx.campaigns();
    match command {
        Executions::Watch { id } => return watch(ctx, id).await,
        Executions::Get { id } => {
            let e = client
                .get_execution(pb::GetExecutionRequest { id })
                .await?
                .into_inner();
            output::record(ctx.json(), &output::execution(&e));
        }
        Executions::List {
            campaign_id,
            page,
            page_size,
        } => {
            let r = client
                .list_executions(pb::ListExecutionsRequest {
                    campaign_id,
                    page,
                    page_size,
                })
                .await?
                .into_inner();
            let p = r.pagination.unwrap_or_default();
            if ctx.json() {
                output::print_json(&json!({
                    "executions": r.executions.iter().map(output::execution).collect::<Vec<_>>(),
                    "pagination": {"total": p.total, "page": p.page, "page_size": p.page_size},
                }));
            } else {
                let rows: Vec<Vec<String>> = r
                    .executions
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.clone(),
                            e.execution_type.clone(),
                            e.status.clone(),
                            e.planned.to_string(),
                            e.sent.to_string(),
                            e.failed.to_string(),
                            output::time_text(&e.created_at),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "ID", "TYPE", "STATUS", "PLANNED", "SENT", "FAILED", "CREATED",
                    ],
                    &rows,
                );
            }
        }
    }
    Ok(0)
}

/// Follows an execution to its end: a progress bar (on a terminal, table output) with the
/// rate and the ETA the service computes; the last progress as the result.
async fn watch(ctx: &Context, id: String) -> Result<u8, Failure> {
    let mut stream = ctx
        .campaigns()
        .watch_execution(pb::GetExecutionRequest { id })
        .await?
        .into_inner();
    let bar = ProgressBar::with_draw_target(
        None,
        if ctx.json() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut last: Option<pb::ExecutionProgress> = None;
    while let Some(p) = stream.next().await {
        let p = p?;
        bar.set_length(p.planned.max(p.sent + p.failed));
        bar.set_position(p.sent + p.failed);
        let eta = p
            .eta_seconds
            .map(|s| format!("ETA {}s", s.round()))
            .unwrap_or_else(|| "ETA -".into());
        bar.set_message(format!(
            "{} · {:.1}/s · {eta} · failed {}",
            p.status, p.rate_per_second, p.failed
        ));
        last = Some(p);
    }
    bar.finish_and_clear();
    let Some(p) = last else {
        return Err(Failure {
            message: "the service ended the watch without any progress".into(),
            exit_code: crate::client::EXIT_UNAVAILABLE,
        });
    };
    if ctx.json() {
        output::print_json(&output::progress(&p));
    } else {
        println!(
            "execution {} {}: {} planned, {} sent, {} failed",
            p.execution_id, p.status, p.planned, p.sent, p.failed
        );
    }
    Ok(if p.status == "completed" {
        0
    } else {
        EXIT_PARTIAL
    })
}
