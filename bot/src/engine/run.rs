//! The rollout of one deploy: batches of hosts, steps, health checks, rollback, the final word.
//! Its turn comes through `dispatch`, the policy is checked again in `gate`, and hosts are reached
//! and looked at through `hosts`.

use super::Inner;
use super::dispatch::CancelFlag;
use super::gate::{Gate, gate};
use super::hosts::{health, probe_all, reach_all, releases_present};
use super::progress::{Pump, StatusLine};
use crate::config::{Host, Recipe, RecipeEnv, Task};
use crate::core::command::DeployId;
use crate::core::format::{self, deploy_label};
use crate::core::layout::{self, PlannedStep};
use crate::core::lifecycle::DeployState;
use crate::core::plan;
use crate::exec::{Exit, Job, Place};
use crate::store::{Deploy, DeployKind};
use futures::future::join_all;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The actor of what deckhand does by itself.
pub(super) const ACTOR: &str = "deckhand";

/// How a rollout ended.
enum Outcome {
    Done,
    StepFailed {
        host: String,
        step: String,
        why: String,
    },
    HealthFailed {
        host: String,
        why: String,
    },
    Cancelled,
}

/// What happened on one host.
#[derive(Default)]
struct HostRun {
    /// At least one step began: the host may have changed and needs rolling back on failure.
    touched: bool,
    failure: Option<HostFailure>,
}

/// Why a host stopped before its last step.
enum HostFailure {
    Cancelled,
    Step { step: String, why: String },
}

pub(super) struct Ctx<'a> {
    pub(super) inner: &'a Arc<Inner>,
    pub(super) deploy: &'a Deploy,
    pub(super) recipe: &'a Recipe,
    pub(super) renv: &'a RecipeEnv,
    pub(super) pump: &'a Pump,
    pub(super) cancel: &'a CancelFlag,
    pub(super) status: &'a StatusLine,
    /// What each host ran before this deploy, for rollback (`DECKHAND_PREVIOUS_VERSION`).
    pub(super) previous: HashMap<String, String>,
    /// Hosts that still hold this rollback's release, complete and not bad: they only switch.
    pub(super) switch_only: HashSet<String>,
    pub(super) total_hosts: usize,
}

