//! An app's GitHub repository, for the engine: a requested ref pinned to a commit before
//! approval (with its CI gate and changelog), the gate again when the deploy's turn comes
//! (waiting while CI is pending, up to `[github] wait_for_checks`), and a GitHub deployment
//! with its statuses. The rules are `core::ci`'s and `core::changelog`'s; GitHub is reached only
//! through the [`GitHub`] trait.
//!
//! Invariants: **a deploy of a repo-backed app runs the commit its approvers saw**
//! (`deploys.commit_sha`, set before the request is shown, is what `DECKHAND_SHA` carries; a
//! branch that moved since is said, never followed); **GitHub never blocks what it need not**:
//! a full SHA needs no lookup, `deploy!` skips the gate (and the log says so), a failing
//! changelog or deployment call is said and the deploy goes on.

use super::Inner;
use super::dispatch::CancelFlag;
use super::progress::StatusLine;
use super::run::ACTOR;
use crate::core::changelog;
use crate::core::ci::{self, Verdict};
use crate::core::command::DeployId;
use crate::core::format;
use crate::core::repo::{RefKind, RepoName, is_full_sha, short};
use crate::github::{DeploymentState, GitHub};
use crate::store::{Deploy, DeployKind, NewDeploy};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many deploys' GitHub notes are kept for their request's re-renderings.
const NOTES_KEPT: usize = 1_000;

/// The engine's GitHub side: the client (none without credentials) and, per deploy, the
/// lines its request and status message show (commit, gate, changelog).
#[derive(Default)]
pub(crate) struct Source {
    pub client: Option<Arc<dyn GitHub>>,
    notes: Mutex<BTreeMap<DeployId, String>>,
}

impl Source {
    pub fn new(client: Option<Arc<dyn GitHub>>) -> Source {
        Source {
            client,
            notes: Mutex::default(),
        }
    }

    /// The GitHub lines of deploy `id`'s request, if it has any (kept in memory: a request
    /// announced again after a restart shows its commit from the log instead).
    pub fn note(&self, id: DeployId) -> Option<String> {
        self.notes.lock().expect("notes lock").get(&id).cloned()
    }

    fn remember(&self, id: DeployId, text: String) {
        let mut notes = self.notes.lock().expect("notes lock");
        notes.insert(id, text);
        while notes.len() > NOTES_KEPT {
            notes.pop_first();
        }
    }
}

/// A request's ref, pinned.
pub(super) struct Pinned {
    pub sha: String,
    pub kind: RefKind,
    /// Shown under the request: the commit, the gate, the changelog.
    pub text: String,
    /// Why the CI gate refuses it (red), if it does.
    pub refusal: Option<String>,
    /// `deploy!` skipped a CI gate: recorded as a `gate_skipped` event.
    pub skipped_gate: bool,
}

/// [`pin`], given up after the client's [`GitHub::patience`]: the chat's events are handled one
/// at a time, so a GitHub that answers slowly would hold every other command.
pub(super) async fn pin_in_time(
    inner: &Inner,
    new: &NewDeploy,
) -> anyhow::Result<Result<Option<Pinned>, String>> {
    let Some(gh) = &inner.source.client else {
        return pin(inner, new).await;
    };
    let patience = gh.patience();
    match tokio::time::timeout(patience, pin(inner, new)).await {
        Ok(pinned) => pinned,
        Err(_) => Ok(Err(format!(
            "GitHub is answering too slowly: `{}` could not be pinned to a commit within {}, so nothing was filed. Try again in a moment, or `deploy!` a full commit SHA (which needs no lookup).",
            new.git_ref,
            humantime::format_duration(patience)
        ))),
    }
}

