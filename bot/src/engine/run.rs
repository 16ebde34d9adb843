//! Running a deploy: batches of hosts, steps, health checks, rollback, the final word.

use super::Inner;
use super::progress::{Pump, StatusLine};
use crate::config::{HealthCheck, Host, Recipe, RecipeEnv, Task};
use crate::core::command::DeployId;
use crate::core::format::{self, deploy_label};
use crate::core::layout::{self, PlannedStep};
use crate::core::lifecycle::DeployState;
use crate::core::{plan, policy};
use crate::exec::{Exit, Job, Place};
use crate::store::{Deploy, DeployKind};
use futures::future::join_all;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const ACTOR: &str = "deckhand";
/// A version probe is a quick read; it must not hold a deploy for long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// A request to stop a running deploy after its current step, and who made it.
#[derive(Default)]
pub struct CancelFlag {
    asked: AtomicBool,
    by: OnceLock<String>,
}

impl CancelFlag {
    /// Asks the deploy to stop. `Err` names whoever asked first: the deploy is already
    /// stopping, and the first person stays the one who cancelled it.
    pub fn ask(&self, user: &str) -> Result<(), String> {
        let first = self.by.set(user.to_owned());
        self.asked.store(true, Ordering::SeqCst);
        first.map_err(|_| self.by().unwrap_or_default().to_owned())
    }

    pub fn asked(&self) -> bool {
        self.asked.load(Ordering::SeqCst)
    }

    /// Who asked first, once someone has.
    pub fn by(&self) -> Option<&str> {
        self.by.get().map(String::as_str)
    }
}

/// Starts deploys whose turn has come, one task each. A separate task (rather than each
/// deploy spawning its successor) keeps the ownership simple and the futures non-recursive.
pub async fn dispatcher(inner: Weak<Inner>, mut starts: mpsc::UnboundedReceiver<DeployId>) {
    while let Some(id) = starts.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        tokio::spawn(async move {
            let next = run_and_release(&inner, id).await;
            if let Some(next) = next {
                let _ = inner.start_tx.send(next);
            }
            inner.changed.notify_waiters();
        });
    }
}

/// Runs a deploy to its end, then frees its target; returns the next deploy to start there.
async fn run_and_release(inner: &Arc<Inner>, id: DeployId) -> Option<DeployId> {
    let flag = Arc::new(CancelFlag::default());
    inner
        .cancels
        .lock()
        .expect("cancels lock")
        .insert(id, flag.clone());
    let mut opened: Vec<Place> = Vec::new();
    let result = run(inner, id, &flag, &mut opened).await;
    // Whatever way the deploy ended, give back the connections it opened.
    inner.exec.close(&opened.iter().collect::<Vec<_>>()).await;
    let target = match result {
        Ok(target) => target,
        Err(err) => {
            tracing::error!("deploy #{id} failed inside deckhand: {err:#}");
            let _ = inner
                .store
                .transition(
                    id,
                    DeployState::Failed,
                    ACTOR,
                    Some("deckhand hit an internal error; see its log"),
                    inner.clock.now(),
                )
                .await;
            inner
                .store
                .deploy(id)
                .await
                .ok()
                .flatten()
                .map(|d| (d.app.to_string(), d.env.to_string()))
        }
    };
    inner.cancels.lock().expect("cancels lock").remove(&id);
    inner.flush_output().await;
    let target = target?;
    inner
        .queues
        .lock()
        .expect("queues lock")
        .finish(&target, id)
}

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

struct Ctx<'a> {
    inner: &'a Arc<Inner>,
    deploy: &'a Deploy,
    recipe: &'a Recipe,
    renv: &'a RecipeEnv,
    pump: &'a Pump,
    cancel: &'a CancelFlag,
    status: &'a StatusLine,
    /// What each host ran before this deploy, for rollback (`DECKHAND_PREVIOUS_VERSION`).
    previous: HashMap<String, String>,
    /// Hosts that still hold this rollback's release, complete and not bad: they only switch.
    switch_only: HashSet<String>,
    total_hosts: usize,
}

