//! The one service layer: plain async functions over domain types, used by both transports.
//! Each submodule owns one aggregate and its SQL.

pub mod admin;
pub mod campaigns;
pub mod conversions;
pub mod cost;
pub mod customers;
pub mod events;
pub mod journeys;
pub mod preview;
pub mod receipts;
pub mod records;
pub mod replies;
pub mod schedules;
pub mod segments;
pub mod sns;
pub mod stats;
pub mod templates;
pub mod tracking;
pub mod trigger;
pub mod webhooks;
pub mod wechat;

use std::time::Duration;

use diesel_async::RunQueryDsl as _;
use marketing_core::db::PgPool;
use marketing_core::tracking::{FrequencyCap, Signer};

use crate::error::{Error, Result};
use crate::fanout::Fanout;
use crate::supervise::Health;

/// Settings the service layer works with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Signs and verifies tracking and unsubscribe tokens.
    pub signer: Signer,
    pub frequency_cap: Option<FrequencyCap>,
    /// Secret of provider webhook signatures; `None` refuses every webhook.
    pub webhook_secret: Option<String>,
    /// How far back a conversion looks for the campaign that reached the customer.
    pub conversion_window: chrono::Duration,
    /// Region of phone numbers written without a country code.
    pub default_phone_region: phonenumber::country::Id,
    /// The closest two occurrences of a recurring campaign may be.
    pub min_recurrence_secs: u64,
    /// Events older than this many days are refused at ingest and deleted (0: kept forever).
    pub event_retention_days: u32,
    /// How vendor callbacks authenticate, and the SMS opt-out keywords.
    pub callbacks: crate::callbacks::VendorCallbacks,
    /// Message prices, the currency, and each channel's primary provider.
    pub pricing: cost::Pricing,
    /// The broker and queue names the admin API inspects and replays.
    pub dead_letters: admin::DeadLetterQueue,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        Ok(Settings {
            signer: config.tracking.signer(),
            frequency_cap: config.tracking.frequency_cap(),
            webhook_secret: config.webhook_secret.clone().filter(|s| !s.is_empty()),
            conversion_window: chrono::Duration::hours(i64::from(config.conversion_window_hours)),
            default_phone_region: config.default_phone_region,
            min_recurrence_secs: config.min_recurrence_secs,
            event_retention_days: config.event_retention_days,
            callbacks: crate::callbacks::VendorCallbacks::from_args(
                &config.callbacks,
                &config.tracking.public_base_url,
            )?,
            pricing: cost::Pricing::from_config(config),
            dead_letters: admin::DeadLetterQueue {
                amqp_url: config.amqp_url.clone(),
                topology: marketing_core::jobs::Topology::new(&config.queue_prefix),
            },
        })
    }
}

/// The marketing service: everything both APIs can do.
#[derive(Clone)]
pub struct MarketingService {
    pool: PgPool,
    /// Real triggers go through the fan-out.
    fanout: Fanout,
    settings: std::sync::Arc<Settings>,
    /// Whether the background loops still run (readiness).
    health: Health,
    /// SNS signing certificates fetched so far.
    sns: std::sync::Arc<sns::SnsCertificates>,
}

impl MarketingService {
    pub fn new(pool: PgPool, settings: Settings, fanout: Fanout, health: Health) -> Self {
        MarketingService {
            pool,
            fanout,
            settings: std::sync::Arc::new(settings),
            health,
            sns: Default::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// What stopped among the background loops, if anything did (then the service is not
    /// ready, whatever the database says).
    pub fn loop_failure(&self) -> Option<String> {
        self.health.failure()
    }

    /// Ready when the database answers within two seconds.
    pub async fn ready(&self) -> Result<()> {
        let check = async {
            let mut conn = self.pool.get().await?;
            diesel::sql_query("SELECT 1").execute(&mut conn).await?;
            Ok::<_, Error>(())
        };
        tokio::time::timeout(Duration::from_secs(2), check)
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("database readiness check timed out")))?
    }
}
