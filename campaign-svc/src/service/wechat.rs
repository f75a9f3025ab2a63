//! WeChat's event pushes, verified: an `unsubscribe` opts the follower's customers out of
//! `wechat`, a `TEMPLATESENDJOBFINISH` is a delivery receipt for the record whose provider
//! message id is its `MsgID` (applied once, as every vendor receipt, see [`super::receipts`]).

use diesel::sql_types::Text;
use diesel_async::RunQueryDsl as _;

use super::MarketingService;
use crate::domain::vendor::Vendor;
use crate::domain::vendor::wechat::{Push, receipt};
use crate::error::Result;

/// `$1` an openid: its live customers opted out of WeChat (a follower who follows again is not
/// opted back in: only the customer's CRM or an API call removes an opt-out).
const UNSUBSCRIBE_SQL: &str = "
INSERT INTO customer_opt_outs (customer_id, channel, source)
SELECT id, 'wechat', 'wechat_unsubscribe' FROM customers
WHERE wechat_openid = $1 AND erased_at IS NULL
ON CONFLICT (customer_id, channel) DO NOTHING";

impl MarketingService {
    /// Applies a verified push.
    pub async fn apply_wechat_push(&self, push: Push) -> Result<()> {
        match push {
            Push::Unsubscribe { openid } => {
                let mut conn = self.pool.get().await?;
                let opted = diesel::sql_query(UNSUBSCRIBE_SQL)
                    .bind::<Text, _>(&openid)
                    .execute(&mut conn)
                    .await?;
                metrics::counter!("wechat_unsubscribes_total").increment(1);
                tracing::info!(
                    openid,
                    customers_opted_out = opted,
                    "WeChat follower unfollowed the account"
                );
            }
            Push::JobFinish { msgid, status, .. } => {
                self.apply_vendor_receipts(Vendor::Wechat, receipt(msgid, &status))
                    .await?;
            }
            Push::Other(what) => tracing::debug!(what, "WeChat push ignored"),
        }
        Ok(())
    }
}