/// Runs one deploy; returns its target (app, env) so the caller can free it. The places whose
/// connections it opened are added to `opened`, for the caller to close.
pub(super) async fn run(
    inner: &Arc<Inner>,
    id: DeployId,
    cancel: &CancelFlag,
    opened: &mut Vec<Place>,
) -> anyhow::Result<Option<(String, String)>> {
    let Some(d) = inner.store.deploy(id).await? else {
        return Ok(None);
    };
    let target = Some((d.app.to_string(), d.env.to_string()));
    if d.state != DeployState::Queued {
        // Cancelled while it waited for its turn.
        return Ok(target);
    }
    if inner.stopping.load(Ordering::SeqCst) {
        // deckhand is stopping: it stays queued in the log and is put back in line at start.
        return Ok(target);
    }
    let label = label(&d);
    let status = StatusLine::new(
        inner.clone(),
        d.channel.clone(),
        d.status_msg.clone(),
        label.clone(),
    );

    // Policy again, at start: a freeze may have begun or a lock been taken since the request.
    match gate(inner, &d, &status, cancel).await? {
        Gate::Go => {}
        Gate::Cancelled | Gate::Stopping => return Ok(target),
        Gate::Refused(why) => {
            not_started(inner, id, &status, &why).await?;
            return Ok(target);
        }
    }
    // The configuration may have changed since the request (a restart with a new one).
    let (recipe, renv, hosts, task) = match still_configured(inner, &d) {
        Ok(found) => found,
        Err(why) => {
            not_started(inner, id, &status, why).await?;
            return Ok(target);
        }
    };

    // A repo-backed app: its CI gate, and its GitHub deployment.
    let tracking = match super::source::at_start(inner, &d, &status, cancel).await? {
        super::source::AtStart::Go(t) => t,
        super::source::AtStart::Stop => return Ok(target),
        super::source::AtStart::Refused(why) => {
            not_started(inner, id, &status, &why).await?;
            inner
                .say(&d.channel, &format!("{label} not started: {why}."))
                .await;
            return Ok(target);
        }
    };

    match inner
        .store
        .transition(id, DeployState::Running, ACTOR, None, inner.clock.now())
        .await
    {
        Ok(_) => {}
        // Cancelled while it waited at the gate.
        Err(crate::store::TransitionError::NotAllowed { .. }) => {
            super::source::finished(inner, &d, &tracking, false, "cancelled before it started")
                .await;
            return Ok(target);
        }
        Err(e) => return Err(e.into()),
    }
    let started = Instant::now();
    // Every host must answer before any is changed.
    if let Err(why) = reach_all(inner, renv, &hosts, &status, opened).await {
        let reason = format!("{why}; no host was changed");
        end_early(inner, id, &status, DeployState::Failed, &reason).await?;
        inner
            .say(&d.channel, &format!("{label} failed: {reason}."))
            .await;
        // After chat: a slow GitHub delays nobody's reading.
        super::source::finished(inner, &d, &tracking, false, &reason).await;
        return Ok(target);
    }
    let pump = Pump::spawn(inner.clone(), id, d.channel.clone(), status.msg());
    let mut ctx = Ctx {
        inner,
        deploy: &d,
        recipe,
        renv,
        pump: &pump,
        cancel,
        status: &status,
        previous: HashMap::new(),
        switch_only: HashSet::new(),
        total_hosts: hosts.len(),
    };
    ctx.previous = probe_all(&ctx, &hosts).await;
    if d.kind == DeployKind::Rollback
        && matches!(recipe.layout, crate::config::Layout::Releases { .. })
    {
        ctx.switch_only = releases_present(&ctx, &hosts).await;
    }

    let batches = plan::batches(hosts.len(), &renv.strategy);
    let mut touched: Vec<&Host> = Vec::new();
    let mut health_report: Vec<String> = Vec::new();
    let mut outcome = Outcome::Done;
    let mut state = DeployState::Running;
    'rollout: for (bi, batch) in batches.iter().enumerate() {
        if cancel.asked() {
            outcome = Outcome::Cancelled;
            break;
        }
        let batch_hosts = &hosts[batch.clone()];
        if state == DeployState::Verifying {
            inner
                .store
                .transition(id, DeployState::Running, ACTOR, None, inner.clock.now())
                .await?;
            state = DeployState::Running;
        }
        let runs = join_all(batch_hosts.iter().enumerate().map(|(i, h)| {
            let ctx = &ctx;
            let status_idx = batch.start + i + 1;
            async move { run_host(ctx, h, task, status_idx).await }
        }))
        .await;
        let mut runs = runs.into_iter();
        for (h, r) in batch_hosts.iter().zip(runs.by_ref()) {
            let r = r?;
            if r.touched {
                touched.push(h);
            }
            if matches!(outcome, Outcome::Done) {
                outcome = match r.failure {
                    None => Outcome::Done,
                    Some(HostFailure::Cancelled) => Outcome::Cancelled,
                    Some(HostFailure::Step { step, why }) => Outcome::StepFailed {
                        host: h.name.to_string(),
                        step,
                        why,
                    },
                };
            }
        }
        if !matches!(outcome, Outcome::Done) {
            break;
        }
        if let Some(check) = &recipe.health {
            inner
                .store
                .transition(id, DeployState::Verifying, ACTOR, None, inner.clock.now())
                .await?;
            state = DeployState::Verifying;
            status
                .set(&format!("batch {}/{}: health check", bi + 1, batches.len()))
                .await;
            let results = join_all(batch_hosts.iter().map(|h| {
                let ctx = &ctx;
                async move { health(ctx, h, check).await }
            }))
            .await;
            for (h, r) in batch_hosts.iter().zip(results) {
                match r {
                    Ok(()) => health_report.push(format!("{} ok", h.name)),
                    Err(why) => {
                        health_report.push(format!("{} failed", h.name));
                        if matches!(outcome, Outcome::Done) {
                            outcome = Outcome::HealthFailed {
                                host: h.name.to_string(),
                                why,
                            };
                        }
                    }
                }
            }
            if inner.halt.is_cancelled() && matches!(outcome, Outcome::HealthFailed { .. }) {
                // Its check was stopped by a shutdown: that says nothing of the version.
                outcome = Outcome::Cancelled;
            }
            if !matches!(outcome, Outcome::Done) {
                break 'rollout;
            }
        }
    }

    // The end: succeed, or roll back what changed.
    let now_elapsed = |s: Instant| format::duration(s.elapsed());
    let health_text = if health_report.is_empty() {
        String::new()
    } else {
        format!(" · health: {}", health_report.join(", "))
    };
    if matches!(outcome, Outcome::Done) {
        pump.close().await;
        inner
            .store
            .transition(id, DeployState::Succeeded, ACTOR, None, inner.clock.now())
            .await?;
        status
            .set(&format!(
                "succeeded in {}{health_text}",
                now_elapsed(started)
            ))
            .await;
        super::source::finished(inner, &d, &tracking, true, "succeeded").await;
        return Ok(target);
    }

    let (why, mark_bad) = match &outcome {
        Outcome::StepFailed { host, step, why } => {
            (format!("step `{step}` failed on {host} ({why})"), false)
        }
        Outcome::HealthFailed { host, why } => {
            (format!("health check failed on {host}: {why}"), true)
        }
        Outcome::Cancelled => match cancel.by() {
            Some(by) => (format!("cancelled by {by}"), false),
            None => ("cancelled".to_owned(), false),
        },
        Outcome::Done => unreachable!("handled above"),
    };
    if mark_bad {
        inner
            .store
            .mark_bad(&d.app, &d.env, &d.version, id, &why, inner.clock.now())
            .await?;
    }
    let rollback = rollback_hosts(&ctx, &touched, mark_bad).await;
    pump.close().await;
    let (final_state, after) = match (&outcome, rollback) {
        (Outcome::Cancelled, RollbackResult::Done(back)) => (DeployState::Cancelled, back),
        (Outcome::Cancelled, other) => (DeployState::Cancelled, other.describe()),
        (_, RollbackResult::Done(back)) => (DeployState::RolledBack, back),
        (_, other) => (DeployState::Failed, other.describe()),
    };
    let reason = format!("{why}; {after}");
    inner
        .store
        .transition(id, final_state, ACTOR, Some(&reason), inner.clock.now())
        .await?;
    let bad = if mark_bad {
        format!(" · {} is marked bad for {}", d.version, d.env)
    } else {
        String::new()
    };
    let verdict = match final_state {
        DeployState::RolledBack => "rolled back",
        DeployState::Cancelled => "cancelled",
        _ => "failed",
    };
    let ended = match &outcome {
        // "cancelled by carol after 2.1s · …": the reason is the verdict.
        Outcome::Cancelled => format!("{why} after {}", now_elapsed(started)),
        _ => format!("{verdict} after {} · {why}", now_elapsed(started)),
    };
    status
        .set(&format!("{ended} · {after}{health_text}{bad}"))
        .await;
    if final_state != DeployState::Cancelled {
        let mut text = format!("{label} {verdict}: {why}. {after}.");
        if mark_bad {
            text.push_str(&format!(
                " {} is now marked bad for {}, so `rollback` will skip it.",
                d.version, d.env
            ));
        }
        inner.say(&d.channel, &text).await;
    }
    // After chat: a slow GitHub delays nobody's reading.
    super::source::finished(inner, &d, &tracking, false, &reason).await;
    Ok(target)
}

