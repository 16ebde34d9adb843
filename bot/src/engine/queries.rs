//! Answers that read: `status`, `live`, `history`, `search`, `wcid`, `windows`, `help`.

use super::{Inner, hosts, resolve, run};
use crate::chat::Conversation;
use crate::core::command::{DeployId, SearchArgs};
use crate::core::format::{self, deploy_label};
use crate::core::names::{AppName, EnvName, GitRef};
use crate::core::{help as helptext, policy};
use crate::store::{Deploy, DeployKind};
use std::sync::Arc;

const HISTORY_DEFAULT: u32 = 10;
const HISTORY_MAX: u32 = 50;
const SEARCH_LIMIT: u32 = 20;

/// Names given as filters must exist: a typo gets a suggestion, not an empty answer.
fn known(inner: &Inner, app: Option<&AppName>, env: Option<&EnvName>) -> Result<(), String> {
    if let Some(app) = app {
        resolve::app(&inner.config, app)?;
    }
    if let Some(env) = env {
        resolve::env(&inner.config, env)?;
    }
    Ok(())
}

/// `status` / `status #N`
pub async fn status(
    inner: &Arc<Inner>,
    channel: &Conversation,
    id: Option<DeployId>,
) -> anyhow::Result<()> {
    let now = inner.clock.now();
    let text = match id {
        None => {
            let active = inner.store.active().await?;
            let mut out = if active.is_empty() {
                "Nothing is running or queued.".to_owned()
            } else {
                let mut out = String::from("In flight and queued:");
                for d in &active {
                    out.push_str(&format!(
                        "\n{} · {} · requested by {} {}",
                        run::label(d),
                        d.state,
                        d.requested_by,
                        format::ago(d.created_at, now)
                    ));
                }
                out
            };
            // Locks keep deploys from starting: `status` says so, as `locks` does.
            let locks = inner.store.locks().await?;
            if !locks.is_empty() {
                out.push_str("\nLocked:");
                for line in super::locks::lines(inner, &locks) {
                    out.push('\n');
                    out.push_str(&line);
                }
            }
            out
        }
        Some(id) => match inner.store.deploy(id).await? {
            None => format!("There is no deploy #{id}."),
            Some(d) => detail(inner, &d).await?,
        },
    };
    inner.say(channel, &text).await;
    Ok(())
}

async fn detail(inner: &Inner, d: &Deploy) -> anyhow::Result<String> {
    let mut out = format!("{} · {}", run::label(d), d.state);
    if d.kind == DeployKind::Rollback {
        out.push_str(" · rollback");
    }
    if d.task != "deploy" {
        out.push_str(&format!(" · task {}", d.task));
    }
    out.push_str(&format!(
        "\nRequested by {} at {}",
        d.requested_by,
        format::time(d.created_at)
    ));
    if let Some(reason) = &d.emergency {
        out.push_str(&format!("\nEmergency: {reason}"));
    }
    if let Some(start) = d.started_at {
        let end = d.finished_at.unwrap_or_else(|| inner.clock.now());
        let took = (end - start).to_std().unwrap_or_default();
        out.push_str(&format!(
            "\nStarted {}, ran {}",
            format::time(start),
            format::duration(took)
        ));
    }
    if let Some(reason) = &d.reason {
        out.push_str(&format!("\nReason: {reason}"));
    }
    let votes = inner.store.approvals(d.id).await?;
    if !votes.is_empty() {
        let shown: Vec<String> = votes
            .iter()
            .map(|v| match v.verdict {
                crate::store::Verdict::Approve => format!("{} ✓ ({})", v.user, v.via),
                crate::store::Verdict::Deny => format!("{} ✗ ({})", v.user, v.via),
            })
            .collect();
        out.push_str(&format!("\nApprovals: {}", shown.join(", ")));
    }
    let steps = inner.store.steps(d.id).await?;
    let mut hosts: Vec<&str> = steps.iter().map(|s| s.host.as_str()).collect();
    hosts.dedup();
    for host in hosts {
        let line: Vec<String> = steps
            .iter()
            .filter(|s| s.host == host)
            .map(|s| match (s.outcome.as_str(), s.exit_code) {
                ("ok", _) => format!("{} ✓", s.name),
                (o, Some(c)) => format!("{} ✗ ({o}, exit code {c})", s.name),
                (o, None) => format!("{} ✗ ({o})", s.name),
            })
            .collect();
        out.push_str(&format!("\n{host}: {}", line.join(", ")));
    }
    Ok(out)
}

