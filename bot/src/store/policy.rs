//! Policy state: approvals and denials, locks, one-off freezes. Each change is written with
//! its event (and searchable log line) in one transaction, so the log always says who did what.

use super::Store;
use super::deploys::{BEGIN_WRITE, NewEvent, insert_event, log_if_changed};
use super::rows::{millis, time};
use crate::core::command::DeployId;
use crate::core::names::{AppName, EnvName};
pub use crate::core::policy::{Freeze, Lock};
use anyhow::Context;
use chrono::{DateTime, Utc};

/// An approval or denial still in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub user: String,
    pub verdict: Verdict,
    /// The emoji (canonical Unicode) or `command`.
    pub via: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }
}

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    user: String,
    verdict: String,
    via: String,
    at: i64,
}

#[derive(sqlx::FromRow)]
struct LockRow {
    id: i64,
    app: Option<String>,
    env: String,
    owner: String,
    reason: Option<String>,
    at: i64,
}

#[derive(sqlx::FromRow)]
struct FreezeRow {
    id: i64,
    env: String,
    starts_at: i64,
    ends_at: i64,
    reason: Option<String>,
    by_user: String,
}

impl LockRow {
    fn into_lock(self) -> anyhow::Result<Lock> {
        Ok(Lock {
            id: self.id,
            app: self.app.as_deref().map(AppName::parse).transpose()?,
            env: EnvName::parse(&self.env)?,
            owner: self.owner,
            reason: self.reason,
            at: time(self.at)?,
        })
    }
}

impl FreezeRow {
    fn into_freeze(self) -> anyhow::Result<Freeze> {
        Ok(Freeze {
            id: self.id,
            env: EnvName::parse(&self.env)?,
            starts_at: time(self.starts_at)?,
            ends_at: time(self.ends_at)?,
            reason: self.reason,
            by: self.by_user,
        })
    }
}

impl Store {
    /// Records `user`'s approve or deny of deploy `id` through `via`, with `text` as its event.
    /// Returns `false` (and records nothing) when the same user already did the same through
    /// the same way: a second ✅ from one person is not news.
    pub async fn add_approval(
        &self,
        id: DeployId,
        user: &str,
        verdict: Verdict,
        via: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM approvals WHERE deploy_id = ? AND user = ? AND verdict = ? AND via = ? \
             AND withdrawn_at IS NULL",
        )
        .bind(id)
        .bind(user)
        .bind(verdict.as_str())
        .bind(via)
        .fetch_optional(&mut *tx)
        .await
        .with_context(|| format!("cannot read the approvals of #{id}"))?;
        if exists.is_some() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO approvals (deploy_id, user, verdict, via, at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(user)
        .bind(verdict.as_str())
        .bind(via)
        .bind(millis(at))
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot record {user}'s {} of #{id}", verdict.as_str()))?;
        let event = NewEvent {
            actor: user,
            kind: verdict.as_str(),
            from: None,
            to: None,
            text,
        };
        insert_event(&mut tx, Some(id), &event, at).await?;
        tx.commit().await.context("cannot commit an approval")?;
        Ok(true)
    }

    /// Withdraws `user`'s approval of deploy `id` given through `via`; `false` if there was none.
    pub async fn withdraw_approval(
        &self,
        id: DeployId,
        user: &str,
        via: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let done = sqlx::query(
            "UPDATE approvals SET withdrawn_at = ? WHERE deploy_id = ? AND user = ? AND via = ? \
             AND verdict = 'approve' AND withdrawn_at IS NULL",
        )
        .bind(millis(at))
        .bind(id)
        .bind(user)
        .bind(via)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot withdraw {user}'s approval of #{id}"))?;
        let event = NewEvent {
            actor: user,
            kind: "withdraw",
            from: None,
            to: None,
            text,
        };
        log_if_changed(tx, done.rows_affected(), Some(id), &event, at).await
    }