/// What a deploy needs from the configuration to run, or why it can no longer run.
fn still_configured<'c>(
    inner: &'c Inner,
    d: &Deploy,
) -> Result<(&'c Recipe, &'c RecipeEnv, Vec<&'c Host>, &'c Task), &'static str> {
    let recipe = inner
        .config
        .app(&d.app)
        .ok_or("the app is no longer in the configuration")?;
    let renv = recipe
        .env(&d.env)
        .ok_or("the env is no longer in the app's recipe")?;
    let hosts = renv
        .select(d.host.as_ref())
        .ok_or("the host is no longer in the recipe")?;
    let task = recipe
        .tasks
        .get(&d.task)
        .ok_or("the task is no longer in the recipe")?;
    Ok((recipe, renv, hosts, task))
}

/// Ends a deploy whose turn came but which may not run, and says why.
async fn not_started(
    inner: &Inner,
    id: DeployId,
    status: &StatusLine,
    why: &str,
) -> anyhow::Result<()> {
    let reason = format!("not started: {why}");
    end_early(inner, id, status, DeployState::Cancelled, &reason).await
}

/// Ends a deploy before any host was touched: records `state` with `reason` and shows it.
async fn end_early(
    inner: &Inner,
    id: DeployId,
    status: &StatusLine,
    state: DeployState,
    reason: &str,
) -> anyhow::Result<()> {
    inner
        .store
        .transition(id, state, ACTOR, Some(reason), inner.clock.now())
        .await?;
    let shown = match state {
        DeployState::Failed => format!("failed: {reason}"),
        _ => reason.to_owned(),
    };
    status.set(&shown).await;
    Ok(())
}