/// Pins the ref of a request for an app whose recipe names a repository: `Ok(None)` for other
/// apps, `Err(text)` when it cannot be pinned (unknown ref, GitHub failing): said, not filed.
async fn pin(inner: &Inner, new: &NewDeploy) -> anyhow::Result<Result<Option<Pinned>, String>> {
    let Some(recipe) = inner.config.app(&new.app) else {
        return Ok(Ok(None));
    };
    let Some(repo) = &recipe.repo else {
        return Ok(Ok(None));
    };
    let Some(gh) = &inner.source.client else {
        return Ok(Err(format!(
            "{}'s recipe names the GitHub repository {repo}, but deckhand has no GitHub credentials, so it cannot pin `{}` to a commit. An operator should set GITHUB_TOKEN (or a GitHub App); `deckhand check` says what is missing.",
            new.app, new.git_ref
        )));
    };
    let rollback = new.kind == DeployKind::Rollback;
    let wanted = new.git_ref.as_str();
    // A rollback goes back to the commit that version was, as the log recorded it.
    let recorded = if rollback {
        recorded_sha(inner, new).await?
    } else {
        None
    };
    let recorded_here = recorded.is_some();
    let (sha, kind) = match recorded {
        Some(sha) => (sha, RefKind::Commit),
        None => match gh.resolve(repo, wanted).await {
            Ok(r) => (r.sha, r.ref_kind),
            Err(e @ crate::github::GhError::UnknownRef { .. }) => return Ok(Err(e.to_string())),
            Err(e) => {
                return Ok(Err(format!(
                    "I could not pin `{wanted}` to a commit of {repo}: {e}. (A full 40-character SHA needs no lookup.)"
                )));
            }
        },
    };
    let what = match kind {
        RefKind::Commit if recorded_here => format!("`{wanted}` as the log recorded it"),
        RefKind::Commit if is_full_sha(wanted) => "commit".to_owned(),
        k => format!("{} `{wanted}`", k.as_str()),
    };
    let mut lines = vec![format!(
        "Commit: {} ({what}) {}",
        short(&sha),
        gh.commit_url(repo, &sha)
    )];
    let skipped_gate = new.force && !rollback;
    let gate = if skipped_gate {
        Gate::Line(format!(
            "`deploy!`: the CI gate is skipped for {} (recorded in the log).",
            short(&sha)
        ))
    } else if rollback {
        // A rollback goes back to a version that ran; blocking it on CI would block a recovery.
        Gate::Line("CI gate: not applied to a rollback.".to_owned())
    } else {
        match ci_at_request(
            inner,
            gh.as_ref(),
            repo,
            &recipe.required_checks,
            &sha,
            &what,
        )
        .await
        {
            Ok(gate) => gate,
            Err(msg) => return Ok(Err(msg)),
        }
    };
    let refusal = match gate {
        Gate::Line(line) => {
            lines.push(line);
            None
        }
        Gate::Red(why) => Some(why),
    };
    if refusal.is_none() {
        lines.push(changes(inner, gh.as_ref(), repo, new, &sha).await?);
    }
    Ok(Ok(Some(Pinned {
        sha,
        kind,
        text: lines.join("\n"),
        refusal,
        skipped_gate,
    })))
}

/// What the CI gate says at request time: a line for the request, or why it is refused.
enum Gate {
    Line(String),
    Red(String),
}

/// The CI gate on `sha` when it is requested; `Err(text)` when CI cannot be read.
async fn ci_at_request(
    inner: &Inner,
    gh: &dyn GitHub,
    repo: &RepoName,
    required: &[String],
    sha: &str,
    what: &str,
) -> Result<Gate, String> {
    let checks = gh.checks(repo, sha).await.map_err(|e| {
        format!(
            "I could not read CI for {} in {repo}: {e}. `deploy!` skips the CI gate.",
            short(sha)
        )
    })?;
    Ok(match ci::verdict(&checks, required) {
        Verdict::Green { checked: 0 } => {
            Gate::Line(format!("CI: no checks reported on {}.", short(sha)))
        }
        Verdict::Green { checked } => Gate::Line(format!(
            "CI: green ({checked} check{}).",
            if checked == 1 { "" } else { "s" }
        )),
        Verdict::Pending(names) => Gate::Line(format!(
            "CI: pending on {} ({}): when its turn comes the deploy waits for it (up to {}) and starts once it is green.",
            short(sha),
            names.join(", "),
            format::duration(inner.config.github.wait_for_checks)
        )),
        Verdict::Red(failing) => Gate::Red(format!(
            "CI is red on {} ({what}): {} failed: {}. Fix the build, or say `deploy!` to skip the CI gate.",
            short(sha),
            if failing.len() == 1 {
                "a check"
            } else {
                "checks"
            },
            ci::describe_failing(&failing)
        )),
    })
}

/// The commit the log recorded for the version a rollback goes back to.
async fn recorded_sha(inner: &Inner, new: &NewDeploy) -> anyhow::Result<Option<String>> {
    let rows = inner
        .store
        .history(Some(&new.app), Some(&new.env), Some(&new.git_ref), 20)
        .await?;
    Ok(rows.into_iter().find_map(|d| {
        (d.state == crate::core::lifecycle::DeployState::Succeeded)
            .then_some(d.commit_sha)
            .flatten()
    }))
}

