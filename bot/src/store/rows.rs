//! Rows as SQLite returns them, and their checked conversion into the public types. A row that
//! does not convert (a name that no longer parses, an unknown state) is an error naming the row,
//! never a panic: the log may have been written by another version or edited by hand.

use super::types::{Deploy, DeployKind, Event, SearchHit, Step};
use crate::core::lifecycle::DeployState;
use crate::core::names::{AppName, EnvName, GitRef, HostName};
use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};

/// The column list every deploy query selects, in [`DeployRow`] order.
macro_rules! deploy_columns {
    () => {
        "id, app, env, git_ref, version, commit_sha, host, task, kind, force, emergency_reason, \
         requested_by, channel, status_msg, state, reason, created_at, started_at, finished_at"
    };
}
pub(crate) use deploy_columns;

/// Times are stored as unix milliseconds.
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64) -> anyhow::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| anyhow!("time {ms} ms is out of range"))
}

fn opt_time(ms: Option<i64>) -> anyhow::Result<Option<DateTime<Utc>>> {
    ms.map(time).transpose()
}

pub(crate) fn state(s: &str) -> anyhow::Result<DeployState> {
    s.parse::<DeployState>().map_err(anyhow::Error::from)
}

fn opt_state(s: Option<&str>) -> anyhow::Result<Option<DeployState>> {
    s.map(state).transpose()
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeployRow {
    id: i64,
    app: String,
    env: String,
    git_ref: String,
    version: String,
    commit_sha: Option<String>,
    host: Option<String>,
    task: String,
    kind: String,
    force: bool,
    emergency_reason: Option<String>,
    requested_by: String,
    channel: String,
    status_msg: Option<String>,
    state: String,
    reason: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl DeployRow {
    pub(crate) fn into_deploy(self) -> anyhow::Result<Deploy> {
        let id = self.id;
        self.convert()
            .with_context(|| format!("deploy #{id} in the log is unreadable"))
    }

    fn convert(self) -> anyhow::Result<Deploy> {
        Ok(Deploy {
            id: self.id,
            app: AppName::parse(&self.app)?,
            env: EnvName::parse(&self.env)?,
            git_ref: GitRef::parse(&self.git_ref)?,
            version: self.version,
            commit_sha: self.commit_sha,
            host: self.host.as_deref().map(HostName::parse).transpose()?,
            task: self.task,
            kind: DeployKind::parse(&self.kind)
                .ok_or_else(|| anyhow!("`{}` is not a deploy kind", self.kind))?,
            force: self.force,
            emergency: self.emergency_reason,
            requested_by: self.requested_by,
            channel: self.channel,
            status_msg: self.status_msg,
            state: state(&self.state)?,
            reason: self.reason,
            created_at: time(self.created_at)?,
            started_at: opt_time(self.started_at)?,
            finished_at: opt_time(self.finished_at)?,
        })
    }
}

pub(crate) fn deploys(rows: Vec<DeployRow>) -> anyhow::Result<Vec<Deploy>> {
    rows.into_iter().map(DeployRow::into_deploy).collect()
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    at: i64,
    actor: String,
    kind: String,
    from_state: Option<String>,
    to_state: Option<String>,
    text: String,
}

impl EventRow {
    pub(crate) fn into_event(self) -> anyhow::Result<Event> {
        let id = self.id;
        let convert = || -> anyhow::Result<Event> {
            Ok(Event {
                at: time(self.at)?,
                actor: self.actor,
                kind: self.kind,
                from_state: opt_state(self.from_state.as_deref())?,
                to_state: opt_state(self.to_state.as_deref())?,
                text: self.text,
            })
        };
        convert().with_context(|| format!("event row {id} in the log is unreadable"))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StepRow {
    id: i64,
    host: String,
    task: String,
    idx: i64,
    name: String,
    started_at: i64,
    finished_at: Option<i64>,
    exit_code: Option<i64>,
    outcome: String,
}

impl StepRow {
    pub(crate) fn into_step(self) -> anyhow::Result<Step> {
        let id = self.id;
        let convert = || -> anyhow::Result<Step> {
            Ok(Step {
                id: self.id,
                host: self.host,
                task: self.task,
                idx: u32::try_from(self.idx)?,
                name: self.name,
                started_at: time(self.started_at)?,
                finished_at: opt_time(self.finished_at)?,
                exit_code: self.exit_code.map(i32::try_from).transpose()?,
                outcome: self.outcome,
            })
        };
        convert().with_context(|| format!("step row {id} in the log is unreadable"))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HitRow {
    id: i64,
    deploy_id: Option<i64>,
    app: Option<String>,
    env: Option<String>,
    version: Option<String>,
    state: Option<String>,
    requested_by: Option<String>,
    at: i64,
    kind: String,
    host: Option<String>,
    text: String,
}

impl HitRow {
    pub(crate) fn into_hit(self) -> anyhow::Result<SearchHit> {
        let id = self.id;
        let convert = || -> anyhow::Result<SearchHit> {
            Ok(SearchHit {
                deploy_id: self.deploy_id,
                app: self.app,
                env: self.env,
                version: self.version,
                state: opt_state(self.state.as_deref())?,
                requested_by: self.requested_by,
                at: time(self.at)?,
                kind: self.kind,
                host: self.host,
                text: self.text,
            })
        };
        convert().with_context(|| format!("log line {id} is unreadable"))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[tokio::test]
    async fn a_corrupt_row_is_an_error_that_names_it() {
        let store = Store::open_in_memory().await.unwrap();
        sqlx::query(
            "INSERT INTO deploys (id, app, env, git_ref, version, kind, requested_by, channel, \
             state, created_at) VALUES (7, 'api', 'prod', 'main', 'v1', 'deploy', 'alice', \
             'console', 'exploded', 0)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let err = store.deploy(7).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("deploy #7 in the log is unreadable"),
            "{text}"
        );
        assert!(text.contains("`exploded` is not a deploy state"), "{text}");
        assert!(store.active().await.is_ok_and(|a| a.is_empty()));
        assert!(store.history(None, None, None, 10).await.is_err());
    }
}
