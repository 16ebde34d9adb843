//! GitHub: the one module that imports octocrab. It answers in deckhand's own types (a
//! resolved ref, a commit's checks, the commits between two SHAs, deployment ids) behind the
//! [`GitHub`] trait, and turns every failure into a [`GhError`] a person can act on.
//!
//! Invariants: **no octocrab type leaves this directory**; **every call is bounded**: tried at
//! most `1 + retries` times (5xx and 429 are retried at once, never waited out) and cut off by
//! a deadline on the whole, so a deploy never hangs on GitHub; **credentials are never shown**
//! (`Credentials`' `Debug` hides them).

mod auth;
mod client;
mod error;
mod payloads;

pub use auth::{Credentials, Missing};
pub use client::{Client, Options};
pub use error::GhError;

use crate::core::changelog::Commits;
use crate::core::ci::Check;
use crate::core::repo::{RefKind, RepoName};

/// A ref pinned to its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub sha: String,
    pub ref_kind: RefKind,
}

/// A GitHub deployment status's `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
    /// The deploy could not finish (deckhand stopped while it ran).
    Error,
    Inactive,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Error => "error",
            DeploymentState::Inactive => "inactive",
        }
    }
}

/// What deckhand asks of GitHub. The engine holds one (`Client` in production and in the
/// tests, which run it against a fake GitHub over HTTP).
#[async_trait::async_trait]
pub trait GitHub: Send + Sync {
    /// A branch, tag or SHA prefix to its full commit SHA. An unknown ref is
    /// [`GhError::UnknownRef`] with the closest branch and tag names.
    async fn resolve(&self, repo: &RepoName, git_ref: &str) -> Result<Resolved, GhError>;

    /// The commit's status contexts and check runs, newest first.
    async fn checks(&self, repo: &RepoName, sha: &str) -> Result<Vec<Check>, GhError>;

    /// The commits in `base..head`.
    async fn compare(&self, repo: &RepoName, base: &str, head: &str) -> Result<Commits, GhError>;

    /// Creates a deployment of `sha` to `env` (no auto-merge, no required contexts: deckhand
    /// checked them); its id.
    async fn create_deployment(
        &self,
        repo: &RepoName,
        sha: &str,
        env: &str,
        description: &str,
    ) -> Result<i64, GhError>;

    /// Adds a status to deployment `id`.
    async fn deployment_status(
        &self,
        repo: &RepoName,
        id: i64,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
    ) -> Result<(), GhError>;

    /// The web page of a commit (for `live` and `history`).
    fn commit_url(&self, repo: &RepoName, sha: &str) -> String;

    /// How long a request may wait for GitHub while its ref is pinned (several calls): the
    /// chat's events are handled one at a time, so every other command waits meanwhile.
    fn patience(&self) -> std::time::Duration {
        std::time::Duration::from_secs(30)
    }
}
