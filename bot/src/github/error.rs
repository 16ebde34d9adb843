//! GitHub's failures, worded for the person in chat: what happened and what to do. The cause
//! an operator needs (a transport error, a body that did not parse) is logged where it happens.

use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GhError {
    #[error(
        "GitHub refused deckhand's credentials (401): the token or the App's key is wrong or expired; an operator should check GITHUB_TOKEN (or the GitHub App settings)"
    )]
    Unauthorized,
    #[error(
        "GitHub says deckhand may not do that ({status}: {message}); the token or App needs more permissions (see README \"GitHub\")"
    )]
    Forbidden { status: u16, message: String },
    #[error(
        "GitHub has no {what} (404): check the recipe's `repo`, and that deckhand's credentials can see that repository"
    )]
    NotFound { what: String },
    #[error("{}", rate_limited(.reset))]
    RateLimited { reset: Option<DateTime<Utc>> },
    #[error("GitHub is failing (HTTP {status}) and still was after {tries} tries; try again later")]
    Unavailable { status: u16, tries: usize },
    #[error("GitHub cannot be reached ({0}); try again later")]
    Unreachable(String),
    #[error("GitHub did not answer within {}; try again later", crate::core::format::duration(*.0))]
    Timeout(Duration),
    #[error("GitHub answered something deckhand cannot read ({0})")]
    Unexpected(String),
    #[error("{}", unknown_ref(.wanted, .repo, .suggestions))]
    UnknownRef {
        wanted: String,
        repo: String,
        suggestions: Vec<String>,
    },
}

fn rate_limited(reset: &Option<DateTime<Utc>>) -> String {
    match reset {
        Some(t) => format!(
            "GitHub's API rate limit for deckhand is used up until {} UTC; try again after that",
            t.format("%H:%M:%S")
        ),
        None => {
            "GitHub's API rate limit for deckhand is used up; try again in a few minutes".to_owned()
        }
    }
}

fn unknown_ref(wanted: &str, repo: &str, suggestions: &[String]) -> String {
    let mut out = format!("{repo} has no branch, tag or commit `{wanted}`.");
    if !suggestions.is_empty() {
        let names: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
        out.push_str(&format!(" Closest: {}.", names.join(", ")));
    }
    out
}
