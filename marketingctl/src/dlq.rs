//! `dlq list` and `dlq replay`: the dead-letter queue through the admin API.

use crm_proto::v1 as pb;
use serde_json::json;

use crate::cli::Dlq;
use crate::client::{Context, EXIT_PARTIAL, Failure};
use crate::output;

pub async fn run(ctx: &Context, command: Dlq) -> Result<u8, Failure> {
    let mut client = ctx.admin();
    match command {
        Dlq::List { limit } => {
            let r = client
                .list_dead_letters(pb::ListDeadLettersRequest { limit })
                .await?
                .into_inner();
            if ctx.json() {
                output::print_json(&json!({
                    "total": r.total,
                    "dead_letters": r.dead_letters.iter().map(|d| json!({
                        "message_id": d.message_id,
                        "record_id": d.record_id,
                        "campaign_id": d.campaign_id,
                        "execution_id": d.execution_id,
                        "customer_id": d.customer_id,
                        "channel": d.channel,
                        "reason": d.reason,
                        "queue": d.queue,
                        "death_count": d.death_count,
                        "dead_lettered_at": output::time(&d.dead_lettered_at),
                        "record_status": d.record_status,
                        "error_message": d.error_message,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                let rows: Vec<Vec<String>> = r
                    .dead_letters
                    .iter()
                    .map(|d| {
                        vec![
                            d.record_id.clone(),
                            d.campaign_id.clone(),
                            d.customer_id.clone(),
                            d.channel.clone(),
                            d.reason.clone(),
                            output::time_text(&d.dead_lettered_at),
                            d.record_status.clone().unwrap_or_else(|| "-".into()),
                            d.error_message.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "RECORD",
                        "CAMPAIGN",
                        "CUSTOMER",
                        "CHANNEL",
                        "REASON",
                        "DEAD-LETTERED",
                        "STATUS",
                        "ERROR",
                    ],
                    &rows,
                );
                println!(
                    "{} of {} dead-lettered jobs shown",
                    r.dead_letters.len(),
                    r.total
                );
            }
            Ok(0)
        }
        Dlq::Replay {
            record_ids,
            limit,
            all,
        } => {
            if record_ids.is_empty() && limit.is_none() && !all {
                return Err(Failure::usage(
                    "dlq replay needs --record-id, --limit or --all (to replay every job)",
                ));
            }
            let r = client
                .replay_dead_letters(pb::ReplayDeadLettersRequest {
                    record_ids,
                    limit: limit.unwrap_or(0),
                })
                .await?
                .into_inner();
            if ctx.json() {
                output::print_json(&json!({
                    "replayed": r.replayed,
                    "already_sent": r.already_sent,
                    "kept": r.kept,
                    "results": r.results.iter().map(|x| json!({
                        "record_id": x.record_id, "outcome": x.outcome, "message": x.message,
                    })).collect::<Vec<_>>(),
                }));
            } else {
                let rows: Vec<Vec<String>> = r
                    .results
                    .iter()
                    .map(|x| vec![x.record_id.clone(), x.outcome.clone(), x.message.clone()])
                    .collect();
                output::table(&["RECORD", "OUTCOME", "MESSAGE"], &rows);
                println!(
                    "replayed {}, already sent {}, kept {}",
                    r.replayed, r.already_sent, r.kept
                );
            }
            Ok(if r.kept > 0 { EXIT_PARTIAL } else { 0 })
        }
    }
}
