//! What is live, what ran before, and what a rollback goes back to (docs/lifecycle.md).
//!
//! "Live" for an app and env is its newest succeeded deploy, newest by finish time (then id).
//! Only the `deploy` task counts: `deploy:migrate api@v3` runs a task at v3 without putting v3
//! live.
//! A rollback is a deploy like any other, so a rollback that succeeded later wins; a deploy
//! that failed or was rolled back never succeeded, so it is never live.

use super::Store;
use super::rows::{self, DeployRow, deploy_columns, millis};
use super::types::Deploy;
use crate::core::names::{AppName, EnvName, GitRef};
use anyhow::Context;

/// Newest succeeded deploy of one target: one seek in `deploys_live`.
const LIVE_ONE: &str = concat!(
    "SELECT ",
    deploy_columns!(),
    " FROM deploys WHERE app = ?1 AND env = ?2 AND state = 'succeeded' AND task = 'deploy' \
     ORDER BY finished_at DESC, id DESC LIMIT 1"
);

/// Newest succeeded deploy of every target (of one app, or in one env). `apps` and `targets`
/// walk the distinct apps, then each app's distinct envs, with a loose index scan (one seek per
/// value) instead of reading every deploy ever made; then each target costs one more seek.
const LIVE_MANY: &str = concat!(
    "WITH RECURSIVE \
     apps (app) AS ( \
         SELECT (SELECT app FROM deploys WHERE app >= coalesce(?1, '') ORDER BY app LIMIT 1) \
         UNION ALL \
         SELECT (SELECT d.app FROM deploys d WHERE d.app > a.app ORDER BY d.app LIMIT 1) \
         FROM apps a WHERE a.app IS NOT NULL AND ?1 IS NULL \
     ), \
     targets (app, env) AS ( \
         SELECT a.app, (SELECT d.env FROM deploys d WHERE d.app = a.app ORDER BY d.env LIMIT 1) \
         FROM apps a WHERE a.app IS NOT NULL AND (?1 IS NULL OR a.app = ?1) \
         UNION ALL \
         SELECT t.app, (SELECT d.env FROM deploys d WHERE d.app = t.app AND d.env > t.env \
                        ORDER BY d.env LIMIT 1) \
         FROM targets t WHERE t.env IS NOT NULL \
     ) \
     SELECT ",
    deploy_columns!(),
    " FROM deploys WHERE id IN ( \
         SELECT (SELECT d.id FROM deploys d \
                 WHERE d.app = t.app AND d.env = t.env AND d.state = 'succeeded' \
                   AND d.task = 'deploy' \
                 ORDER BY d.finished_at DESC, d.id DESC LIMIT 1) \
         FROM targets t WHERE t.env IS NOT NULL AND (?2 IS NULL OR t.env = ?2) \
     ) ORDER BY app, env"
);

/// One target's history: walks `deploys_history` newest first.
const HISTORY_TARGET: &str = concat!(
    "SELECT ",
    deploy_columns!(),
    " FROM deploys WHERE app = ?1 AND env = ?2 AND (?3 IS NULL OR git_ref = ?3) \
     ORDER BY id DESC LIMIT ?4"
);

/// Wider history: walks all deploys newest first and stops at the limit.
const HISTORY_ANY: &str = concat!(
    "SELECT ",
    deploy_columns!(),
    " FROM deploys WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR env = ?2) \
     AND (?3 IS NULL OR git_ref = ?3) ORDER BY id DESC LIMIT ?4"
);

/// Newest succeeded deploy finished before the live one (?3, ?4), of another version than the
/// live one (?5), and not marked bad.
const LAST_GOOD: &str = concat!(
    "SELECT ",
    deploy_columns!(),
    " FROM deploys WHERE app = ?1 AND env = ?2 AND state = 'succeeded' AND task = 'deploy' \
     AND (finished_at, id) < (?3, ?4) AND version <> ?5 \
     AND NOT EXISTS (SELECT 1 FROM bad_versions b \
                     WHERE b.app = ?1 AND b.env = ?2 AND b.version = deploys.version) \
     ORDER BY finished_at DESC, id DESC LIMIT 1"
);

impl Store {
    /// What is live: per (app, env), the newest succeeded deploy, sorted by app then env.
    pub async fn live(
        &self,
        app: Option<&AppName>,
        env: Option<&EnvName>,
    ) -> anyhow::Result<Vec<Deploy>> {
        let (app, env) = (app.map(AppName::as_str), env.map(EnvName::as_str));
        let query = match (app, env) {
            (Some(_), Some(_)) => LIVE_ONE,
            _ => LIVE_MANY,
        };
        let rows: Vec<DeployRow> = sqlx::query_as(query)
            .bind(app)
            .bind(env)
            .fetch_all(&self.pool)
            .await
            .context("cannot read what is live")?;
        rows::deploys(rows)
    }

    /// Recent deploys, newest first, at most `limit`.
    pub async fn history(
        &self,
        app: Option<&AppName>,
        env: Option<&EnvName>,
        git_ref: Option<&GitRef>,
        limit: u32,
    ) -> anyhow::Result<Vec<Deploy>> {
        let (app, env) = (app.map(AppName::as_str), env.map(EnvName::as_str));
        let query = match (app, env) {
            (Some(_), Some(_)) => HISTORY_TARGET,
            _ => HISTORY_ANY,
        };
        let rows: Vec<DeployRow> = sqlx::query_as(query)
            .bind(app)
            .bind(env)
            .bind(git_ref.map(GitRef::as_str))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .context("cannot read the deploy history")?;
        rows::deploys(rows)
    }

    /// What `rollback <app> <env>` goes back to: the newest succeeded deploy older than the
    /// live one, of a different version, not marked bad. `None` when nothing is live.
    pub async fn last_good(&self, app: &AppName, env: &EnvName) -> anyhow::Result<Option<Deploy>> {
        let Some(live) = self.live(Some(app), Some(env)).await?.into_iter().next() else {
            return Ok(None);
        };
        let finished = live.finished_at.map(millis).unwrap_or(i64::MAX);
        let row: Option<DeployRow> = sqlx::query_as(LAST_GOOD)
            .bind(app.as_str())
            .bind(env.as_str())
            .bind(finished)
            .bind(live.id)
            .bind(live.version.as_str())
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("cannot find the last good version of {app} in {env}"))?;
        row.map(DeployRow::into_deploy).transpose()
    }
}

#[cfg(test)]
pub(crate) const PLANNED: [(&str, &str); 4] = [
    ("live one", LIVE_ONE),
    ("live many", LIVE_MANY),
    ("history target", HISTORY_TARGET),
    ("last good", LAST_GOOD),
];
