//! What a chat message asks for, as a closed set of values (docs/commands.md). The types live
//! here; the parser that produces them is `core::parse`, the text form that renders them back
//! is `Command`'s `Display`. No I/O, no configuration: any valid name is accepted here, and the
//! bot checks names against the configuration later.

use crate::core::names::{AppName, EnvName, GitRef, HostName};
use std::time::Duration;

/// A deploy request id, shown as `#N`.
pub type DeployId = i64;

/// One understood command. Fields the message did not give are `None`: defaults (the app's
/// default ref, `bot.default_env`) are applied by the bot, not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Deploy(DeployArgs),
    Rollback {
        app: AppName,
        env: EnvName,
        version: Option<GitRef>,
    },
    Cancel {
        id: DeployId,
    },
    Approve {
        id: DeployId,
    },
    Deny {
        id: DeployId,
        reason: Option<String>,
    },
    Status {
        id: Option<DeployId>,
    },
    Live {
        app: Option<AppName>,
        env: Option<EnvName>,
        /// `--check`: also ask the hosts and report drift.
        check: bool,
    },
    History {
        app: Option<AppName>,
        env: Option<EnvName>,
        git_ref: Option<GitRef>,
        limit: Option<u32>,
    },
    Search(SearchArgs),
    Lock {
        target: LockTarget,
        reason: Option<String>,
    },
    Unlock {
        target: LockTarget,
    },
    Locks,
    Freeze {
        env: EnvName,
        span: Option<FreezeSpan>,
        reason: Option<String>,
    },
    Unfreeze {
        env: EnvName,
    },
    Windows {
        env: Option<EnvName>,
    },
    Wcid {
        app: Option<AppName>,
    },
    Help {
        topic: Option<String>,
    },
}

/// `deploy[!][:task] <app>[/<ref>|@<ref>] [to|in|on <env>[/<host>]] [--dry-run|noop] [--emergency "<reason>"]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployArgs {
    pub app: AppName,
    pub git_ref: Option<GitRef>,
    pub env: Option<EnvName>,
    pub host: Option<HostName>,
    /// `:task`: a recipe task other than `deploy`. Validated like a name.
    pub task: Option<String>,
    /// `deploy!`: skip the CI-status gate only.
    pub force: bool,
    pub dry_run: bool,
    pub emergency: Option<String>,
}

/// `lock <app> [in <env>]` or `lock <env>`. With one word the parser cannot know (it reads no
/// configuration) whether it names an app or an env, so that case is kept as `One`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockTarget {
    One(String),
    AppEnv { app: AppName, env: EnvName },
}

/// How long a one-off freeze lasts: `for 2h` or `until 2026-11-27T08:00:00Z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeSpan {
    For(Duration),
    /// Kept as typed (validated as a time by the bot, which knows the env's time zone).
    Until(String),
}

/// `search <words> [app:<a>] [env:<e>] [user:<u>] [status:<s>] [since:<date>] [until:<date>]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchArgs {
    /// The free words, in order, each a plain word (no FTS operators survive parsing).
    pub words: Vec<String>,
    pub app: Option<AppName>,
    pub env: Option<EnvName>,
    pub user: Option<String>,
    pub status: Option<crate::core::lifecycle::DeployState>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// `sha:<prefix>`: deploys of a commit whose SHA starts with these hex digits (lower-case).
    pub sha: Option<String>,
}