    /// The approvals and denials of deploy `id` still in force, oldest first.
    pub async fn approvals(&self, id: DeployId) -> anyhow::Result<Vec<Approval>> {
        let rows: Vec<ApprovalRow> = sqlx::query_as(
            "SELECT user, verdict, via, at FROM approvals WHERE deploy_id = ? AND withdrawn_at IS NULL \
             ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("cannot read the approvals of #{id}"))?;
        rows.into_iter()
            .map(|r| {
                Ok(Approval {
                    user: r.user,
                    verdict: if r.verdict == "deny" {
                        Verdict::Deny
                    } else {
                        Verdict::Approve
                    },
                    via: r.via,
                    at: time(r.at)?,
                })
            })
            .collect()
    }

    /// Takes a lock, unless one is already held on exactly that target: then returns that one.
    pub async fn take_lock(
        &self,
        app: Option<&AppName>,
        env: &EnvName,
        owner: &str,
        reason: Option<&str>,
        text: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Result<Lock, Lock>> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let held: Option<LockRow> = sqlx::query_as(
            "SELECT id, app, env, owner, reason, at FROM locks WHERE released_at IS NULL AND env = ? \
             AND app IS ?",
        )
        .bind(env.as_str())
        .bind(app.map(|a| a.as_str()))
        .fetch_optional(&mut *tx)
        .await
        .context("cannot read the locks")?;
        if let Some(held) = held {
            return Ok(Err(held.into_lock()?));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO locks (app, env, owner, reason, at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(app.map(|a| a.as_str()))
        .bind(env.as_str())
        .bind(owner)
        .bind(reason)
        .bind(millis(at))
        .fetch_one(&mut *tx)
        .await
        .context("cannot record the lock")?;
        let event = NewEvent {
            actor: owner,
            kind: "lock",
            from: None,
            to: None,
            text,
        };
        insert_event(&mut tx, None, &event, at).await?;
        tx.commit().await.context("cannot commit a lock")?;
        Ok(Ok(Lock {
            id,
            app: app.cloned(),
            env: env.clone(),
            owner: owner.to_owned(),
            reason: reason.map(str::to_owned),
            at,
        }))
    }

    /// Releases lock `id` (held until now); `false` if it was already released.
    pub async fn release_lock(
        &self,
        id: i64,
        by: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let done = sqlx::query("UPDATE locks SET released_at = ?, released_by = ? WHERE id = ? AND released_at IS NULL")
            .bind(millis(at))
            .bind(by)
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("cannot release the lock")?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let event = NewEvent {
            actor: by,
            kind: "unlock",
            from: None,
            to: None,
            text,
        };
        insert_event(&mut tx, None, &event, at).await?;
        tx.commit().await.context("cannot commit an unlock")?;
        Ok(true)
    }

    /// Every lock held, oldest first.
    pub async fn locks(&self) -> anyhow::Result<Vec<Lock>> {
        let rows: Vec<LockRow> = sqlx::query_as(
            "SELECT id, app, env, owner, reason, at FROM locks WHERE released_at IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .context("cannot read the locks")?;
        rows.into_iter().map(LockRow::into_lock).collect()
    }

    /// Records a one-off freeze of `env` from `starts_at` to `ends_at`.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_freeze(
        &self,
        env: &EnvName,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        reason: Option<&str>,
        by: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Freeze> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO freezes (env, starts_at, ends_at, reason, by_user, at) VALUES (?, ?, ?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(env.as_str())
        .bind(millis(starts_at))
        .bind(millis(ends_at))
        .bind(reason)
        .bind(by)
        .bind(millis(at))
        .fetch_one(&mut *tx)
        .await
        .context("cannot record the freeze")?;
        let event = NewEvent {
            actor: by,
            kind: "freeze",
            from: None,
            to: None,
            text,
        };
        insert_event(&mut tx, None, &event, at).await?;
        tx.commit().await.context("cannot commit a freeze")?;
        Ok(Freeze {
            id,
            env: env.clone(),
            starts_at,
            ends_at,
            reason: reason.map(str::to_owned),
            by: by.to_owned(),
        })
    }

    /// Ends the one-off freezes of `env` that are not over at `at`; returns how many.
    pub async fn end_freezes(
        &self,
        env: &EnvName,
        by: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let done = sqlx::query(
            "UPDATE freezes SET ended_at = ?, ended_by = ? WHERE env = ? AND ended_at IS NULL AND ends_at > ?",
        )
        .bind(millis(at))
        .bind(by)
        .bind(env.as_str())
        .bind(millis(at))
        .execute(&mut *tx)
        .await
        .context("cannot end the freezes")?;
        if done.rows_affected() > 0 {
            let event = NewEvent {
                actor: by,
                kind: "unfreeze",
                from: None,
                to: None,
                text,
            };
            insert_event(&mut tx, None, &event, at).await?;
        }
        tx.commit().await.context("cannot commit an unfreeze")?;
        Ok(done.rows_affected())
    }

    /// One-off freezes not ended and not over at `now` (current or future), by start.
    pub async fn freezes(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<Freeze>> {
        let rows: Vec<FreezeRow> = sqlx::query_as(
            "SELECT id, env, starts_at, ends_at, reason, by_user FROM freezes \
             WHERE ended_at IS NULL AND ends_at > ? ORDER BY starts_at, id",
        )
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await
        .context("cannot read the freezes")?;
        rows.into_iter().map(FreezeRow::into_freeze).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeployKind, NewDeploy};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[tokio::test]
    async fn an_approval_counts_once_per_way_and_can_be_withdrawn() {
        let store = Store::open_in_memory().await.unwrap();
        let now = t("2026-11-23T10:00:00Z");
        let d = store
            .create_deploy(
                &NewDeploy {
                    app: AppName::parse("api").unwrap(),
                    env: EnvName::parse("prod").unwrap(),
                    git_ref: crate::core::names::GitRef::parse("v1").unwrap(),
                    version: "v1".into(),
                    host: None,
                    task: "deploy".into(),
                    kind: DeployKind::Deploy,
                    force: false,
                    emergency: None,
                    requested_by: "alice".into(),
                    channel: "c".into(),
                    state: crate::core::lifecycle::DeployState::AwaitingApproval,
                    reason: None,
                },
                now,
            )
            .await
            .unwrap();
        assert!(
            store
                .add_approval(d.id, "carol", Verdict::Approve, "✅", "carol approved", now)
                .await
                .unwrap()
        );
        assert!(
            !store
                .add_approval(d.id, "carol", Verdict::Approve, "✅", "again", now)
                .await
                .unwrap()
        );
        assert!(
            store
                .add_approval(d.id, "carol", Verdict::Approve, "👍", "carol approved", now)
                .await
                .unwrap()
        );
        assert_eq!(store.approvals(d.id).await.unwrap().len(), 2);
        assert!(
            store
                .withdraw_approval(d.id, "carol", "✅", "withdrawn", now)
                .await
                .unwrap()
        );
        assert!(
            !store
                .withdraw_approval(d.id, "carol", "✅", "withdrawn", now)
                .await
                .unwrap()
        );
        let left = store.approvals(d.id).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].via, "👍");
    }

    #[tokio::test]
    async fn a_lock_is_held_once_and_released_with_a_record() {
        let store = Store::open_in_memory().await.unwrap();
        let now = t("2026-11-23T10:00:00Z");
        let api = AppName::parse("api").unwrap();
        let prod = EnvName::parse("prod").unwrap();
        let lock = store
            .take_lock(Some(&api), &prod, "bob", Some("db"), "bob locked", now)
            .await
            .unwrap()
            .unwrap();
        let held = store
            .take_lock(Some(&api), &prod, "carol", None, "x", now)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(held.owner, "bob");
        // A whole-env lock is another target.
        assert!(
            store
                .take_lock(None, &prod, "carol", None, "carol locked prod", now)
                .await
                .unwrap()
                .is_ok()
        );
        assert_eq!(store.locks().await.unwrap().len(), 2);
        assert!(
            store
                .release_lock(lock.id, "bob", "bob unlocked", now)
                .await
                .unwrap()
        );
        assert!(
            !store
                .release_lock(lock.id, "bob", "again", now)
                .await
                .unwrap()
        );
        assert_eq!(store.locks().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn freezes_end_by_time_or_by_hand() {
        let store = Store::open_in_memory().await.unwrap();
        let prod = EnvName::parse("prod").unwrap();
        let now = t("2026-11-23T10:00:00Z");
        store
            .add_freeze(
                &prod,
                now,
                t("2026-11-23T12:00:00Z"),
                Some("launch"),
                "carol",
                "f",
                now,
            )
            .await
            .unwrap();
        assert_eq!(store.freezes(now).await.unwrap().len(), 1);
        assert!(
            store
                .freezes(t("2026-11-23T12:00:00Z"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .end_freezes(&prod, "dave", "unfrozen", now)
                .await
                .unwrap(),
            1
        );
        assert!(store.freezes(now).await.unwrap().is_empty());
    }
}
