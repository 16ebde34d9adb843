//! Deploy requests: `deploy`, `rollback`, `cancel`. Checks names and policy, records the
//! request, and puts it in line (or prints the plan of a dry run).

use super::{Inner, resolve};
use crate::chat::Conversation;
use crate::config::{HealthCheck, Host, Recipe, RecipeEnv};
use crate::core::command::{DeployArgs, DeployId};
use crate::core::lifecycle::DeployState;
use crate::core::names::{AppName, EnvName, GitRef, HostName};
use crate::core::queue::Slot;
use crate::core::{plan, policy};
use crate::store::{Deploy, DeployKind, NewDeploy};
use std::sync::Arc;

/// `deploy …`
pub async fn request(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    args: DeployArgs,
) -> anyhow::Result<()> {
    let config = &inner.config;
    let recipe = match resolve::app(config, &args.app) {
        Ok(r) => r,
        Err(msg) => return refuse(inner, channel, &msg).await,
    };
    let env = args
        .env
        .clone()
        .unwrap_or_else(|| config.bot.default_env.clone());
    let target = match Target::resolve(inner, recipe, &env, args.host.as_ref()) {
        Ok(t) => t,
        Err(msg) => return refuse(inner, channel, &msg).await,
    };
    let task = args.task.clone().unwrap_or_else(|| "deploy".to_owned());
    if !recipe.tasks.contains_key(&task) {
        let msg = resolve::unknown(
            &format!("task of {}", recipe.app),
            &task,
            recipe.tasks.keys().map(String::as_str),
        );
        return refuse(inner, channel, &msg).await;
    }
    let git_ref = args
        .git_ref
        .clone()
        .unwrap_or_else(|| recipe.default_ref.clone());
    let new = NewDeploy {
        app: recipe.app.clone(),
        env: env.clone(),
        version: git_ref.to_string(),
        git_ref,
        host: args.host.clone(),
        task,
        kind: DeployKind::Deploy,
        force: args.force,
        emergency: args.emergency.clone(),
        requested_by: user.to_owned(),
        channel: channel.channel.clone(),
        state: DeployState::Approved,
        reason: None,
    };
    if args.dry_run {
        let verdict = verdict(inner, &new).await?;
        return say(
            inner,
            channel,
            &dry_run_plan(&new, recipe, &target, verdict),
        )
        .await;
    }
    submit(inner, channel, new).await
}

/// `rollback <app> in <env> [to <version>]`: a deploy of the last good version.
pub async fn rollback(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    app: AppName,
    env: EnvName,
    version: Option<GitRef>,
) -> anyhow::Result<()> {
    let recipe = match resolve::app(&inner.config, &app) {
        Ok(r) => r,
        Err(msg) => return refuse(inner, channel, &msg).await,
    };
    if let Err(msg) = Target::resolve(inner, recipe, &env, None) {
        return refuse(inner, channel, &msg).await;
    }
    let version = match version {
        Some(v) => v,
        None => match inner.store.last_good(&recipe.app, &env).await? {
            Some(good) => good.git_ref,
            None => {
                let msg = format!(
                    "There is no earlier good version of {} in {env} to roll back to. Name one: `rollback {} in {env} to <version>`.",
                    recipe.app, recipe.app
                );
                return refuse(inner, channel, &msg).await;
            }
        },
    };
    let new = NewDeploy {
        app: recipe.app.clone(),
        env,
        version: version.to_string(),
        git_ref: version,
        host: None,
        task: "deploy".to_owned(),
        kind: DeployKind::Rollback,
        force: false,
        emergency: None,
        requested_by: user.to_owned(),
        channel: channel.channel.clone(),
        state: DeployState::Approved,
        reason: None,
    };
    submit(inner, channel, new).await
}

