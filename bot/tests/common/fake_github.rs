//! A fake GitHub REST API on 127.0.0.1 for the real octocrab client: one repository with a
//! linear history, its branches and tags, commit statuses and check runs, compares,
//! deployments and their statuses, and a GitHub App's installation tokens. It answers with
//! the payload shapes of docs.github.com/rest (the fields deckhand reads, and a few beside them)
//! and records every call. Failures are injected per path: `fail("/git/ref/heads/", 502, 5)`.
#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One call as the fake received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path and query: `/repos/acme/api/git/ref/heads/main`.
    pub path: String,
    /// The JSON body (`Null` when there was none).
    pub body: Value,
    /// The `Authorization` header, or "".
    pub auth: String,
}

/// One commit of the fake repository's history.
#[derive(Debug, Clone)]
pub struct Commit {
    pub sha: String,
    pub message: String,
    pub author: String,
}

/// A status context or check run the fake reports for a commit.
#[derive(Debug, Clone)]
pub enum Report {
    /// A commit status: `state` is success, pending, failure or error.
    Status { context: String, state: String },
    /// A check run: `status` queued, in_progress or completed; `conclusion` when completed.
    Run {
        name: String,
        status: String,
        conclusion: Option<String>,
    },
}

/// An injected failure: the next `times` calls whose path contains `path`.
struct Failure {
    path: String,
    status: u16,
    headers: Vec<(String, String)>,
    times: usize,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    /// Oldest first.
    history: Vec<Commit>,
    branches: BTreeMap<String, String>,
    /// Annotated tags: name → commit (the ref points at a tag object of its own).
    tags: BTreeMap<String, String>,
    reports: BTreeMap<String, Vec<Report>>,
    failures: Vec<Failure>,
    /// Calls whose path contains the first wait this long before answering.
    stalls: Vec<(String, std::time::Duration)>,
    deployments: i64,
    /// Installation tokens issued so far; each lives `token_life_secs`.
    tokens: usize,
    token_life_secs: i64,
}

#[derive(Clone)]
pub struct FakeGitHub {
    /// The base to give deckhand as `GITHUB_API_URL` (`http://127.0.0.1:PORT`).
    pub url: String,
    /// `owner/name` of the one repository it serves.
    pub repo: String,
    state: Arc<Mutex<State>>,
}

/// A commit SHA made from its message, as a real one is made from its content.
pub fn sha_of(message: &str) -> String {
    hex::encode(sha2::Sha256::digest(message.as_bytes()))[..40].to_owned()
}