/// `live`, `what's live`, `version`, `where is`
pub async fn live(
    inner: &Arc<Inner>,
    channel: &Conversation,
    app: Option<AppName>,
    env: Option<EnvName>,
    check: bool,
) -> anyhow::Result<()> {
    if let Err(msg) = known(inner, app.as_ref(), env.as_ref()) {
        inner.refuse(channel, &msg).await;
        return Ok(());
    }
    let now = inner.clock.now();
    let rows = inner.store.live(app.as_ref(), env.as_ref()).await?;
    let mut out = String::new();
    if rows.is_empty() {
        out = match (&app, &env) {
            (Some(a), Some(e)) => format!("Nothing has been deployed to {a} in {e} yet."),
            (Some(a), None) => format!("Nothing has been deployed of {a} yet."),
            (None, Some(e)) => format!("Nothing has been deployed to {e} yet."),
            (None, None) => "Nothing has been deployed yet.".to_owned(),
        };
    } else {
        out.push_str("Live:");
        for d in &rows {
            let when = d.finished_at.unwrap_or(d.created_at);
            let commit = super::source::commit_link(inner, d)
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "\n{} in {}: {}{commit} · deployed by {} {} ({}) · #{}",
                d.app,
                d.env,
                d.version,
                d.requested_by,
                format::ago(when, now),
                format::time(when),
                d.id
            ));
            if check {
                out.push_str(&drift(inner, d).await);
            }
        }
    }
    inner.say(channel, &out).await;
    Ok(())
}

/// `--check`: asks each host of the target what it runs, and compares with the log.
async fn drift(inner: &Inner, d: &Deploy) -> String {
    let Some(recipe) = inner.config.app(&d.app) else {
        return "\n  (no longer configured: not checked)".to_owned();
    };
    let (Some(renv), Some(probe)) = (recipe.env(&d.env), recipe.version_probe.as_ref()) else {
        return "\n  (the recipe has no version probe: not checked)".to_owned();
    };
    // Every host at once: connections first (an unreachable host is said so, not guessed at),
    // then the probes over them, then the connections are given back.
    let hosts: Vec<&crate::config::Host> = renv.hosts.iter().collect();
    let reached = hosts::reach(inner, renv, &hosts).await;
    let found = futures::future::join_all(hosts.iter().zip(&reached).map(
        |(h, (place, reached))| async move {
            let version = match reached {
                Ok(()) => {
                    Ok(
                        hosts::probe_at(inner, d.app.as_str(), d.env.as_str(), place, h, probe)
                            .await,
                    )
                }
                Err(e) => Err(e.to_string()),
            };
            (h.name.to_string(), version)
        },
    ))
    .await;
    super::hosts::close_reached(inner, &reached).await;
    let mut out = String::new();
    for (host, version) in found {
        let version = match version {
            Ok(v) => v,
            Err(why) => {
                out.push_str(&format!("\n  {host}: not checked ✗ {why}"));
                continue;
            }
        };
        match version {
            Some(v) if v == d.version => out.push_str(&format!("\n  {host}: {v} ✓")),
            Some(v) => out.push_str(&format!(
                "\n  {host}: {v} ✗ DRIFT (the log says {})",
                d.version
            )),
            None => out.push_str(&format!(
                "\n  {host}: no version found ✗ DRIFT (the log says {})",
                d.version
            )),
        }
    }
    out
}

