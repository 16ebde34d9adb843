//! The octocrab client: deckhand's calls as GitHub REST requests, their answers read into
//! deckhand's types, their failures into [`GhError`].
//!
//! octocrab does the authentication (a token, or a GitHub App's JWT exchanged for installation
//! tokens that it caches and renews 30 s before they expire), the base URL, the retries and
//! the connect/read timeouts. The requests go through its raw `_get`/`_post`, so the status
//! and headers of a failure (`x-ratelimit-reset`) stay readable. Paths are always relative
//! (`/repos/…`): octocrab only sends credentials to its own base URL.

use super::payloads;
use super::{Credentials, DeploymentState, GhError, GitHub, Resolved};
use crate::core::changelog::{Commits, NEWEST_SHOWN};
use crate::core::ci::{Check, CheckState};
use crate::core::repo::{RefKind, RepoName, closest_refs, is_full_sha, may_be_sha_prefix};
use chrono::{DateTime, Utc};
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How the client behaves; the defaults suit GitHub.
#[derive(Debug, Clone)]
pub struct Options {
    /// `GITHUB_API_URL`: GitHub Enterprise (`https://ghe.example.com/api/v3`) or a test server.
    /// None: `https://api.github.com`.
    pub api_url: Option<String>,
    /// How many times a 5xx, a 429 or a transport error is tried again (at once). Default 2.
    pub retries: usize,
    /// The longest one call may take, retries included. Default 20 s.
    pub deadline: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            api_url: None,
            retries: 2,
            deadline: Duration::from_secs(20),
        }
    }
}

impl Options {
    /// The defaults, with `GITHUB_API_URL` from the environment when set.
    pub fn from_env() -> Options {
        Options {
            api_url: std::env::var("GITHUB_API_URL")
                .ok()
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty()),
            ..Options::default()
        }
    }
}

/// A GitHub client. Cheap to share (`Arc`).
pub struct Client {
    crab: Octocrab,
    /// The web base for links (`https://github.com`).
    web: String,
    opts: Options,
}

impl Client {
    /// Builds the client; makes no request (an App's first installation token is fetched by
    /// the first call).
    pub fn new(creds: &Credentials, opts: Options) -> anyhow::Result<Client> {
        let mut builder = Octocrab::builder()
            .add_retry_config(RetryConfig::Simple(opts.retries))
            .set_connect_timeout(Some(Duration::from_secs(5)))
            .set_read_timeout(Some(Duration::from_secs(15)))
            .set_write_timeout(Some(Duration::from_secs(15)));
        if let Some(url) = &opts.api_url {
            builder = builder
                .base_uri(url.as_str())
                .map_err(|e| anyhow::anyhow!("GITHUB_API_URL `{url}` is not a URL: {e}"))?;
        }
        let crab = match creds {
            Credentials::Token(token) => builder.personal_token(token.clone()).build()?,
            Credentials::App {
                app_id,
                private_key,
                installation_id,
            } => builder
                .app_from_rsa_pem((*app_id).into(), private_key.as_bytes())
                .map_err(|e| {
                    anyhow::anyhow!("the GitHub App's private key is not an RSA PEM key: {e}")
                })?
                .build()?
                .installation((*installation_id).into())?,
        };
        let web = web_base(opts.api_url.as_deref());
        Ok(Client { crab, web, opts })
    }