/// Runs a task's steps on one host, stopping at the first failure or a cancel.
async fn run_host(
    ctx: &Ctx<'_>,
    host: &Host,
    task: &Task,
    host_idx: usize,
) -> anyhow::Result<HostRun> {
    let d = ctx.deploy;
    let mut out = HostRun::default();
    let steps = if ctx.switch_only.contains(host.name.as_str()) {
        layout::switch_only()
    } else {
        layout::task_steps(ctx.recipe.layout, &d.task, task)
    };
    let n = steps.len();
    for (i, step) in steps.iter().enumerate() {
        if ctx.cancel.asked() {
            out.failure = Some(HostFailure::Cancelled);
            return Ok(out);
        }
        out.touched = true;
        let text = format!(
            "host {host_idx}/{}, step {}/{n} ({})",
            ctx.total_hosts,
            i + 1,
            step.name
        );
        ctx.status.set(&text).await;
        let step_id = ctx
            .inner
            .store
            .start_step(
                d.id,
                host.name.as_str(),
                &d.task,
                i as u32,
                &step.name,
                ctx.inner.clock.now(),
            )
            .await?;
        let job = job(
            ctx,
            host,
            &step.script,
            step.timeout.unwrap_or(ctx.recipe.step_timeout),
            None,
        );
        let result = ctx.inner.exec.run(&job, ctx.pump.sender()).await;
        ctx.pump.flush().await;
        if let Ok(Exit::Stopped) = result {
            ctx.inner
                .store
                .finish_step(step_id, None, "stopped", ctx.inner.clock.now())
                .await?;
            out.failure = Some(HostFailure::Cancelled);
            return Ok(out);
        }
        let (code, outcome, failure) = match result {
            Ok(Exit::Code(0)) => (Some(0), "ok", None),
            Ok(Exit::Code(c)) => (Some(c), "failed", Some(format!("exit code {c}"))),
            Ok(Exit::TimedOut) => (
                None,
                "timed_out",
                Some(format!("timed out after {}", format::duration(job.timeout))),
            ),
            Ok(Exit::Signal(s)) => (None, "failed", Some(format!("killed by signal {s}"))),
            Ok(Exit::Stopped) => unreachable!("handled above"),
            Err(e) => (None, "error", Some(format!("{:#}", anyhow::Error::from(e)))),
        };
        ctx.inner
            .store
            .finish_step(step_id, code, outcome, ctx.inner.clock.now())
            .await?;
        if let Some(why) = failure {
            out.failure = Some(HostFailure::Step {
                step: step.name.to_string(),
                why,
            });
            return Ok(out);
        }
    }
    Ok(out)
}

