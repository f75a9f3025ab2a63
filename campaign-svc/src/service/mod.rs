//! The one service layer: plain async functions over domain types, used by both transports.
//! Each submodule owns one aggregate and its SQL.

pub mod campaigns;
pub mod customers;
pub mod preview;
pub mod records;
pub mod segments;
pub mod stats;
pub mod templates;
pub mod trigger;

use std::time::Duration;

use diesel_async::RunQueryDsl as _;
use marketing_core::db::PgPool;

use crate::error::{Error, Result};

/// The marketing service: everything both APIs can do.
#[derive(Clone)]
pub struct MarketingService {
    pool: PgPool,
    relay_waker: trigger::RelayWaker,
}

impl MarketingService {
    pub fn new(pool: PgPool) -> Self {
        MarketingService {
            pool,
            relay_waker: Default::default(),
        }
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