/// The changelog between what is live and `sha` (what a rollback takes away); a GitHub failure
/// here is said, never a refusal.
async fn changes(
    inner: &Inner,
    gh: &dyn GitHub,
    repo: &RepoName,
    new: &NewDeploy,
    sha: &str,
) -> anyhow::Result<String> {
    let live = inner
        .store
        .live(Some(&new.app), Some(&new.env))
        .await?
        .into_iter()
        .next()
        .and_then(|d| d.commit_sha);
    let Some(live) = live else {
        return Ok(format!(
            "Changes: nothing in {} has a known commit to compare with yet.",
            new.env
        ));
    };
    if live == sha {
        return Ok(format!("Changes: none ({} is live already).", short(sha)));
    }
    let rollback = new.kind == DeployKind::Rollback;
    let (base, head) = if rollback {
        (sha, live.as_str())
    } else {
        (live.as_str(), sha)
    };
    Ok(match gh.compare(repo, base, head).await {
        Ok(c) => changelog::render(&c, &live, sha, rollback),
        Err(e) => format!("Changes: not available ({e})."),
    })
}

/// Records what `pin` found on the filed deploy: its commit (before anyone sees the request)
/// and, under `deploy!`, that the gate was skipped.
pub(super) async fn record_pin(inner: &Inner, d: &mut Deploy, p: &Pinned) -> anyhow::Result<()> {
    let now = inner.clock.now();
    inner.store.set_commit_sha(d.id, &p.sha).await?;
    d.commit_sha = Some(p.sha.clone());
    inner
        .store
        .note(
            Some(d.id),
            &d.requested_by,
            "pinned",
            &format!(
                "#{} pinned `{}` ({}) to commit {}",
                d.id,
                d.git_ref,
                p.kind.as_str(),
                p.sha
            ),
            now,
        )
        .await?;
    if p.skipped_gate {
        inner
            .store
            .note(
                Some(d.id),
                &d.requested_by,
                "gate_skipped",
                &format!(
                    "#{} deploy! by {}: the CI gate was skipped for {}",
                    d.id, d.requested_by, p.sha
                ),
                now,
            )
            .await?;
    }
    inner.source.remember(d.id, p.text.clone());
    Ok(())
}

/// What [`at_start`] decided.
pub(super) enum AtStart {
    Go(Tracking),
    Refused(String),
    /// Cancelled while it waited, or deckhand is stopping (it stays queued).
    Stop,
}

/// The GitHub deployment of a running deploy, for its final status.
#[derive(Default)]
pub(super) struct Tracking {
    repo: Option<RepoName>,
    deployment: Option<i64>,
    /// The deployment of the deploy that was live before: inactive once this one succeeds.
    replaces: Option<i64>,
}

/// When a deploy's turn comes: says whether its branch moved since it was approved, holds it
/// while CI is pending (up to `wait_for_checks`), refuses it when CI is red, and creates its
/// GitHub deployment (`in_progress`).
pub(super) async fn at_start(
    inner: &Arc<Inner>,
    d: &Deploy,
    status: &StatusLine,
    cancel: &CancelFlag,
) -> anyhow::Result<AtStart> {
    let (Some(recipe), Some(sha)) = (inner.config.app(&d.app), d.commit_sha.as_deref()) else {
        return Ok(AtStart::Go(Tracking::default()));
    };
    let (Some(repo), Some(gh)) = (&recipe.repo, &inner.source.client) else {
        return Ok(AtStart::Go(Tracking::default()));
    };
    if let Some(note) = inner.source.note(d.id) {
        status.set_footer(&note);
    }
    moved(inner, gh.as_ref(), repo, d, sha).await?;
    if d.kind == DeployKind::Deploy && !d.force {
        match wait_for_green(
            inner,
            gh.as_ref(),
            repo,
            &recipe.required_checks,
            d,
            sha,
            status,
            cancel,
        )
        .await?
        {
            AtStart::Go(_) => {}
            other => return Ok(other),
        }
    }
    Ok(AtStart::Go(
        deployment(inner, gh.as_ref(), repo, d, sha).await?,
    ))
}

