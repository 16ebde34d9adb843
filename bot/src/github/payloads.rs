//! The parts of GitHub's documented REST payloads deckhand reads (unknown fields ignored).

use serde::Deserialize;

/// `GET /repos/{o}/{r}/git/ref/{ref}`.
#[derive(Debug, Deserialize)]
pub(super) struct GitRef {
    pub object: GitObject,
}

#[derive(Debug, Deserialize)]
pub(super) struct GitObject {
    pub sha: String,
}

/// `GET /repos/{o}/{r}/commits/{ref}` (and the entries of a compare).
#[derive(Debug, Deserialize)]
pub(super) struct Commit {
    pub sha: String,
    pub commit: CommitDetail,
    /// The GitHub account of the author, when GitHub knows it.
    pub author: Option<Account>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CommitDetail {
    pub message: String,
    pub author: Option<GitAuthor>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GitAuthor {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Account {
    pub login: String,
}

/// `GET /repos/{o}/{r}/branches` and `/tags`: names only.
#[derive(Debug, Deserialize)]
pub(super) struct Named {
    pub name: String,
}

/// `GET /repos/{o}/{r}/commits/{ref}/status`: the combined status.
#[derive(Debug, Deserialize)]
pub(super) struct CombinedStatus {
    pub statuses: Vec<Status>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Status {
    pub context: String,
    pub state: String,
    pub target_url: Option<String>,
}

/// `GET /repos/{o}/{r}/commits/{ref}/check-runs`.
#[derive(Debug, Deserialize)]
pub(super) struct CheckRuns {
    pub check_runs: Vec<CheckRun>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CheckRun {
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub html_url: Option<String>,
    pub details_url: Option<String>,
}

/// `GET /repos/{o}/{r}/compare/{base}...{head}`.
#[derive(Debug, Deserialize)]
pub(super) struct Comparison {
    pub html_url: String,
    pub ahead_by: usize,
    pub behind_by: usize,
    pub commits: Vec<Commit>,
}

/// `POST /repos/{o}/{r}/deployments`.
#[derive(Debug, Deserialize)]
pub(super) struct Deployment {
    pub id: i64,
}

/// An error body: `{"message": "...", "documentation_url": "..."}`.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    pub message: String,
}