/// Runs one deploy; returns its target (app, env) so the caller can free it. The places whose
/// connections it opened are added to `opened`, for the caller to close.
async fn run(
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

    match inner
        .store
        .transition(id, DeployState::Running, ACTOR, None, inner.clock.now())
        .await
    {
        Ok(_) => {}
        // Cancelled while it waited at the gate.
        Err(crate::store::TransitionError::NotAllowed { .. }) => return Ok(target),
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
    Ok(target)
}

/// Opens the connections of every host of a deploy at once (adding those opened to
/// `opened`); `Err` says which hosts could not be reached, and why.
async fn reach_all(
    inner: &Inner,
    renv: &RecipeEnv,
    hosts: &[&Host],
    status: &StatusLine,
    opened: &mut Vec<Place>,
) -> Result<(), String> {
    if hosts
        .iter()
        .all(|h| h.address == crate::config::HostAddress::Local)
    {
        return Ok(());
    }
    status.set("connecting to the hosts").await;
    let mut failed = Vec::new();
    for (place, result) in reach(inner, renv, hosts).await {
        match result {
            Ok(()) => opened.push(place),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Opens what `hosts` of `renv` need, all at once: each host's place with how that went.
/// Whatever was reached must be given back with `Executor::close`.
pub(super) async fn reach(
    inner: &Inner,
    renv: &RecipeEnv,
    hosts: &[&Host],
) -> Vec<(Place, Result<(), crate::exec::ExecError>)> {
    let places: Vec<Place> = hosts.iter().map(|h| Place::of(renv, h)).collect();
    let named: Vec<(&str, &Place)> = hosts
        .iter()
        .zip(&places)
        .map(|(h, p)| (h.name.as_str(), p))
        .collect();
    let results = inner.exec.reach(&named).await;
    places.into_iter().zip(results).collect()
}

/// Gives back the connections [`reach`] opened (those it reached).
pub(super) async fn close_reached(
    inner: &Inner,
    reached: &[(Place, Result<(), crate::exec::ExecError>)],
) {
    let opened: Vec<&Place> = reached
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(p, _)| p)
        .collect();
    inner.exec.close(&opened).await;
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

/// What the policy says when a deploy's turn comes.
enum Gate {
    Go,
    Refused(String),
    Cancelled,
    /// deckhand is stopping: the deploy stays queued for the next start.
    Stopping,
}

/// Holds the deploy at the head of its queue while a freeze or a lock is in the way, saying
/// why (once per reason) and trying again every second; returns when it may go, must not, or
/// was cancelled.
async fn gate(
    inner: &Arc<Inner>,
    d: &Deploy,
    status: &StatusLine,
    cancel: &CancelFlag,
) -> anyhow::Result<Gate> {
    let mut said: Option<String> = None;
    let unpark = || {
        inner.parked.lock().expect("parked lock").remove(&d.id);
    };
    loop {
        if cancel.asked() {
            unpark();
            return Ok(Gate::Cancelled);
        }
        if inner.stopping.load(Ordering::SeqCst) {
            unpark();
            return Ok(Gate::Stopping);
        }
        let Some(env_policy) = inner.config.env(&d.env) else {
            unpark();
            return Ok(Gate::Refused("the env is no longer configured".to_owned()));
        };
        let now = inner.clock.now();
        let (locks, freezes) = inner.policy_state(now).await?;
        let emergency_approvers = match &d.emergency {
            Some(_) => {
                let rule = policy::emergency_rule(env_policy);
                let votes = inner.store.approvals(d.id).await?;
                match policy::tally(
                    &inner.config,
                    &rule,
                    &d.requested_by,
                    votes
                        .iter()
                        .map(|v| (v.user.as_str(), v.verdict == crate::store::Verdict::Approve)),
                ) {
                    policy::Tally::Approved { by } | policy::Tally::Pending { by, .. } => {
                        by.len() as u32
                    }
                    policy::Tally::Denied { .. } => 0,
                }
            }
            None => 0,
        };
        let req = policy::Request {
            app: &d.app,
            env: &d.env,
            user: &d.requested_by,
            emergency: d.emergency.as_deref(),
            channel: &d.channel,
        };
        let facts = policy::Facts {
            now,
            locks: &locks,
            freezes: &freezes,
        };
        match policy::at_start(&inner.config, env_policy, req, emergency_approvers, facts) {
            policy::AtStart::Go => {
                unpark();
                return Ok(Gate::Go);
            }
            policy::AtStart::Refused(r) => {
                unpark();
                return Ok(Gate::Refused(r.0));
            }
            policy::AtStart::Wait(why) => {
                let fresh = inner.parked.lock().expect("parked lock").insert(d.id);
                if fresh {
                    inner.changed.notify_waiters();
                }
                if said.as_deref() != Some(why.as_str()) {
                    status.set(&why).await;
                    inner
                        .store
                        .note(
                            Some(d.id),
                            ACTOR,
                            "held",
                            &format!("#{} held at start: {why}", d.id),
                            now,
                        )
                        .await?;
                    said = Some(why);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
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
fn job(ctx: &Ctx<'_>, host: &Host, script: &str, timeout: Duration, previous: Option<&str>) -> Job {
    let d = ctx.deploy;
    let mut vars = vec![
        ("DECKHAND_APP".to_owned(), d.app.to_string()),
        ("DECKHAND_ENV".to_owned(), d.env.to_string()),
        ("DECKHAND_VERSION".to_owned(), d.version.clone()),
        ("DECKHAND_REF".to_owned(), d.git_ref.to_string()),
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

/// Asks every host what it runs now (the recipe's version probe), in parallel.
async fn probe_all(ctx: &Ctx<'_>, hosts: &[&Host]) -> HashMap<String, String> {
    let Some(probe) = &ctx.recipe.version_probe else {
        return HashMap::new();
    };
    let found = join_all(hosts.iter().map(|h| async move {
        (
            h.name.to_string(),
            probe_host(ctx.inner, ctx.deploy, &Place::of(ctx.renv, h), h, probe).await,
        )
    }))
    .await;
    found
        .into_iter()
        .filter_map(|(h, v)| v.map(|v| (h, v)))
        .collect()
}

/// Under the release layout, a `rollback` deploy asks each host whether it still holds the
/// release, complete and not marked bad: those hosts only switch `current` back to it.
async fn releases_present(ctx: &Ctx<'_>, hosts: &[&Host]) -> HashSet<String> {
    let found = join_all(hosts.iter().map(|h| async move {
        let job = Job {
            look_only: true,
            ..job(ctx, h, layout::HAS_RELEASE, PROBE_TIMEOUT, None)
        };
        let answer = look(ctx.inner, &job).await;
        (
            h.name.to_string(),
            answer.as_deref() == Some(layout::RELEASE_COMPLETE),
        )
    }))
    .await;
    found
        .into_iter()
        .filter_map(|(h, complete)| complete.then_some(h))
        .collect()
}

/// Runs a look-only job; the first non-empty line it printed on stdout, if it succeeded.
async fn look(inner: &Inner, job: &Job) -> Option<String> {
    let (tx, mut rx) = mpsc::channel(64);
    let (result, first) = tokio::join!(inner.exec.run(job, tx), async {
        let mut first = None;
        while let Some(line) = rx.recv().await {
            if first.is_none()
                && line.stream == crate::exec::Stream::Stdout
                && !line.text.trim().is_empty()
            {
                first = Some(line.text.trim().to_owned());
            }
        }
        first
    });
    match result {
        Ok(exit) if exit.success() => first,
        _ => None,
    }
}

/// Runs the version probe on one host; its first non-empty line of output, if any.
pub async fn probe_host(
    inner: &Inner,
    d: &Deploy,
    place: &Place,
    host: &Host,
    probe: &str,
) -> Option<String> {
    probe_at(inner, d.app.as_str(), d.env.as_str(), place, host, probe).await
}

/// The version probe for an app/env/host, outside any deploy (`live --check`).
pub async fn probe_at(
    inner: &Inner,
    app: &str,
    env: &str,
    place: &Place,
    host: &Host,
    probe: &str,
) -> Option<String> {
    let job = Job {
        app: app.to_owned(),
        env: env.to_owned(),
        host: host.name.to_string(),
        place: place.clone(),
        script: probe.to_owned(),
        vars: vec![
            ("DECKHAND_APP".to_owned(), app.to_owned()),
            ("DECKHAND_ENV".to_owned(), env.to_owned()),
            ("DECKHAND_HOST".to_owned(), host.name.to_string()),
        ],
        timeout: PROBE_TIMEOUT,
        look_only: true,
        tag: None,
        halt: inner.halt.clone(),
    };
    look(inner, &job).await
}

/// Health check on one host, tried up to `retries` times.
async fn health(ctx: &Ctx<'_>, host: &Host, check: &HealthCheck) -> Result<(), String> {
    let (tries, interval) = match check {
        HealthCheck::Http {
            retries, interval, ..
        }
        | HealthCheck::Command {
            retries, interval, ..
        } => ((*retries).max(1), *interval),
    };
    let mut last = String::new();
    for attempt in 1..=tries {
        let result = match check {
            HealthCheck::Http {
                url,
                expect_status,
                timeout,
                ..
            } => {
                let url = health_url(url, host);
                crate::exec::health::http_check(&url, *expect_status, *timeout).await
            }
            HealthCheck::Command { run, timeout, .. } => {
                let job = job(ctx, host, run, *timeout, None);
                match ctx.inner.exec.run(&job, ctx.pump.sender()).await {
                    Ok(exit) if exit.success() => Ok(()),
                    Ok(exit) => Err(format!("the check ended with {exit}")),
                    Err(e) => Err(format!("{:#}", anyhow::Error::from(e))),
                }
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        if attempt < tries {
            tokio::time::sleep(interval).await;
        }
    }
    ctx.pump.flush().await;
    Err(format!(
        "{last} (tried {tries} time{})",
        if tries == 1 { "" } else { "s" }
    ))
}

/// A health check's URL for one host: `{host}` is the host's name in the recipe, `{address}`
/// the network address deckhand reaches it at (an SSH host's host part; `127.0.0.1` for a
/// local host), so a host named `api-1` at `deploy@10.0.0.5` can be checked at its address.
fn health_url(url: &str, host: &Host) -> String {
    let address = match &host.address {
        crate::config::HostAddress::Ssh { host, .. } => host.as_str(),
        crate::config::HostAddress::Local => "127.0.0.1",
    };
    url.replace("{host}", host.name.as_str())
        .replace("{address}", address)
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