/// A branch that moved since the request: the approved commit runs, and the channel is told.
async fn moved(
    inner: &Inner,
    gh: &dyn GitHub,
    repo: &RepoName,
    d: &Deploy,
    sha: &str,
) -> anyhow::Result<()> {
    if is_full_sha(d.git_ref.as_str()) || d.kind == DeployKind::Rollback {
        return Ok(());
    }
    let now_at = match gh.resolve(repo, d.git_ref.as_str()).await {
        Ok(r) if r.ref_kind == RefKind::Branch && r.sha != sha => r.sha,
        Ok(_) => return Ok(()),
        Err(e) => {
            // Only a courtesy: the approved commit is what runs either way.
            tracing::info!(
                "#{}: could not see whether `{}` moved: {e}",
                d.id,
                d.git_ref
            );
            return Ok(());
        }
    };
    let text = format!(
        "#{}: branch `{}` moved to {} since it was requested; deploying the approved commit {}.",
        d.id,
        d.git_ref,
        short(&now_at),
        short(sha)
    );
    inner
        .store
        .note(Some(d.id), ACTOR, "moved", &text, inner.clock.now())
        .await?;
    inner.say(&d.channel, &text).await;
    Ok(())
}

/// Asks for the commit's checks until they are green (`Go`), red, or pending for longer than
/// `wait_for_checks` (`Refused`); GitHub failing meanwhile is shown and asked again.
#[allow(clippy::too_many_arguments)]
async fn wait_for_green(
    inner: &Inner,
    gh: &dyn GitHub,
    repo: &RepoName,
    required: &[String],
    d: &Deploy,
    sha: &str,
    status: &StatusLine,
    cancel: &CancelFlag,
) -> anyhow::Result<AtStart> {
    let wait = inner.config.github.wait_for_checks;
    // Often enough that a short wait is not overshot by much, never more than every 10 s.
    let every = (wait / 20).clamp(Duration::from_millis(100), Duration::from_secs(10));
    let started = tokio::time::Instant::now();
    let mut said = String::new();
    // Waiting for CI, like waiting out a freeze (`gate`), holds the target parked: `/wait` and
    // the console's end of input do not wait for it (it stays queued and is put back in line).
    let parked = Parked::new(inner, d.id);
    loop {
        if cancel.asked() || inner.stopping.load(Ordering::SeqCst) {
            return Ok(AtStart::Stop);
        }
        let why = match gh.checks(repo, sha).await {
            Ok(checks) => match ci::verdict(&checks, required) {
                Verdict::Green { .. } => return Ok(AtStart::Go(Tracking::default())),
                Verdict::Red(failing) => {
                    return Ok(AtStart::Refused(format!(
                        "CI is red on {}: {} failed",
                        short(sha),
                        ci::describe_failing(&failing)
                    )));
                }
                Verdict::Pending(names) => format!("pending ({})", names.join(", ")),
            },
            Err(e) => format!("not readable ({e})"),
        };
        if started.elapsed() >= wait {
            return Ok(AtStart::Refused(format!(
                "CI on {} was still {why} after {}; gave up",
                short(sha),
                format::duration(wait)
            )));
        }
        parked.park();
        if why != said {
            status
                .set(&format!(
                    "waiting for CI on {}: {why}; starts once green, gives up after {}",
                    short(sha),
                    format::duration(wait)
                ))
                .await;
            inner
                .store
                .note(
                    Some(d.id),
                    ACTOR,
                    "held",
                    &format!("#{} waits for CI on {}: {why}", d.id, short(sha)),
                    inner.clock.now(),
                )
                .await?;
            said = why;
        }
        tokio::time::sleep(every).await;
    }
}

/// A deploy parked while it waits for CI; unparked however the wait ends.
struct Parked<'a> {
    inner: &'a Inner,
    id: DeployId,
}

impl<'a> Parked<'a> {
    fn new(inner: &'a Inner, id: DeployId) -> Self {
        Parked { inner, id }
    }

    fn park(&self) {
        if self
            .inner
            .parked
            .lock()
            .expect("parked lock")
            .insert(self.id)
        {
            self.inner.changed.notify_waiters();
        }
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.inner
            .parked
            .lock()
            .expect("parked lock")
            .remove(&self.id);
    }
}