/// Records a checked request: refused by policy (`blocked`), waiting for approvals, or
/// approved and put in line. Its answer (the status message) goes to `to`, in the thread it
/// was asked in.
async fn submit(inner: &Arc<Inner>, to: &Conversation, mut new: NewDeploy) -> anyhow::Result<()> {
    let now = inner.clock.now();
    let channel = to.clone();
    let mut verdict = verdict(inner, &new).await?;
    // A repo-backed app's ref is pinned to a commit (and CI checked) once the policy allows it.
    let mut pinned = None;
    if !matches!(verdict, policy::AtRequest::Refused(_)) {
        match super::source::pin_in_time(inner, &new).await? {
            Ok(p) => pinned = p,
            Err(msg) => return refuse(inner, &channel, &msg).await,
        }
        if let Some(red) = pinned.as_ref().and_then(|p| p.refusal.clone()) {
            verdict = policy::AtRequest::Refused(policy::Refusal(red));
        }
    }
    // `--emergency` is the way through a freeze. Where nothing is frozen the usual rule
    // applies, as announced: the deploy is recorded as an ordinary one, its reason noted.
    let unneeded = match &verdict {
        policy::AtRequest::NeedsApproval(rule) if rule.emergency => None,
        policy::AtRequest::Refused(_) => None,
        _ => new.emergency.take(),
    };
    let outcome = record(inner, &channel, new, verdict, now, pinned.as_ref()).await?;
    if let (Some(reason), Some(d)) = (unneeded, outcome) {
        let text = format!(
            "#{}: {} is not frozen, so `--emergency` is not needed: this is an ordinary deploy under the usual rules (the reason \"{reason}\" is noted in the log).",
            d.id, d.env
        );
        inner
            .store
            .note(Some(d.id), &d.requested_by, "emergency", &text, now)
            .await?;
        say(inner, &channel, &text).await?;
    }
    Ok(())
}

/// Files the request as the policy decided and answers; the deploy filed.
async fn record(
    inner: &Arc<Inner>,
    channel: &Conversation,
    mut new: NewDeploy,
    verdict: policy::AtRequest,
    now: chrono::DateTime<chrono::Utc>,
    pinned: Option<&super::source::Pinned>,
) -> anyhow::Result<Option<Deploy>> {
    // The commit is recorded before anyone sees the request: approvers approve that commit.
    let pin = async |d: &mut Deploy| -> anyhow::Result<()> {
        match pinned {
            Some(p) => super::source::record_pin(inner, d, p).await,
            None => Ok(()),
        }
    };
    match verdict {
        policy::AtRequest::Refused(refusal) => {
            new.state = DeployState::Blocked;
            new.reason = Some(refusal.0.clone());
            let mut d = inner.store.create_deploy(&new, now).await?;
            pin(&mut d).await?;
            let label = super::run::label(&d);
            let text = format!("{label} refused: {}", refusal.0);
            refuse(inner, channel, &text).await?;
            Ok(Some(d))
        }
        policy::AtRequest::NeedsApproval(rule) => {
            new.state = DeployState::AwaitingApproval;
            let mut d = inner.store.create_deploy(&new, now).await?;
            pin(&mut d).await?;
            let text = super::approval::request_text(inner, &d, &rule, None);
            if let Some(msg) = inner.say_request(channel, &text, d.id).await {
                inner.store.set_status_message(d.id, &msg).await?;
                inner.store.set_approval_message(d.id, &msg).await?;
            }
            Ok(Some(d))
        }
        policy::AtRequest::Go => {
            let mut d = inner.store.create_deploy(&new, now).await?;
            pin(&mut d).await?;
            let (mut text, start) = put_in_line(inner, &d, "deckhand", None).await?;
            if let Some(p) = pinned {
                text.push_str(&format!("\n{}", p.text));
            }
            if let Some(msg) = inner.say(channel, &text).await {
                inner.store.set_status_message(d.id, &msg).await?;
            }
            if let Some(start) = start {
                start.now(inner);
            }
            Ok(Some(d))
        }
    }
}

/// Queues an approved deploy and returns the status text to show and, when its target is
/// free, a [`Start`] to call once that text is posted (so the run edits that message).
/// `approved_by` is said when people approved it.
pub async fn put_in_line(
    inner: &Arc<Inner>,
    d: &Deploy,
    actor: &str,
    approved_by: Option<&str>,
) -> anyhow::Result<(String, Option<Start>)> {
    let d = inner
        .store
        .transition(d.id, DeployState::Queued, actor, None, inner.clock.now())
        .await?;
    let label = super::run::label(&d);
    let what = if d.kind == DeployKind::Rollback {
        "rollback "
    } else {
        ""
    };
    let by = approved_by
        .map(|b| format!("approved by {b} · "))
        .unwrap_or_default();
    let slot = inner
        .queues
        .lock()
        .expect("queues lock")
        .enqueue((d.app.to_string(), d.env.to_string()), d.id);
    let text = match slot {
        Slot::StartNow => format!(
            "{what}{label}: {by}starting (requested by {})",
            d.requested_by
        ),
        Slot::Waiting { position, behind } => format!(
            "{what}{label}: {by}queued behind #{behind}, position {position}. It starts by itself when its turn comes (`cancel #{}` to withdraw it).",
            d.id
        ),
    };
    let start = (slot == Slot::StartNow).then_some(Start(d.id));
    Ok((text, start))
}

