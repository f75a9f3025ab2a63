//! Publishes send jobs to RabbitMQ durably: persistent messages on the quorum queue, publisher
//! confirms with a window of confirms in flight, the record id as `message_id`. Any failure drops
//! the connection; the next call reconnects, so a broker restart heals by itself.

use std::collections::VecDeque;

use anyhow::Context as _;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use lapin::{Confirmation, PublisherConfirm};
use marketing_core::jobs::{SendJob, Topology, connect};

/// A reconnecting, confirming publisher of send jobs.
pub struct Publisher {
    url: String,
    topology: Topology,
    window: usize,
    /// Longest a page may take to be published and confirmed; a connection that died silently
    /// can leave confirms pending forever, so the page is then published again.
    timeout: std::time::Duration,
    link: Option<(Connection, Channel)>,
}

impl Publisher {
    pub fn new(url: &str, topology: Topology, window: usize, timeout: std::time::Duration) -> Self {
        Publisher {
            url: url.to_owned(),
            topology,
            window: window.max(1),
            timeout,
            link: None,
        }
    }

    async fn channel(&mut self) -> anyhow::Result<Channel> {
        if let Some((conn, ch)) = &self.link
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        self.link = None;
        let conn = connect(&self.url, "campaign-svc relay")
            .await
            .context("connecting to RabbitMQ")?;
        let ch = conn.create_channel().await.context("opening a channel")?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .context("enabling confirms")?;
        self.topology
            .declare(&ch)
            .await
            .context("declaring queues")?;
        tracing::info!("relay connected to RabbitMQ");
        self.link = Some((conn, ch.clone()));
        Ok(ch)
    }

    /// Publishes every job and returns once the broker confirmed all of them. On error some may
    /// have been published: the caller publishes the batch again (consumers are idempotent).
    pub async fn publish(&mut self, jobs: &[SendJob], headers: FieldTable) -> anyhow::Result<()> {
        let timeout = self.timeout;
        let result = match tokio::time::timeout(timeout, self.publish_inner(jobs, headers)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("no publisher confirms within {timeout:?}")),
        };
        match &result {
            Ok(()) => metrics::counter!("relay_jobs_published_total").increment(jobs.len() as u64),
            Err(_) => metrics::counter!("relay_publish_errors_total").increment(1),
        }
        if result.is_err()
            && let Some((conn, _)) = self.link.take()
        {
            // Closing a connection that died silently may never complete: bound it.
            let close = conn.close(320, "publish failed".into());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), close).await;
        }
        result
    }

    async fn publish_inner(&mut self, jobs: &[SendJob], headers: FieldTable) -> anyhow::Result<()> {
        let ch = self.channel().await?;
        // Seconds since the epoch: workers report queue lag from it.
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let mut in_flight: VecDeque<PublisherConfirm> = VecDeque::with_capacity(self.window);
        for job in jobs {
            let payload = serde_json::to_vec(job)?;
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(job.record_id.to_string().into())
                .with_timestamp(now)
                .with_headers(headers.clone());
            let confirm = ch
                .basic_publish(
                    "".into(),
                    self.topology.send_queue.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &payload,
                    properties,
                )
                .await
                .context("publishing a send job")?;
            in_flight.push_back(confirm);
            if in_flight.len() >= self.window
                && let Some(oldest) = in_flight.pop_front()
            {
                confirmed(oldest).await?;
            }
        }
        for confirm in in_flight {
            confirmed(confirm).await?;
        }
        Ok(())
    }
}

async fn confirmed(confirm: PublisherConfirm) -> anyhow::Result<()> {
    match confirm.await.context("waiting for a publisher confirm")? {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::NotRequested => anyhow::bail!("publisher confirms are not enabled"),
        Confirmation::Ack(Some(_)) => {
            anyhow::bail!("the broker returned a send job: no queue bound")
        }
        Confirmation::Nack(_) => anyhow::bail!("the broker refused a send job (nack)"),
    }
}
