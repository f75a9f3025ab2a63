//! Publishes send jobs to RabbitMQ durably: persistent messages on the quorum queue, publisher
//! confirms with a window of confirms in flight, the record id as `message_id`. Any failure drops
//! the connection; the next call reconnects, so a broker restart heals by itself.

use std::collections::VecDeque;

use anyhow::Context as _;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use lapin::{Confirmation, PublisherConfirm};
use marketing_core::jobs::{PUBLISH_BATCH, SendJob, Topology, connect};

/// A reconnecting, confirming publisher of send jobs.
pub struct Publisher {
    url: String,
    topology: Topology,
    window: usize,
    /// Longest wait for one confirm; a connection that died silently can leave confirms pending
    /// forever, so the jobs are then published again.
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

    /// A pipeline of confirmed publishes on the current connection (connecting when there is
    /// none).
    pub async fn pipeline<T>(&mut self) -> anyhow::Result<Pipeline<T>> {
        let ch = self.channel().await?;
        Ok(Pipeline {
            ch,
            queue: self.topology.send_queue.clone(),
            window: self.window,
            timeout: self.timeout,
            in_flight: VecDeque::with_capacity(self.window),
        })
    }

    /// Drops the connection after a failure; the next pipeline reconnects.
    pub async fn reset(&mut self) {
        metrics::counter!("relay_publish_errors_total").increment(1);
        if let Some((conn, _)) = self.link.take() {
            // Closing a connection that died silently may never complete: bound it.
            let close = conn.close(320, "publish failed".into());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), close).await;
        }
    }
}

/// Publishes send jobs page after page with up to `window` confirms in flight, across as
/// many pages as the caller feeds it: the window never drains between pages. A job may carry a
/// mark (the end of a page); a mark is handed back once its job and every job before it were
/// confirmed, since the broker confirms a channel's messages in order and they are awaited in
/// order. On any error some jobs may have been published: the caller starts again from its
/// last confirmed mark (consumers are idempotent).
pub struct Pipeline<T> {
    ch: Channel,
    queue: String,
    window: usize,
    /// Longest wait for one confirm: a connection that died silently can leave confirms pending
    /// forever.
    timeout: std::time::Duration,
    in_flight: VecDeque<(PublisherConfirm, Option<T>)>,
}

impl<T> Pipeline<T> {
    /// Publishes `jobs`, marking the last one with `mark`; keeps at most `window` confirms in
    /// flight, waiting for the oldest ones first when it is full. Marks confirmed meanwhile are
    /// pushed to `confirmed`.
    ///
    /// Up to [`PUBLISH_BATCH`] messages are handed to the connection's I/O thread at once: a
    /// publish completes only once that thread wrote it to the socket, so one publish at a time
    /// cost two thread hand-offs per message (bench: 66,000 context switches a second in the
    /// relay, down to 12,600 this way, and 40% less relay CPU per message).
    pub async fn publish_page(
        &mut self,
        jobs: &[SendJob],
        headers: &FieldTable,
        mark: Option<T>,
        confirmed: &mut Vec<T>,
    ) -> anyhow::Result<()> {
        // Seconds since the epoch: workers report queue lag from it.
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let batch = PUBLISH_BATCH.min(self.window);
        for chunk in jobs.chunks(batch) {
            while self.in_flight.len() + chunk.len() > self.window {
                self.settle_oldest(confirmed).await?;
            }
            let payloads = chunk
                .iter()
                .map(serde_json::to_vec)
                .collect::<Result<Vec<_>, _>>()?;
            let ch = &self.ch;
            let queue = self.queue.as_str();
            let publishes = chunk.iter().zip(&payloads).map(|(job, payload)| {
                let properties = BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into())
                    .with_message_id(job.record_id.to_string().into())
                    .with_timestamp(now)
                    .with_headers(headers.clone());
                ch.basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    payload,
                    properties,
                )
            });
            // All are polled (and so written, in order) before any is awaited.
            let confirms = futures::future::try_join_all(publishes)
                .await
                .context("publishing send jobs")?;
            self.in_flight
                .extend(confirms.into_iter().map(|confirm| (confirm, None)));
        }
        // The page's last job, just pushed: nothing was settled since.
        if !jobs.is_empty()
            && let Some(last) = self.in_flight.back_mut()
        {
            last.1 = mark;
        }
        Ok(())
    }

    /// Waits for every confirm in flight.
    pub async fn drain(&mut self, confirmed: &mut Vec<T>) -> anyhow::Result<()> {
        while !self.in_flight.is_empty() {
            self.settle_oldest(confirmed).await?;
        }
        Ok(())
    }

    async fn settle_oldest(&mut self, marks: &mut Vec<T>) -> anyhow::Result<()> {
        let Some((confirm, mark)) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let timeout = self.timeout;
        tokio::time::timeout(timeout, confirmed(confirm))
            .await
            .map_err(|_| anyhow::anyhow!("no publisher confirm within {timeout:?}"))??;
        marks.extend(mark);
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