/// A deploy whose turn has come, to be started once its status message is in place.
#[must_use = "a deploy holding its target must be started"]
pub struct Start(DeployId);

impl Start {
    pub fn now(self, inner: &Inner) {
        let _ = inner.start_tx.send(self.0);
    }
}

/// The policy's verdict on a request now.
pub async fn verdict(inner: &Inner, new: &NewDeploy) -> anyhow::Result<policy::AtRequest> {
    let Some(env_policy) = inner.config.env(&new.env) else {
        return Ok(policy::AtRequest::Refused(policy::Refusal(format!(
            "{} is not a configured env.",
            new.env
        ))));
    };
    let now = inner.clock.now();
    let (locks, freezes) = inner.policy_state(now).await?;
    let req = policy::Request {
        app: &new.app,
        env: &new.env,
        user: &new.requested_by,
        emergency: new.emergency.as_deref(),
        channel: &new.channel,
    };
    Ok(policy::at_request(
        &inner.config,
        env_policy,
        req,
        policy::Facts {
            now,
            locks: &locks,
            freezes: &freezes,
        },
    ))
}

/// `cancel #N`
pub async fn cancel(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    id: DeployId,
) -> anyhow::Result<()> {
    let Some(d) = inner.store.deploy(id).await? else {
        return refuse(inner, channel, &format!("There is no deploy #{id}.")).await;
    };
    let label = super::run::label(&d);
    // The requester, the env's approvers, or (where no approval is needed) anyone who may
    // deploy there.
    if let Some(env_policy) = inner.config.env(&d.env)
        && let Err(refusal) = policy::may_cancel(
            &inner.config,
            d.env.as_str(),
            env_policy,
            &d.requested_by,
            user,
        )
    {
        return refuse(
            inner,
            channel,
            &format!("You cannot cancel {label}: {}", refusal.0),
        )
        .await;
    }
    if d.state.is_final() {
        return refuse(
            inner,
            channel,
            &format!("{label} already ended: {}.", d.state),
        )
        .await;
    }
    if d.state.is_in_flight() {
        let flag = inner
            .cancels
            .lock()
            .expect("cancels lock")
            .get(&id)
            .cloned();
        if let Some(Err(first)) = flag.map(|f| f.ask(user)) {
            return refuse(
                inner,
                channel,
                &format!("{label} is already being cancelled (cancelled by {first}): it stops after the step in progress."),
            )
            .await;
        }
        inner
            .store
            .note(
                Some(id),
                user,
                "cancel",
                &format!("{user} asked to cancel {label}"),
                inner.clock.now(),
            )
            .await?;
        return say(
            inner,
            channel,
            &format!("{label}: cancelled by {user}; it stops after the step in progress, and hosts already changed will be rolled back."),
        )
        .await;
    }
    // Pending: take it out of line first, so it cannot start while we record the cancel.
    let removed = inner.queues.lock().expect("queues lock").remove_waiting(id);
    if !removed && d.state == DeployState::Queued {
        // Its turn came between our read and now: it is starting; cancel it as a running one.
        if let Some(flag) = inner.cancels.lock().expect("cancels lock").get(&id) {
            let _ = flag.ask(user);
        }
    }
    let reason = format!("cancelled by {user} before it started");
    match inner
        .store
        .transition(
            id,
            DeployState::Cancelled,
            user,
            Some(&reason),
            inner.clock.now(),
        )
        .await
    {
        Ok(_) => {
            if let Some(msg) = &d.status_msg {
                inner
                    .edit(&d.channel, msg, &format!("{label}: {reason}"))
                    .await;
            }
            inner.changed.notify_waiters();
            say(inner, channel, &format!("{label} {reason}.")).await
        }
        Err(crate::store::TransitionError::NotAllowed { from, .. }) => {
            refuse(
                inner,
                channel,
                &format!("{label} is {from} and can no longer be withdrawn."),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The hosts a request would touch.
pub struct Target<'r> {
    pub env: &'r RecipeEnv,
    pub hosts: Vec<&'r Host>,
}

impl<'r> Target<'r> {
    pub fn resolve(
        inner: &Inner,
        recipe: &'r Recipe,
        env: &EnvName,
        host: Option<&HostName>,
    ) -> Result<Self, String> {
        let renv = resolve::app_env(&inner.config, recipe, env)?;
        let hosts = renv.select(host).ok_or_else(|| {
            let h = host.map(|h| h.as_str()).unwrap_or_default();
            let mut names: Vec<&str> = renv.hosts.iter().map(|h| h.name.as_str()).collect();
            names.extend(
                renv.hosts
                    .iter()
                    .flat_map(|h| h.groups.iter().map(|g| g.as_str())),
            );
            names.sort_unstable();
            names.dedup();
            resolve::unknown(
                &format!("host or group of {} in {env}", recipe.app),
                h,
                names,
            )
        })?;
        Ok(Self { env: renv, hosts })
    }
}

/// The plan of a dry run: the policy verdict, then host by host and step by step.
fn dry_run_plan(
    new: &NewDeploy,
    recipe: &Recipe,
    target: &Target<'_>,
    verdict: policy::AtRequest,
) -> String {
    let mut out = format!(
        "Dry run of {}@{} → {}{} (task {}): nothing will run and nothing is locked.",
        new.app,
        new.version,
        new.env,
        new.host
            .as_ref()
            .map(|h| format!("/{h}"))
            .unwrap_or_default(),
        new.task
    );
    match verdict {
        policy::AtRequest::Refused(r) => {
            out.push_str(&format!("\nPolicy: would be refused: {}", r.0))
        }
        policy::AtRequest::NeedsApproval(rule) => out.push_str(&format!(
            "\nPolicy: allowed once it has {}.",
            rule.describe()
        )),
        policy::AtRequest::Go => out.push_str("\nPolicy: allowed, no approval needed."),
    }
    let batches = plan::batches(target.hosts.len(), &target.env.strategy);
    out.push_str(&format!(
        "\nRollout: {}, {} host(s) in {} batch(es).",
        plan::describe(&target.env.strategy),
        target.hosts.len(),
        batches.len()
    ));
    let steps = crate::core::layout::task_steps(recipe.layout, &new.task, &recipe.tasks[&new.task]);
    for (bi, batch) in batches.iter().enumerate() {
        for host in &target.hosts[batch.clone()] {
            out.push_str(&format!(
                "\nBatch {}/{}: {}",
                bi + 1,
                batches.len(),
                host.name
            ));
            for (si, step) in steps.iter().enumerate() {
                let first = match step.own_text() {
                    Some(text) => text.lines().next().unwrap_or_default(),
                    None => "(built in: release layout)",
                };
                out.push_str(&format!("\n  {}. {}: {}", si + 1, step.name, first));
            }
        }
        match &recipe.health {
            Some(HealthCheck::Http { url, retries, .. }) => out.push_str(&format!(
                "\n  then health check GET {url} (up to {retries} tries)"
            )),
            Some(HealthCheck::Command { run, retries, .. }) => out.push_str(&format!(
                "\n  then health check `{}` (up to {retries} tries)",
                run.lines().next().unwrap_or_default()
            )),
            None => {}
        }
    }
    if recipe.rollback.is_some() || recipe.layout != crate::config::Layout::Plain {
        out.push_str("\nOn failure: the hosts already changed are rolled back.");
    } else {
        out.push_str(
            "\nOn failure: the recipe has no rollback; hosts already changed stay as they are.",
        );
    }
    out
}

/// Says `text`, for handlers that answer and are done.
pub(super) async fn say(
    inner: &Inner,
    to: impl Into<Conversation>,
    text: &str,
) -> anyhow::Result<()> {
    inner.say(to, text).await;
    Ok(())
}

/// Says why not: to its asker only where the command was a slash command.
pub(super) async fn refuse(
    inner: &Inner,
    to: impl Into<Conversation>,
    text: &str,
) -> anyhow::Result<()> {
    inner.refuse(to, text).await;
    Ok(())
}
