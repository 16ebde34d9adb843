//! Deploy requests, their transitions and notes, their steps, and bad versions.

use super::Store;
use super::output::index_lines;
use super::rows::{self, DeployRow, EventRow, StepRow, deploy_columns, millis};
use super::types::{Deploy, Event, NewDeploy, Step, TransitionError};
use crate::core::command::DeployId;
use crate::core::lifecycle::DeployState;
use crate::core::names::{AppName, EnvName};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

/// The actor of what deckhand decides by itself.
const DECKHAND: &str = "deckhand";

/// `BEGIN IMMEDIATE` takes the write lock up front, so a read-then-write transaction never
/// fails half-way with SQLITE_BUSY when another writer got in between (the busy timeout only
/// covers waiting for the lock, not upgrading a read to a write under WAL).
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

impl Store {
    /// Files a request and logs it as a `requested` event, e.g.
    /// "alice requested deploy api@v1.2.0 to staging".
    pub async fn create_deploy(&self, d: &NewDeploy, at: DateTime<Utc>) -> anyhow::Result<Deploy> {
        use DeployState::*;
        if !matches!(d.state, AwaitingApproval | Approved | Blocked) {
            bail!("a deploy cannot start out {}", d.state);
        }
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let finished_at = d.state.is_final().then_some(millis(at));
        let id: DeployId = sqlx::query_scalar(
            "INSERT INTO deploys (app, env, git_ref, version, host, task, kind, force, \
             emergency_reason, requested_by, channel, state, reason, created_at, finished_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(d.app.as_str())
        .bind(d.env.as_str())
        .bind(d.git_ref.as_str())
        .bind(d.version.as_str())
        .bind(d.host.as_ref().map(|h| h.as_str()))
        .bind(d.task.as_str())
        .bind(d.kind.as_str())
        .bind(d.force)
        .bind(d.emergency.as_deref())
        .bind(d.requested_by.as_str())
        .bind(d.channel.as_str())
        .bind(d.state.as_str())
        .bind(d.reason.as_deref())
        .bind(millis(at))
        .bind(finished_at)
        .fetch_one(&mut *tx)
        .await
        .context("cannot file the deploy request")?;
        let text = requested_text(d);
        let event = NewEvent {
            actor: &d.requested_by,
            kind: "requested",
            from: None,
            to: Some(d.state),
            text: &text,
        };
        insert_event(&mut tx, Some(id), &event, at).await?;
        let deploy = fetch_deploy(&mut tx, id)
            .await?
            .context("the new deploy vanished")?;
        tx.commit()
            .await
            .context("cannot commit the deploy request")?;
        Ok(deploy)
    }

    /// Moves deploy `id` to `to`, if its current state allows it, and logs the transition as an
    /// event and a searchable line ("#12 running → succeeded (carol): reason"). Check and write
    /// happen in one transaction, so two racing transitions cannot both succeed.
    pub async fn transition(
        &self,
        id: DeployId,
        to: DeployState,
        actor: &str,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Deploy, TransitionError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let from: Option<String> = sqlx::query_scalar("SELECT state FROM deploys WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .with_context(|| format!("cannot read deploy #{id}"))?;
        let from = match from {
            None => return Err(TransitionError::NotFound(id)),
            Some(s) => rows::state(&s).with_context(|| format!("deploy #{id} is unreadable"))?,
        };
        if !from.can_become(to) {
            // Dropping `tx` rolls back: nothing was written.
            return Err(TransitionError::NotAllowed { id, from, to });
        }
        sqlx::query(
            "UPDATE deploys SET state = ?1, reason = ?2, \
             started_at = CASE WHEN ?1 = 'running' THEN coalesce(started_at, ?3) ELSE started_at END, \
             finished_at = CASE WHEN ?4 THEN ?3 ELSE finished_at END \
             WHERE id = ?5",
        )
        .bind(to.as_str())
        .bind(reason)
        .bind(millis(at))
        .bind(to.is_final())
        .bind(id)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot move deploy #{id} to {to}"))?;
        let mut text = format!("#{id} {from} → {to} ({actor})");
        if let Some(reason) = reason {
            text.push_str(": ");
            text.push_str(reason);
        }
        let event = NewEvent {
            actor,
            kind: "transition",
            from: Some(from),
            to: Some(to),
            text: &text,
        };
        insert_event(&mut tx, Some(id), &event, at).await?;
        let deploy = fetch_deploy(&mut tx, id)
            .await?
            .with_context(|| format!("deploy #{id} vanished"))?;
        tx.commit()
            .await
            .with_context(|| format!("cannot commit deploy #{id} → {to}"))?;
        Ok(deploy)
    }

    /// Logs an event that is not a transition (a policy decision, an approval, information),
    /// for deploy `id` or, with `None`, for no deploy (a lock, a freeze). Also searchable.
    pub async fn note(
        &self,
        id: Option<DeployId>,
        actor: &str,
        kind: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let event = NewEvent {
            actor,
            kind,
            from: None,
            to: None,
            text,
        };
        insert_event(&mut tx, id, &event, at).await?;
        tx.commit().await.context("cannot commit a note")
    }

    /// Remembers the chat id of the progress message deckhand edits for deploy `id`.
    pub async fn set_status_message(&self, id: DeployId, msg: &str) -> anyhow::Result<()> {
        let done = sqlx::query("UPDATE deploys SET status_msg = ? WHERE id = ?")
            .bind(msg)
            .bind(id)
            .execute(&self.pool)
            .await
            .with_context(|| format!("cannot record the status message of #{id}"))?;
        ensure_one(done.rows_affected(), id)
    }

    /// Remembers the chat id of the approval request of deploy `id`, where reactions land.
    pub async fn set_approval_message(&self, id: DeployId, msg: &str) -> anyhow::Result<()> {
        let done = sqlx::query("UPDATE deploys SET approval_msg = ? WHERE id = ?")
            .bind(msg)
            .bind(id)
            .execute(&self.pool)
            .await
            .with_context(|| format!("cannot record the approval message of #{id}"))?;
        ensure_one(done.rows_affected(), id)
    }

    /// The deploy whose approval request is chat message `msg` (a reaction arrived on it).
    pub async fn deploy_by_approval_message(&self, msg: &str) -> anyhow::Result<Option<Deploy>> {
        let row: Option<DeployRow> = sqlx::query_as(concat!(
            "SELECT ",
            deploy_columns!(),
            " FROM deploys WHERE approval_msg = ? ORDER BY id DESC LIMIT 1"
        ))
        .bind(msg)
        .fetch_optional(&self.pool)
        .await
        .context("cannot look up a deploy by its approval message")?;
        row.map(DeployRow::into_deploy).transpose()
    }

    /// Records the commit a deploy's ref resolved to, once it is known.
    pub async fn set_commit_sha(&self, id: DeployId, sha: &str) -> anyhow::Result<()> {
        let done = sqlx::query("UPDATE deploys SET commit_sha = ? WHERE id = ?")
            .bind(sha)
            .bind(id)
            .execute(&self.pool)
            .await
            .with_context(|| format!("cannot record the commit of #{id}"))?;
        ensure_one(done.rows_affected(), id)
    }

    pub async fn deploy(&self, id: DeployId) -> anyhow::Result<Option<Deploy>> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("cannot reach the deploy log")?;
        fetch_deploy(&mut conn, id).await
    }

    /// Everything that happened to deploy `id`, oldest first.
    pub async fn events(&self, id: DeployId) -> anyhow::Result<Vec<Event>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, at, actor, kind, from_state, to_state, text FROM events \
             WHERE deploy_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("cannot read the events of #{id}"))?;
        rows.into_iter().map(EventRow::into_event).collect()
    }

    /// Deploys waiting (for approval or their turn) or in flight, oldest first.
    pub async fn active(&self) -> anyhow::Result<Vec<Deploy>> {
        // The WHERE clause is the partial index `deploys_active`'s, word for word.
        let rows: Vec<DeployRow> = sqlx::query_as(concat!(
            "SELECT ",
            deploy_columns!(),
            " FROM deploys \
             WHERE state IN ('awaiting_approval', 'approved', 'queued', 'running', 'verifying') \
             ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .context("cannot read the active deploys")?;
        rows::deploys(rows)
    }

    /// Starts step `idx` (`name`) of `task` on `host`; returns the step's id for
    /// [`Store::finish_step`].
    pub async fn start_step(
        &self,
        id: DeployId,
        host: &str,
        task: &str,
        idx: u32,
        name: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO steps (deploy_id, host, task, idx, name, started_at, outcome) \
             VALUES (?, ?, ?, ?, ?, ?, 'running') RETURNING id",
        )
        .bind(id)
        .bind(host)
        .bind(task)
        .bind(idx)
        .bind(name)
        .bind(millis(at))
        .fetch_one(&self.pool)
        .await
        .with_context(|| format!("cannot record step {idx} ({name}) of #{id} on {host}"))
    }

    pub async fn finish_step(
        &self,
        step_id: i64,
        exit_code: Option<i32>,
        outcome: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let done = sqlx::query(
            "UPDATE steps SET finished_at = ?, exit_code = ?, outcome = ? WHERE id = ?",
        )
        .bind(millis(at))
        .bind(exit_code)
        .bind(outcome)
        .bind(step_id)
        .execute(&self.pool)
        .await
        .with_context(|| format!("cannot record the end of step {step_id}"))?;
        if done.rows_affected() != 1 {
            bail!("there is no step {step_id}");
        }
        Ok(())
    }

    /// The steps of deploy `id` in the order they started.
    pub async fn steps(&self, id: DeployId) -> anyhow::Result<Vec<Step>> {
        let rows: Vec<StepRow> = sqlx::query_as(
            "SELECT id, host, task, idx, name, started_at, finished_at, exit_code, outcome \
             FROM steps WHERE deploy_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("cannot read the steps of #{id}"))?;
        rows.into_iter().map(StepRow::into_step).collect()
    }

    /// Marks `version` of `app` bad in `env` (its health check failed in deploy `deploy_id`),
    /// so `last_good` and rollbacks skip it. Also logged as a `bad_version` event.
    pub async fn mark_bad(
        &self,
        app: &AppName,
        env: &EnvName,
        version: &str,
        deploy_id: DeployId,
        reason: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        sqlx::query(
            "INSERT INTO bad_versions (app, env, version, deploy_id, at, reason) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(app.as_str())
        .bind(env.as_str())
        .bind(version)
        .bind(deploy_id)
        .bind(millis(at))
        .bind(reason)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot mark {app}@{version} bad in {env}"))?;
        let text = format!("{app}@{version} marked bad in {env}: {reason}");
        let event = NewEvent {
            actor: DECKHAND,
            kind: "bad_version",
            from: None,
            to: None,
            text: &text,
        };
        insert_event(&mut tx, Some(deploy_id), &event, at).await?;
        tx.commit().await.context("cannot commit a bad version")
    }

    pub async fn is_bad(
        &self,
        app: &AppName,
        env: &EnvName,
        version: &str,
    ) -> anyhow::Result<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM bad_versions WHERE app = ? AND env = ? AND version = ?)",
        )
        .bind(app.as_str())
        .bind(env.as_str())
        .bind(version)
        .fetch_one(&self.pool)
        .await
        .with_context(|| format!("cannot check whether {app}@{version} is bad in {env}"))
    }

    /// Marks every deploy still `running` or `verifying` as `interrupted` (with `why`), and
    /// each of its steps still `running` too; returns the deploys so marked. At start, these are
    /// the deploys of a bot that died; at a forced stop, the bot's own. Their hold on their
    /// target is not released: see [`Store::unreleased`].
    pub async fn interrupt_running(
        &self,
        why: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Deploy>> {
        // The first IN repeats `deploys_active`'s condition so that index serves this query.
        let ids: Vec<DeployId> = sqlx::query_scalar(
            "SELECT id FROM deploys \
             WHERE state IN ('awaiting_approval', 'approved', 'queued', 'running', 'verifying') \
             AND state IN ('running', 'verifying') ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .context("cannot look for interrupted deploys")?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self
                .transition(id, DeployState::Interrupted, DECKHAND, Some(why), at)
                .await
            {
                Ok(d) => out.push(d),
                // Another deckhand on the same log got there first: nothing left to do.
                Err(TransitionError::NotAllowed { .. } | TransitionError::NotFound(_)) => {}
                Err(TransitionError::Db(e)) => return Err(e),
            }
        }
        self.end_steps_of_interrupted(at).await?;
        Ok(out)
    }

    /// Every step still `running` of an interrupted deploy ends `interrupted`: nobody will
    /// report its end any more.
    async fn end_steps_of_interrupted(&self, at: DateTime<Utc>) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "UPDATE steps SET outcome = 'interrupted', finished_at = ? \
             WHERE outcome = 'running' AND deploy_id IN \
             (SELECT id FROM deploys WHERE state = 'interrupted' AND released_at IS NULL)",
        )
        .bind(millis(at))
        .execute(&self.pool)
        .await
        .context("cannot end the steps of interrupted deploys")?;
        Ok(done.rows_affected())
    }

    /// Interrupted deploys whose hold on their target is not released yet, oldest first.
    pub async fn unreleased(&self) -> anyhow::Result<Vec<Deploy>> {
        let rows: Vec<DeployRow> = sqlx::query_as(concat!(
            "SELECT ",
            deploy_columns!(),
            " FROM deploys WHERE state = 'interrupted' AND released_at IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .context("cannot read the interrupted deploys")?;
        rows::deploys(rows)
    }

    /// Releases interrupted deploy `id`'s hold on its target, logging `text` as a `released`
    /// event. False when it was released already.
    pub async fn release(
        &self,
        id: DeployId,
        text: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        let done = sqlx::query(
            "UPDATE deploys SET released_at = ? \
             WHERE id = ? AND state = 'interrupted' AND released_at IS NULL",
        )
        .bind(millis(at))
        .bind(id)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot release #{id}"))?;
        let event = NewEvent {
            actor: DECKHAND,
            kind: "released",
            from: None,
            to: None,
            text,
        };
        log_if_changed(tx, done.rows_affected(), Some(id), &event, at).await
    }

    /// This deploy log's own random mark (see `exec::step_tag`).
    pub async fn log_tag(&self) -> anyhow::Result<String> {
        sqlx::query_scalar("SELECT tag FROM log_identity WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .context("cannot read the deploy log's identity")
    }
}

/// An event about to be written.
pub(crate) struct NewEvent<'a> {
    pub actor: &'a str,
    pub kind: &'a str,
    pub from: Option<DeployState>,
    pub to: Option<DeployState>,
    pub text: &'a str,
}

/// Ends a transaction that changed `changed` rows on a condition: when none changed, nothing
/// happened (rolled back, `false`); otherwise `event` is logged and all committed (`true`).
pub(crate) async fn log_if_changed(
    mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
    changed: u64,
    id: Option<DeployId>,
    event: &NewEvent<'_>,
    at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    if changed == 0 {
        return Ok(false);
    }
    insert_event(&mut tx, id, event, at).await?;
    tx.commit()
        .await
        .with_context(|| format!("cannot commit: {}", event.text))?;
    Ok(true)
}

/// Writes an event row and the same text as a searchable log line.
pub(crate) async fn insert_event(
    conn: &mut SqliteConnection,
    id: Option<DeployId>,
    e: &NewEvent<'_>,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    let what = || match id {
        Some(id) => format!("cannot log `{}` for #{id}", e.kind),
        None => format!("cannot log `{}`", e.kind),
    };
    sqlx::query(
        "INSERT INTO events (deploy_id, at, actor, kind, from_state, to_state, text) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(millis(at))
    .bind(e.actor)
    .bind(e.kind)
    .bind(e.from.map(DeployState::as_str))
    .bind(e.to.map(DeployState::as_str))
    .bind(e.text)
    .execute(&mut *conn)
    .await
    .with_context(what)?;
    let line: i64 = sqlx::query_scalar(
        "INSERT INTO log_lines (deploy_id, at, kind, text) VALUES (?, ?, 'event', ?) \
         RETURNING id",
    )
    .bind(id)
    .bind(millis(at))
    .bind(e.text)
    .fetch_one(&mut *conn)
    .await
    .with_context(what)?;
    index_lines(conn, line).await.with_context(what)
}

pub(crate) async fn fetch_deploy(
    conn: &mut SqliteConnection,
    id: DeployId,
) -> anyhow::Result<Option<Deploy>> {
    let row: Option<DeployRow> = sqlx::query_as(concat!(
        "SELECT ",
        deploy_columns!(),
        " FROM deploys WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .with_context(|| format!("cannot read deploy #{id}"))?;
    row.map(DeployRow::into_deploy).transpose()
}

fn ensure_one(rows_affected: u64, id: DeployId) -> anyhow::Result<()> {
    if rows_affected != 1 {
        bail!("there is no deploy #{id}");
    }
    Ok(())
}

/// "alice requested deploy api@v1.2.0 to staging", with task, host, ref, force, emergency and
/// a block or its reason when there are any.
fn requested_text(d: &NewDeploy) -> String {
    let mut s = format!("{} requested {}", d.requested_by, d.kind.as_str());
    if d.task != "deploy" {
        s.push(':');
        s.push_str(&d.task);
    }
    s.push_str(&format!(" {}@{} to {}", d.app, d.version, d.env));
    if let Some(host) = &d.host {
        s.push_str(&format!("/{host}"));
    }
    if d.git_ref.as_str() != d.version {
        s.push_str(&format!(" (ref {})", d.git_ref));
    }
    if d.force {
        s.push_str(" (CI check skipped)");
    }
    if let Some(why) = &d.emergency {
        s.push_str(&format!(" — emergency: {why}"));
    }
    if d.state == DeployState::Blocked {
        s.push_str(" — blocked");
    }
    if let Some(reason) = &d.reason {
        s.push_str(&format!(": {reason}"));
    }
    s
}