/// `history`, `deploys`
pub async fn history(
    inner: &Arc<Inner>,
    channel: &Conversation,
    app: Option<AppName>,
    env: Option<EnvName>,
    git_ref: Option<GitRef>,
    limit: Option<u32>,
) -> anyhow::Result<()> {
    if let Err(msg) = known(inner, app.as_ref(), env.as_ref()) {
        inner.refuse(channel, &msg).await;
        return Ok(());
    }
    let limit = limit.unwrap_or(HISTORY_DEFAULT).clamp(1, HISTORY_MAX);
    let rows = inner
        .store
        .history(app.as_ref(), env.as_ref(), git_ref.as_ref(), limit)
        .await?;
    let text = if rows.is_empty() {
        "No deploys match.".to_owned()
    } else {
        let mut out = String::from("Recent deploys, newest first:");
        for d in &rows {
            let took = match (d.started_at, d.finished_at) {
                (Some(s), Some(f)) => format!(
                    " in {}",
                    format::duration((f - s).to_std().unwrap_or_default())
                ),
                _ => String::new(),
            };
            let kind = if d.kind == DeployKind::Rollback {
                " (rollback)"
            } else {
                ""
            };
            let commit = super::source::commit_link(inner, d)
                .map(|c| format!(" · {c}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "\n{}{kind} · {}{took} · {} · {}{commit}",
                run::label(d),
                d.state,
                d.requested_by,
                format::time(d.created_at)
            ));
        }
        out
    };
    inner.say(channel, &text).await;
    Ok(())
}

/// `search …` / `log …`
pub async fn search(
    inner: &Arc<Inner>,
    channel: &Conversation,
    args: SearchArgs,
) -> anyhow::Result<()> {
    if let Err(msg) = known(inner, args.app.as_ref(), args.env.as_ref()) {
        inner.refuse(channel, &msg).await;
        return Ok(());
    }
    inner.flush_output().await;
    let hits = inner.store.search(&args, SEARCH_LIMIT).await?;
    let text = if hits.is_empty() {
        format!(
            "Nothing in the deploy log matches {}.",
            describe_query(&args)
        )
    } else {
        let mut out = format!(
            "{} match(es) for {}, newest first:",
            hits.len(),
            describe_query(&args)
        );
        for h in &hits {
            let deploy = match (h.deploy_id, &h.app, &h.env, &h.version) {
                (Some(id), Some(a), Some(e), Some(v)) => deploy_label(id, a, v, e, None),
                (Some(id), ..) => format!("#{id}"),
                _ => "-".to_owned(),
            };
            let host = h
                .host
                .as_deref()
                .map(|h| format!("{h} | "))
                .unwrap_or_default();
            out.push_str(&format!(
                "\n{} · {} · {host}{}",
                format::time(h.at),
                deploy,
                h.text
            ));
        }
        out
    };
    inner.say(channel, &text).await;
    Ok(())
}

fn describe_query(a: &SearchArgs) -> String {
    let mut parts: Vec<String> = a.words.iter().map(|w| format!("`{w}`")).collect();
    if let Some(x) = &a.app {
        parts.push(format!("app:{x}"));
    }
    if let Some(x) = &a.env {
        parts.push(format!("env:{x}"));
    }
    if let Some(x) = &a.user {
        parts.push(format!("user:{x}"));
    }
    if let Some(x) = &a.status {
        parts.push(format!("status:{x}"));
    }
    if let Some(x) = &a.since {
        parts.push(format!("since:{}", format::time(*x)));
    }
    if let Some(x) = &a.until {
        parts.push(format!("until:{}", format::time(*x)));
    }
    parts.join(" ")
}