impl FakeGitHub {
    /// Serves `acme/api` with one commit on `main`.
    pub async fn start() -> FakeGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeGitHub {
            url: format!("http://{}", listener.local_addr().unwrap()),
            repo: "acme/api".to_owned(),
            state: Arc::new(Mutex::new(State {
                token_life_secs: 3600,
                ..State::default()
            })),
        };
        fake.commit("main", "Initial commit", "alice");
        let server = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let fake = server.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let fake = fake.clone();
                        async move { fake.serve(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        fake
    }

    /// Adds a commit to the history and moves `branch` to it; its SHA.
    pub fn commit(&self, branch: &str, message: &str, author: &str) -> String {
        let mut s = self.state.lock().unwrap();
        let sha = sha_of(&format!("{}:{message}", s.history.len()));
        s.history.push(Commit {
            sha: sha.clone(),
            message: message.to_owned(),
            author: author.to_owned(),
        });
        s.branches.insert(branch.to_owned(), sha.clone());
        sha
    }

    pub fn branch(&self, name: &str) -> String {
        self.state.lock().unwrap().branches[name].clone()
    }

    pub fn add_branch(&self, name: &str, sha: &str) {
        self.state
            .lock()
            .unwrap()
            .branches
            .insert(name.to_owned(), sha.to_owned());
    }

    pub fn tag(&self, name: &str, sha: &str) {
        self.state
            .lock()
            .unwrap()
            .tags
            .insert(name.to_owned(), sha.to_owned());
    }

    /// What the commit's status and check-runs endpoints report from now on.
    pub fn report(&self, sha: &str, reports: Vec<Report>) {
        self.state
            .lock()
            .unwrap()
            .reports
            .insert(sha.to_owned(), reports);
    }

    /// The next `times` calls whose path contains `path` are answered `status` with `headers`
    /// and GitHub's error body.
    pub fn fail(&self, path: &str, status: u16, headers: &[(&str, &str)], times: usize) {
        self.state.lock().unwrap().failures.push(Failure {
            path: path.to_owned(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            times,
        });
    }

    /// Calls whose path contains `path` answer only after `delay` (a GitHub that hangs).
    pub fn stall(&self, path: &str, delay: std::time::Duration) {
        self.state
            .lock()
            .unwrap()
            .stalls
            .push((path.to_owned(), delay));
    }

    /// Installation tokens issued from now on expire after `secs`.
    pub fn token_life(&self, secs: i64) {
        self.state.lock().unwrap().token_life_secs = secs;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls whose path contains `part`.
    pub fn calls_to(&self, part: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.contains(part))
            .collect()
    }

    async fn serve(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
        let method = req.method().to_string();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = req.into_body().collect().await?.to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let stall = {
            let s = self.state.lock().unwrap();
            s.stalls
                .iter()
                .find(|(p, _)| path.contains(p.as_str()))
                .map(|(_, d)| *d)
        };
        if let Some(delay) = stall {
            tokio::time::sleep(delay).await;
        }
        let mut s = self.state.lock().unwrap();
        s.calls.push(Call {
            method: method.clone(),
            path: path.clone(),
            body: body.clone(),
            auth,
        });
        if let Some(f) = s
            .failures
            .iter_mut()
            .find(|f| f.times > 0 && path.contains(&f.path))
        {
            f.times -= 1;
            let mut r = Response::builder().status(f.status);
            for (k, v) in &f.headers {
                r = r.header(k, v);
            }
            let message = match f.status {
                401 => "Bad credentials",
                403 => "API rate limit exceeded for installation.",
                429 => "You have exceeded a secondary rate limit.",
                _ => "Server Error",
            };
            return Ok(r
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(
                    json!({"message": message, "documentation_url": "https://docs.github.com/rest"})
                        .to_string(),
                )))
                .unwrap());
        }
        let only_path = path.split('?').next().unwrap_or_default().to_owned();
        let (status, answer) = route(&mut s, &self.url, &self.repo, &method, &only_path, &body);
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(answer.to_string())))
            .unwrap())
    }
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
    )
}