/// Creates the deploy's GitHub deployment and marks it `in_progress`. A failure is said and
/// logged; the deploy goes on without one.
async fn deployment(
    inner: &Inner,
    gh: &dyn GitHub,
    repo: &RepoName,
    d: &Deploy,
    sha: &str,
) -> anyhow::Result<Tracking> {
    let replaces = match inner
        .store
        .live(Some(&d.app), Some(&d.env))
        .await?
        .into_iter()
        .next()
    {
        Some(live) if live.id != d.id => inner.store.github_deployment(live.id).await?,
        _ => None,
    };
    let mut tracking = Tracking {
        repo: Some(repo.clone()),
        deployment: None,
        replaces,
    };
    let description = format!("deckhand #{} by {}", d.id, d.requested_by);
    let created = async {
        let id = gh
            .create_deployment(repo, sha, d.env.as_str(), &description)
            .await?;
        inner
            .store
            .set_github_deployment(d.id, id)
            .await
            .map_err(|e| crate::github::GhError::Unexpected(format!("{e:#}")))?;
        gh.deployment_status(
            repo,
            id,
            DeploymentState::InProgress,
            &description,
            log_url(inner, d.id).as_deref(),
        )
        .await?;
        Ok::<i64, crate::github::GhError>(id)
    }
    .await;
    match created {
        Ok(id) => tracking.deployment = Some(id),
        Err(e) => {
            tracing::warn!("#{}: GitHub deployment not recorded: {e}", d.id);
            inner
                .say(
                    &d.channel,
                    &format!(
                        "#{}: the deploy goes on, but GitHub's deployment history will not show it: {e}.",
                        d.id
                    ),
                )
                .await;
        }
    }
    Ok(tracking)
}

/// The final status of the deploy's GitHub deployment (`success`, or `failure` with the
/// reason), and `inactive` for the one it replaced once it succeeded. Failures are logged.
pub(super) async fn finished(inner: &Inner, d: &Deploy, t: &Tracking, success: bool, why: &str) {
    let (Some(repo), Some(id), Some(gh)) = (&t.repo, t.deployment, &inner.source.client) else {
        return;
    };
    let log = log_url(inner, d.id);
    let (state, text) = if success {
        (DeploymentState::Success, format!("#{} succeeded", d.id))
    } else {
        (DeploymentState::Failure, format!("#{}: {why}", d.id))
    };
    if let Err(e) = gh
        .deployment_status(repo, id, state, &text, log.as_deref())
        .await
    {
        tracing::warn!("#{}: GitHub deployment status not recorded: {e}", d.id);
    }
    if success && let Some(old) = t.replaces {
        let text = format!("replaced by deckhand #{}", d.id);
        if let Err(e) = gh
            .deployment_status(repo, old, DeploymentState::Inactive, &text, None)
            .await
        {
            tracing::warn!(
                "#{}: the replaced GitHub deployment {old} stays active: {e}",
                d.id
            );
        }
    }
}

/// An interrupted deploy's GitHub deployment (deckhand stopped while it ran) gets `error`, so
/// it does not stay `in_progress` on GitHub. Failures are logged.
pub(super) async fn interrupted(inner: &Inner, d: &Deploy) {
    let Some(repo) = inner.config.app(&d.app).and_then(|r| r.repo.as_ref()) else {
        return;
    };
    let Some(gh) = &inner.source.client else {
        return;
    };
    let id = match inner.store.github_deployment(d.id).await {
        Ok(Some(id)) => id,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("#{}: reading its GitHub deployment: {e:#}", d.id);
            return;
        }
    };
    let text = format!("#{} interrupted: deckhand stopped while it ran", d.id);
    if let Err(e) = gh
        .deployment_status(
            repo,
            id,
            DeploymentState::Error,
            &text,
            log_url(inner, d.id).as_deref(),
        )
        .await
    {
        tracing::warn!("#{}: GitHub deployment {id} stays in progress: {e}", d.id);
    }
}

/// `<public_url>/deploys/<id>` when deckhand's HTTP endpoint has a public URL.
fn log_url(inner: &Inner, id: DeployId) -> Option<String> {
    inner
        .config
        .github
        .public_url
        .as_ref()
        .map(|u| format!("{u}/deploys/{id}"))
}

/// How `live` and `history` show a deploy's commit: the short SHA and its page, when the
/// app's recipe names a repository.
pub(super) fn commit_link(inner: &Inner, d: &Deploy) -> Option<String> {
    let sha = d.commit_sha.as_deref()?;
    let link = inner
        .config
        .app(&d.app)
        .and_then(|r| r.repo.as_ref())
        .zip(inner.source.client.as_ref())
        .map(|(repo, gh)| format!(" {}", gh.commit_url(repo, sha)))
        .unwrap_or_default();
    Some(format!("{}{link}", short(sha)))
}
