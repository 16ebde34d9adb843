//! Chat deliveries already handled, so a platform's redelivery (Slack retries an event it got
//! no quick answer for; Socket Mode may deliver one event on two connections) is handled once,
//! also across a restart.

use super::Store;
use super::rows::millis;
use anyhow::Context;
use chrono::{DateTime, Utc};

/// How long a delivery id is remembered. Platforms redeliver within minutes.
const KEEP_DAYS: i64 = 7;

impl Store {
    /// Records delivery `id` (`<platform>:<delivery id>`) as handled at `at`; `false` when it
    /// was handled before. One statement: this runs for every chat event.
    pub async fn first_delivery(&self, id: &str, at: DateTime<Utc>) -> anyhow::Result<bool> {
        let done = sqlx::query("INSERT OR IGNORE INTO deliveries (id, at) VALUES (?, ?)")
            .bind(id)
            .bind(millis(at))
            .execute(&self.pool)
            .await
            .context("cannot record a chat delivery")?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets deliveries older than a week before `now` (the engine's ticker calls it now
    /// and then); how many were forgotten.
    pub async fn forget_old_deliveries(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let old = now - chrono::Duration::days(KEEP_DAYS);
        let done = sqlx::query("DELETE FROM deliveries WHERE at < ?")
            .bind(millis(old))
            .execute(&self.pool)
            .await
            .context("cannot forget old chat deliveries")?;
        Ok(done.rows_affected())
    }
}
