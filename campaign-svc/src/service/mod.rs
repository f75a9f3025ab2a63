//! The one service layer: plain async functions over domain types, used by both transports.
//! Each submodule owns one aggregate and its SQL.

pub mod audience;
pub mod campaigns;
pub mod conversions;
pub mod customers;
pub mod freeze;
pub mod plan;
pub mod preview;
pub mod records;
pub mod segments;
pub mod stats;
pub mod templates;
pub mod tracking;
pub mod trigger;
pub mod webhooks;

use std::time::Duration;

use diesel_async::RunQueryDsl as _;
use marketing_core::db::PgPool;
use marketing_core::tracking::{FrequencyCap, Signer};

use crate::error::{Error, Result};

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
    /// Audience customers considered per freeze chunk (one transaction each).
    pub freeze_chunk: i64,
    /// How long a replica's hold on freezing or publishing an execution lasts without progress.
    pub lease: chrono::Duration,
    /// Region of phone numbers written without a country code.
    pub default_phone_region: phonenumber::country::Id,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Settings {
            signer: config.tracking.signer(),
            frequency_cap: config.tracking.frequency_cap(),
            webhook_secret: config.webhook_secret.clone().filter(|s| !s.is_empty()),
            conversion_window: chrono::Duration::hours(i64::from(config.conversion_window_hours)),
            freeze_chunk: config.freeze_chunk.clamp(1, 1_000_000),
            lease: chrono::Duration::seconds(config.relay_lease_secs.max(1) as i64),
            default_phone_region: config.default_phone_region,
        }
    }
}

/// The marketing service: everything both APIs can do.
#[derive(Clone)]
pub struct MarketingService {
    pool: PgPool,
    relay_waker: trigger::RelayWaker,
    settings: std::sync::Arc<Settings>,
}

impl MarketingService {
    pub fn new(pool: PgPool, settings: Settings) -> Self {
        MarketingService {
            pool,
            relay_waker: Default::default(),
            settings: std::sync::Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Notified after each real trigger, so the relay starts publishing at once.
    pub fn relay_waker(&self) -> trigger::RelayWaker {
        self.relay_waker.clone()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
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