/// `wcid [<app>]`: every env of the app (or of all apps) and whether a deploy can go now.
pub async fn wcid(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    app: Option<AppName>,
) -> anyhow::Result<()> {
    let config = &inner.config;
    let recipes: Vec<_> = match &app {
        Some(a) => match resolve::app(config, a) {
            Ok(r) => vec![r],
            Err(msg) => {
                inner.refuse(channel, &msg).await;
                return Ok(());
            }
        },
        None => config.apps.iter().collect(),
    };
    let now = inner.clock.now();
    let (locks, freezes) = inner.policy_state(now).await?;
    let mut out = format!("Where {user} can deploy now:");
    for recipe in recipes {
        for (env, _) in &recipe.envs {
            let Some(p) = config.env(env) else { continue };
            let target = (recipe.app.to_string(), env.to_string());
            let (running, waiting) = {
                let q = inner.queues.lock().expect("queues lock");
                (q.running(&target), q.waiting_len(&target))
            };
            let mut notes: Vec<String> = Vec::new();
            if let Err(r) = policy::may_deploy(config, env.as_str(), p, user) {
                notes.push(format!("not for you: {}", r.0));
            }
            if let Some((name, end)) = policy::active_freeze(env, p, &freezes, now) {
                notes.push(format!(
                    "frozen ({name}) until {}",
                    format::time_in(end, p.timezone)
                ));
            }
            if let Some(l) = policy::lock_in_the_way(&locks, &recipe.app, env, user) {
                let why = l
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                notes.push(format!("locked by {}{why}", l.owner));
            }
            match (running, waiting) {
                (Some(id), 0) => notes.push(format!("busy with #{id}")),
                (Some(id), n) => notes.push(format!("busy with #{id} ({n} queued)")),
                _ => {}
            }
            let verdict = if notes.is_empty() {
                match policy::normal_rule(p) {
                    Some(rule) => format!("open, needs {}", rule.describe()),
                    None => "open".to_owned(),
                }
            } else {
                notes.join(" · ")
            };
            out.push_str(&format!("\n{} in {env}: {verdict}", recipe.app));
        }
    }
    inner.say(channel, &out).await;
    Ok(())
}

/// `windows [<env>]`: the configured freeze windows with their next start or current end.
pub async fn windows(
    inner: &Arc<Inner>,
    channel: &Conversation,
    env: Option<EnvName>,
) -> anyhow::Result<()> {
    if let Err(msg) = known(inner, None, env.as_ref()) {
        inner.refuse(channel, &msg).await;
        return Ok(());
    }
    let now = inner.clock.now();
    let oneoff = inner.store.freezes(now).await?;
    let mut out = String::from("Freeze windows:");
    let mut any = false;
    for (name, policy) in &inner.config.envs {
        if env.as_ref().is_some_and(|e| e != name) {
            continue;
        }
        let tz = policy.timezone;
        for w in &policy.freezes {
            any = true;
            let when = match (w.active_at(now), w.next_start(now)) {
                (Some(end), _) => format!("active now, ends {}", format::time_in(end, tz)),
                (None, Some(start)) => format!("next starts {}", format::time_in(start, tz)),
                (None, None) => "never again".to_owned(),
            };
            out.push_str(&format!("\n{name}: {} · {when}", w.name));
        }
        for f in oneoff.iter().filter(|f| &f.env == name) {
            any = true;
            let why = f
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            let when = if f.starts_at <= now {
                format!("active now, ends {}", format::time_in(f.ends_at, tz))
            } else {
                format!(
                    "from {} to {}",
                    format::time_in(f.starts_at, tz),
                    format::time_in(f.ends_at, tz)
                )
            };
            out.push_str(&format!("\n{name}: freeze by {}{why} · {when}", f.by));
        }
    }
    if !any {
        out = match env {
            Some(e) => format!("{e} has no freeze windows."),
            None => "No freeze windows are configured.".to_owned(),
        };
    }
    inner.say(channel, &out).await;
    Ok(())
}

/// `help [<command>]`
pub async fn help(
    inner: &Arc<Inner>,
    channel: &Conversation,
    topic: Option<String>,
) -> anyhow::Result<()> {
    let text = match topic {
        None => helptext::overview(),
        Some(t) => helptext::topic(&t)
            .unwrap_or_else(|| resolve::unknown("command", &t, helptext::names())),
    };
    inner.say(channel, &text).await;
    Ok(())
}
