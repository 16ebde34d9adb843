//! The values the store hands out and takes in. Names are the validated newtypes of
//! `core::names`, states the `DeployState` of `core::lifecycle`; times are UTC.

use crate::core::command::DeployId;
use crate::core::lifecycle::DeployState;
use crate::core::names::{AppName, EnvName, GitRef, HostName};
use chrono::{DateTime, Utc};

/// A deploy request as the engine files it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeploy {
    pub app: AppName,
    pub env: EnvName,
    pub git_ref: GitRef,
    pub version: String,
    /// Limit to one host or host group (`deploy api to prod/api-1`).
    pub host: Option<HostName>,
    /// The recipe task, `deploy` unless `deploy:<task>`.
    pub task: String,
    pub kind: DeployKind,
    /// `deploy!`: the CI-status gate was skipped.
    pub force: bool,
    /// `--emergency "<reason>"`.
    pub emergency: Option<String>,
    pub requested_by: String,
    pub channel: String,
    /// The first state: `awaiting_approval`, `approved` or `blocked`.
    pub state: DeployState,
    /// Why it is in that state (the policy that blocked it, say).
    pub reason: Option<String>,
}

/// A rollback is a deploy of an older version; it is kept apart only so the log can say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeployKind {
    Deploy,
    Rollback,
}

impl DeployKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployKind::Deploy => "deploy",
            DeployKind::Rollback => "rollback",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "deploy" => Some(DeployKind::Deploy),
            "rollback" => Some(DeployKind::Rollback),
            _ => None,
        }
    }
}

/// One deploy as it stands in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    pub id: DeployId,
    pub app: AppName,
    pub env: EnvName,
    pub git_ref: GitRef,
    pub version: String,
    pub commit_sha: Option<String>,
    pub host: Option<HostName>,
    pub task: String,
    pub kind: DeployKind,
    pub force: bool,
    pub emergency: Option<String>,
    pub requested_by: String,
    pub channel: String,
    /// Chat id of the progress message deckhand edits.
    pub status_msg: Option<String>,
    pub state: DeployState,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A transition (`from_state`/`to_state` set) or a note (both `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub from_state: Option<DeployState>,
    pub to_state: Option<DeployState>,
    pub text: String,
}

/// One step of a task on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: i64,
    pub host: String,
    pub task: String,
    pub idx: u32,
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub exit_code: Option<i32>,
    /// `running` until [`crate::store::Store::finish_step`] says otherwise.
    pub outcome: String,
}

/// One line a step printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub deploy_id: DeployId,
    pub host: String,
    pub stream: Stream,
    pub at: DateTime<Utc>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of the log that matched a search, with the deploy it belongs to (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub deploy_id: Option<DeployId>,
    pub app: Option<String>,
    pub env: Option<String>,
    pub version: Option<String>,
    /// The deploy's current state (not its state when the line was written).
    pub state: Option<DeployState>,
    pub requested_by: Option<String>,
    /// When the line was written.
    pub at: DateTime<Utc>,
    /// `output` (command output) or `event` (a transition or note).
    pub kind: String,
    pub host: Option<String>,
    pub text: String,
}

/// Why [`crate::store::Store::transition`] refused.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error("there is no deploy #{0}")]
    NotFound(DeployId),
    #[error("deploy #{id} is {from}; it cannot become {to}")]
    NotAllowed {
        id: DeployId,
        from: DeployState,
        to: DeployState,
    },
    #[error(transparent)]
    Db(#[from] anyhow::Error),
}