/// The values a step sees. All are environment variables: nothing is pasted into the script.
pub(super) fn job(
    ctx: &Ctx<'_>,
    host: &Host,
    script: &str,
    timeout: Duration,
    previous: Option<&str>,
) -> Job {
    let d = ctx.deploy;
    let mut vars = vec![
        ("DECKHAND_APP".to_owned(), d.app.to_string()),
        ("DECKHAND_ENV".to_owned(), d.env.to_string()),
        ("DECKHAND_VERSION".to_owned(), d.version.clone()),
        ("DECKHAND_REF".to_owned(), d.git_ref.to_string()),
        // The commit approved (empty when the recipe names no repo).
        (
            "DECKHAND_SHA".to_owned(),
            d.commit_sha.clone().unwrap_or_default(),
        ),
        ("DECKHAND_HOST".to_owned(), host.name.to_string()),
        ("DECKHAND_DEPLOY_ID".to_owned(), d.id.to_string()),
        ("DECKHAND_TASK".to_owned(), d.task.clone()),
        ("DECKHAND_USER".to_owned(), d.requested_by.clone()),
        (
            "DECKHAND_KIND".to_owned(),
            match d.kind {
                DeployKind::Deploy => "deploy".to_owned(),
                DeployKind::Rollback => "rollback".to_owned(),
            },
        ),
    ];
    let prev = previous
        .map(str::to_owned)
        .or_else(|| ctx.previous.get(host.name.as_str()).cloned());
    vars.extend(layout::vars(ctx.recipe.layout, &d.version, prev.as_deref()));
    vars.push((
        "DECKHAND_PREVIOUS_VERSION".to_owned(),
        prev.unwrap_or_default(),
    ));
    Job {
        app: d.app.to_string(),
        env: d.env.to_string(),
        host: host.name.to_string(),
        place: Place::of(ctx.renv, host),
        script: script.to_owned(),
        vars,
        timeout,
        look_only: false,
        tag: Some(crate::exec::step_tag(&ctx.inner.log_tag, d.id)),
        halt: ctx.inner.halt.clone(),
    }
}

enum RollbackResult {
    /// Every touched host is back; the text says on what.
    Done(String),
    NoRecipe(Vec<String>),
    Failed(Vec<String>),
}

impl RollbackResult {
    fn describe(&self) -> String {
        match self {
            RollbackResult::Done(s) => s.clone(),
            RollbackResult::NoRecipe(hosts) => format!(
                "the recipe has no rollback, so {} stay(s) on the new version",
                hosts.join(", ")
            ),
            RollbackResult::Failed(hosts) => format!(
                "rollback FAILED on {}: check them by hand",
                hosts.join(", ")
            ),
        }
    }
}

/// Rolls back the hosts a failed or cancelled deploy touched, in parallel; under the release
/// layout the release is marked bad first when its health check failed (`mark_bad`).
async fn rollback_hosts(ctx: &Ctx<'_>, touched: &[&Host], mark_bad: bool) -> RollbackResult {
    if touched.is_empty() {
        return RollbackResult::Done("no host was changed".to_owned());
    }
    let names: Vec<String> = touched.iter().map(|h| h.name.to_string()).collect();
    let Some(steps) =
        layout::rollback_steps(ctx.recipe.layout, ctx.recipe.rollback.as_ref(), mark_bad)
    else {
        return RollbackResult::NoRecipe(names);
    };
    let steps: &[PlannedStep<'_>] = &steps;
    ctx.status
        .set(&format!("rolling back {}", names.join(", ")))
        .await;
    let results = join_all(touched.iter().map(|h| async move {
        for step in steps {
            let job = Job {
                // A shutdown stops deploy steps, never the rollback that follows them.
                halt: Default::default(),
                ..job(
                    ctx,
                    h,
                    &step.script,
                    step.timeout.unwrap_or(ctx.recipe.step_timeout),
                    None,
                )
            };
            match ctx.inner.exec.run(&job, ctx.pump.sender()).await {
                Ok(exit) if exit.success() => {}
                _ => return false,
            }
        }
        true
    }))
    .await;
    let failed: Vec<String> = touched
        .iter()
        .zip(&results)
        .filter(|(_, ok)| !**ok)
        .map(|(h, _)| h.name.to_string())
        .collect();
    if !failed.is_empty() {
        return RollbackResult::Failed(failed);
    }
    let back: Vec<String> = touched
        .iter()
        .map(|h| match ctx.previous.get(h.name.as_str()) {
            Some(v) => format!("{} is back on {v}", h.name),
            None => format!("{} is back to no release", h.name),
        })
        .collect();
    RollbackResult::Done(back.join(", "))
}

pub fn label(d: &Deploy) -> String {
    deploy_label(
        d.id,
        d.app.as_str(),
        &d.version,
        d.env.as_str(),
        d.host.as_ref().map(|h| h.as_str()),
    )
}