    /// One request, bounded by the deadline; the answer's body when it is a success.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<String, GhError> {
        let call = async {
            let sent = match body {
                Some(b) => self.crab._post(path, Some(b)).await,
                None => self.crab._get(path).await,
            };
            let response = sent.map_err(|e| self.octocrab_error(method, path, e))?;
            let status = response.status();
            let headers = response.headers().clone();
            let text = self
                .crab
                .body_to_string(response)
                .await
                .map_err(|e| GhError::Unreachable(format!("reading the answer: {e}")))?;
            if status.is_success() {
                return Ok(text);
            }
            let message = serde_json::from_str::<payloads::ErrorBody>(&text)
                .map(|b| b.message)
                .unwrap_or_default();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            tracing::warn!(%method, %path, status = status.as_u16(), %message, "GitHub refused a call");
            Err(self.status_error(status.as_u16(), &message, what, header))
        };
        match tokio::time::timeout(self.opts.deadline, call).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(%method, %path, "GitHub call timed out");
                Err(GhError::Timeout(self.opts.deadline))
            }
        }
    }

    fn status_error(
        &self,
        status: u16,
        message: &str,
        what: &str,
        header: impl Fn(&str) -> Option<String>,
    ) -> GhError {
        let out_of_quota = header("x-ratelimit-remaining").as_deref() == Some("0");
        let reset = || {
            header("x-ratelimit-reset")
                .and_then(|r| r.parse::<i64>().ok())
                .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        };
        match status {
            401 => GhError::Unauthorized,
            429 => GhError::RateLimited { reset: reset() },
            403 if out_of_quota || message.to_lowercase().contains("rate limit") => {
                GhError::RateLimited { reset: reset() }
            }
            403 => GhError::Forbidden {
                status,
                message: message.to_owned(),
            },
            404 => GhError::NotFound {
                what: what.to_owned(),
            },
            500..=599 => GhError::Unavailable {
                status,
                tries: self.opts.retries + 1,
            },
            _ => GhError::Unexpected(format!("HTTP {status}: {message}")),
        }
    }

    /// A failure before any answer (or while getting an App token), with its cause logged.
    fn octocrab_error(&self, method: &str, path: &str, e: octocrab::Error) -> GhError {
        tracing::warn!(%method, %path, error = %format!("{e:?}"), "GitHub call failed");
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let headers = source.headers.clone().unwrap_or_default();
                self.status_error(
                    source.status_code.as_u16(),
                    &source.message,
                    "installation token",
                    |name| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    },
                )
            }
            other => GhError::Unreachable(first_line(&other.to_string())),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, GhError> {
        let text = self.send("GET", path, None, what).await?;
        parse(&text, path)
    }

    /// All branch and tag names (the first 100 of each: enough to suggest from).
    async fn ref_names(&self, repo: &RepoName) -> Result<Vec<String>, GhError> {
        let base = repo_path(repo);
        let branches: Vec<payloads::Named> = self
            .get(&format!("{base}/branches?per_page=100"), "branches")
            .await?;
        let tags: Vec<payloads::Named> = self
            .get(&format!("{base}/tags?per_page=100"), "tags")
            .await?;
        Ok(branches.into_iter().chain(tags).map(|n| n.name).collect())
    }

    /// `Ok(None)` on a 404: the lookups of `resolve` try one kind of ref after another.
    async fn found<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, GhError> {
        match self.get(path, "such ref").await {
            Ok(v) => Ok(Some(v)),
            Err(GhError::NotFound { .. }) => Ok(None),
            // `commits/{ref}` answers 422 "No commit found for SHA" for a ref it cannot find.
            Err(GhError::Unexpected(m)) if m.starts_with("HTTP 422") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait::async_trait]
impl GitHub for Client {
    /// One and a half calls' deadline: a GitHub that answers, slowly, each call just within
    /// its deadline is given up on by the second call.
    fn patience(&self) -> Duration {
        self.opts.deadline * 3 / 2
    }

    async fn resolve(&self, repo: &RepoName, git_ref: &str) -> Result<Resolved, GhError> {
        let base = repo_path(repo);
        let r = escape(git_ref);
        if is_full_sha(git_ref) {
            // Nothing to look up: a full SHA is pinned as it is, so GitHub being down never
            // stands between `deploy!` and a known commit.
            return Ok(Resolved {
                sha: git_ref.to_lowercase(),
                ref_kind: RefKind::Commit,
            });
        }
        if let Some(b) = self
            .found::<payloads::GitRef>(&format!("{base}/git/ref/heads/{r}"))
            .await?
        {
            return Ok(Resolved {
                sha: b.object.sha,
                ref_kind: RefKind::Branch,
            });
        }
        if self
            .found::<payloads::GitRef>(&format!("{base}/git/ref/tags/{r}"))
            .await?
            .is_some()
        {
            // An annotated tag's ref points at the tag object; its commit is what
            // `commits/{tag}` answers.
            let c: payloads::Commit = self
                .get(&format!("{base}/commits/{r}"), "commit of that tag")
                .await?;
            return Ok(Resolved {
                sha: c.sha,
                ref_kind: RefKind::Tag,
            });
        }
        if may_be_sha_prefix(git_ref)
            && let Some(c) = self
                .found::<payloads::Commit>(&format!("{base}/commits/{r}"))
                .await?
        {
            return Ok(Resolved {
                sha: c.sha,
                ref_kind: RefKind::Commit,
            });
        }
        let names = self.ref_names(repo).await?;
        Err(GhError::UnknownRef {
            wanted: git_ref.to_owned(),
            repo: repo.to_string(),
            suggestions: closest_refs(git_ref, &names, 3)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }

    async fn checks(&self, repo: &RepoName, sha: &str) -> Result<Vec<Check>, GhError> {
        let base = format!("{}/commits/{}", repo_path(repo), escape(sha));
        let combined: payloads::CombinedStatus = self
            .get(&format!("{base}/status?per_page=100"), "commit")
            .await?;
        let runs: payloads::CheckRuns = self
            .get(&format!("{base}/check-runs?per_page=100"), "commit")
            .await?;
        let statuses = combined.statuses.into_iter().map(|s| Check {
            state: CheckState::of_status(&s.state),
            name: s.context,
            url: s.target_url,
        });
        let runs = runs.check_runs.into_iter().map(|r| Check {
            state: CheckState::of_run(&r.status, r.conclusion.as_deref()),
            name: r.name,
            url: r.html_url.or(r.details_url),
        });
        Ok(statuses.chain(runs).collect())
    }

    async fn compare(&self, repo: &RepoName, base: &str, head: &str) -> Result<Commits, GhError> {
        let c: payloads::Comparison = self
            .get(
                &format!(
                    "{}/compare/{}...{}",
                    repo_path(repo),
                    escape(base),
                    escape(head)
                ),
                "such commits to compare",
            )
            .await?;
        // GitHub lists the commits oldest first.
        let newest = c
            .commits
            .iter()
            .rev()
            .take(NEWEST_SHOWN)
            .map(|commit| {
                let author = commit
                    .author
                    .as_ref()
                    .map(|a| a.login.clone())
                    .or_else(|| commit.commit.author.as_ref().map(|a| a.name.clone()))
                    .unwrap_or_else(|| "unknown".to_owned());
                (
                    commit.sha.clone(),
                    crate::core::changelog::one_line(&commit.commit.message),
                    author,
                )
            })
            .collect();
        Ok(Commits {
            total: c.ahead_by,
            behind: c.behind_by,
            newest,
            compare_url: c.html_url,
        })
    }

    async fn create_deployment(
        &self,
        repo: &RepoName,
        sha: &str,
        env: &str,
        description: &str,
    ) -> Result<i64, GhError> {
        let body = serde_json::json!({
            "ref": sha,
            "environment": env,
            "auto_merge": false,
            "required_contexts": [],
            "description": cut(description),
        });
        let text = self
            .send(
                "POST",
                &format!("{}/deployments", repo_path(repo)),
                Some(&body),
                "repository to deploy",
            )
            .await?;
        let d: payloads::Deployment = parse(&text, "deployments")?;
        Ok(d.id)
    }

    async fn deployment_status(
        &self,
        repo: &RepoName,
        id: i64,
        state: DeploymentState,
        description: &str,
        log_url: Option<&str>,
    ) -> Result<(), GhError> {
        let mut body = serde_json::json!({
            "state": state.as_str(),
            "description": cut(description),
        });
        if let Some(url) = log_url {
            body["log_url"] = url.into();
        }
        self.send(
            "POST",
            &format!("{}/deployments/{id}/statuses", repo_path(repo)),
            Some(&body),
            "such deployment",
        )
        .await?;
        Ok(())
    }

    fn commit_url(&self, repo: &RepoName, sha: &str) -> String {
        format!("{}/{repo}/commit/{sha}", self.web)
    }
}

fn repo_path(repo: &RepoName) -> String {
    format!("/repos/{}/{}", repo.owner(), repo.name())
}

/// A ref in a URL path: its `/` kept (GitHub reads `heads/feature/x`), anything else outside
/// the unreserved characters percent-encoded.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GitHub limits a deployment's and a status's description to 140 characters.
fn cut(s: &str) -> String {
    s.chars().take(140).collect()
}

fn parse<T: DeserializeOwned>(text: &str, path: &str) -> Result<T, GhError> {
    serde_json::from_str(text).map_err(|e| {
        tracing::warn!(%path, error = %e, "GitHub's answer did not parse");
        GhError::Unexpected(format!("{path}: {e}"))
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// The web base for links: github.com for the public API, the host of a GitHub Enterprise
/// API (`…/api/v3`), or the URL itself (a test server).
fn web_base(api_url: Option<&str>) -> String {
    match api_url {
        None => "https://github.com".to_owned(),
        Some(u) if u.trim_end_matches('/') == "https://api.github.com" => {
            "https://github.com".to_owned()
        }
        Some(u) => u
            .trim_end_matches('/')
            .trim_end_matches("/api/v3")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_point_at_the_web_not_the_api() {
        assert_eq!(web_base(None), "https://github.com");
        assert_eq!(
            web_base(Some("https://api.github.com/")),
            "https://github.com"
        );
        assert_eq!(
            web_base(Some("https://ghe.example.com/api/v3")),
            "https://ghe.example.com"
        );
    }

    #[test]
    fn refs_keep_slashes_and_lose_everything_else() {
        assert_eq!(escape("feature/x-1.2"), "feature/x-1.2");
        assert_eq!(escape("a b?c"), "a%20b%3Fc");
    }
}