fn route(
    s: &mut State,
    base: &str,
    repo: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    if method == "POST"
        && let Some(rest) = path.strip_prefix("/app/installations/")
        && rest.ends_with("/access_tokens")
    {
        s.tokens += 1;
        let expires = chrono::Utc::now() + chrono::Duration::seconds(s.token_life_secs);
        return (
            201,
            json!({
                "token": format!("ghs_installation{}", s.tokens),
                "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "permissions": {"deployments": "write", "statuses": "read", "contents": "read", "checks": "read"},
                "repository_selection": "selected"
            }),
        );
    }
    let Some(rest) = path.strip_prefix(&format!("/repos/{repo}/")) else {
        return not_found();
    };
    let commit_json = |c: &Commit| {
        json!({
            "sha": c.sha,
            "node_id": "C_fake",
            "html_url": format!("{base}/{repo}/commit/{}", c.sha),
            "commit": {
                "message": c.message,
                "author": {"name": format!("{} Example", c.author), "email": format!("{}@example.com", c.author), "date": "2026-12-01T10:00:00Z"}
            },
            "author": {"login": c.author, "id": 1},
            "parents": []
        })
    };
    let find = |s: &State, r: &str| -> Option<usize> {
        let sha = s
            .branches
            .get(r)
            .or_else(|| s.tags.get(r))
            .cloned()
            .or_else(|| {
                let matches: Vec<&Commit> = s
                    .history
                    .iter()
                    .filter(|c| r.len() >= 4 && c.sha.starts_with(r))
                    .collect();
                (matches.len() == 1).then(|| matches[0].sha.clone())
            })?;
        s.history.iter().position(|c| c.sha == sha)
    };
    match method {
        "GET" => {
            if let Some(name) = rest.strip_prefix("git/ref/heads/") {
                return match s.branches.get(name) {
                    Some(sha) => (
                        200,
                        json!({"ref": format!("refs/heads/{name}"), "node_id": "REF_fake", "url": "", "object": {"sha": sha, "type": "commit", "url": ""}}),
                    ),
                    None => not_found(),
                };
            }
            if let Some(name) = rest.strip_prefix("git/ref/tags/") {
                return match s.tags.get(name) {
                    // An annotated tag: the ref points at the tag object, not the commit.
                    Some(sha) => (
                        200,
                        json!({"ref": format!("refs/tags/{name}"), "node_id": "REF_fake", "url": "", "object": {"sha": sha_of(&format!("tag:{sha}")), "type": "tag", "url": ""}}),
                    ),
                    None => not_found(),
                };
            }
            if rest == "branches" || rest == "tags" {
                let map = if rest == "branches" {
                    &s.branches
                } else {
                    &s.tags
                };
                let list: Vec<Value> = map
                    .iter()
                    .map(|(n, sha)| json!({"name": n, "commit": {"sha": sha, "url": ""}, "protected": false}))
                    .collect();
                return (200, Value::Array(list));
            }
            if let Some(rest) = rest.strip_prefix("commits/") {
                if let Some(r) = rest.strip_suffix("/status") {
                    let Some(i) = find(s, r) else {
                        return not_found();
                    };
                    let sha = s.history[i].sha.clone();
                    let statuses: Vec<Value> = s
                        .reports
                        .get(&sha)
                        .into_iter()
                        .flatten()
                        .filter_map(|rep| match rep {
                            Report::Status { context, state } => Some(json!({
                                "context": context, "state": state,
                                "target_url": format!("https://ci.example.com/{context}/{sha}"),
                                "description": format!("{context}: {state}")
                            })),
                            Report::Run { .. } => None,
                        })
                        .collect();
                    let total = statuses.len();
                    return (
                        200,
                        json!({"state": "pending", "sha": sha, "total_count": total, "statuses": statuses}),
                    );
                }
                if let Some(r) = rest.strip_suffix("/check-runs") {
                    let Some(i) = find(s, r) else {
                        return not_found();
                    };
                    let sha = s.history[i].sha.clone();
                    let runs: Vec<Value> = s
                        .reports
                        .get(&sha)
                        .into_iter()
                        .flatten()
                        .filter_map(|rep| match rep {
                            Report::Run {
                                name,
                                status,
                                conclusion,
                            } => Some(json!({
                                "id": 1, "name": name, "head_sha": sha, "status": status,
                                "conclusion": conclusion,
                                "html_url": format!("{base}/{repo}/runs/{name}"),
                                "details_url": format!("https://ci.example.com/runs/{name}")
                            })),
                            Report::Status { .. } => None,
                        })
                        .collect();
                    return (200, json!({"total_count": runs.len(), "check_runs": runs}));
                }
                return match find(s, rest) {
                    Some(i) => (200, commit_json(&s.history[i])),
                    None => (
                        422,
                        json!({"message": format!("No commit found for SHA: {rest}")}),
                    ),
                };
            }
            if let Some(spec) = rest.strip_prefix("compare/") {
                let Some((b, h)) = spec.split_once("...") else {
                    return not_found();
                };
                let (Some(bi), Some(hi)) = (find(s, b), find(s, h)) else {
                    return not_found();
                };
                let (ahead, behind, commits) = if hi >= bi {
                    (
                        hi - bi,
                        0,
                        s.history[bi + 1..=hi]
                            .iter()
                            .map(commit_json)
                            .collect::<Vec<_>>(),
                    )
                } else {
                    (0, bi - hi, Vec::new())
                };
                let status = match (ahead, behind) {
                    (0, 0) => "identical",
                    (_, 0) => "ahead",
                    _ => "behind",
                };
                return (
                    200,
                    json!({
                        "url": "", "html_url": format!("{base}/{repo}/compare/{b}...{h}"),
                        "status": status, "ahead_by": ahead, "behind_by": behind,
                        "total_commits": ahead, "commits": commits, "files": []
                    }),
                );
            }
            not_found()
        }
        "POST" => {
            if rest == "deployments" {
                s.deployments += 1;
                return (
                    201,
                    json!({
                        "id": s.deployments, "sha": body["ref"], "ref": body["ref"],
                        "environment": body["environment"], "description": body["description"],
                        "task": "deploy", "payload": {}
                    }),
                );
            }
            if let Some(id) = rest
                .strip_prefix("deployments/")
                .and_then(|r| r.strip_suffix("/statuses"))
            {
                return match id.parse::<i64>() {
                    Ok(n) if n >= 1 && n <= s.deployments => (
                        201,
                        json!({"id": 1, "state": body["state"], "description": body["description"], "log_url": body["log_url"]}),
                    ),
                    _ => not_found(),
                };
            }
            not_found()
        }
        _ => not_found(),
    }
}
