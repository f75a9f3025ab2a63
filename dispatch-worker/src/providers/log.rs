//! The local sink: each delivered message becomes one JSON line (stdout or a file), so the
//! service runs with no vendor credentials.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::sync::Mutex;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{OutboundMessage, Provider, SendError};

pub struct LogProvider {
    out: Mutex<BufWriter<Box<dyn Write + Send>>>,
}

impl LogProvider {
    /// `-` writes to stdout; anything else is a file appended to.
    pub fn open(path: &str) -> anyhow::Result<Self> {
        let sink: Box<dyn Write + Send> = if path == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening LOG_SINK_PATH {path}"))?,
            )
        };
        Ok(LogProvider {
            out: Mutex::new(BufWriter::with_capacity(256 * 1024, sink)),
        })
    }
}

/// One line of the sink, serialized straight from the message (the fields in this order).
#[derive(Serialize)]
struct Line<'a> {
    record_id: Uuid,
    campaign_id: Uuid,
    channel: &'a str,
    to: &'a str,
    subject: &'a str,
    body: &'a str,
    html_body: Option<&'a str>,
    at: DateTime<Utc>,
}

#[async_trait::async_trait]
impl Provider for LogProvider {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let line = Line {
            record_id: m.record_id,
            campaign_id: m.campaign_id,
            channel: m.channel.as_str(),
            to: &m.to,
            subject: &m.subject,
            body: &m.body,
            html_body: m.html_body.as_deref(),
            at: chrono::Utc::now(),
        };
        let mut out = self
            .out
            .lock()
            .map_err(|_| SendError::Transient("log sink poisoned".into()))?;
        serde_json::to_writer(&mut *out, &line)
            .map_err(|e| SendError::Transient(format!("writing the log sink: {e}")))?;
        out.write_all(b"\n")
            .map_err(|e| SendError::Transient(format!("writing the log sink: {e}")))?;
        // No message id: nothing comes back from the sink to look a record up by, and writing
        // one would make the record's final write a non-HOT update (`provider_message_id` is
        // indexed for vendor receipts, migration 000025).
        Ok(None)
    }

    async fn flush(&self) -> anyhow::Result<()> {
        let mut out = self
            .out
            .lock()
            .map_err(|_| anyhow::anyhow!("log sink poisoned"))?;
        out.flush().context("flushing the log sink")
    }
}
