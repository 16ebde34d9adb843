//! The commands that act on a deploy: `deploy`, `rollback`, `cancel`, `approve` and `deny`.

use crate::core::command::{Command, DeployArgs, DeployId};
use crate::core::names::{AppName, EnvName, GitRef, HostName, shown};

use super::lexer::{Flag, Lexer, checked_text, is_kw, split_quoted};
use super::values::{app_and_ref, deploy_id, env_and_host, renamed, twice, which};
use super::{MAX_REASON_CHARS, PResult, ParseError};

/// `deploy[!][:task] <app>[/<ref>|@<ref>] [to|in|on <env>[/<host>]] [--dry-run|noop] [--emergency "<reason>"]`
pub(super) fn deploy(lx: &mut Lexer, suffix: &str) -> PResult<Command> {
    let (force, task) = deploy_suffix(suffix)?;
    let mut target: Option<(AppName, Option<GitRef>)> = None;
    let mut place: Option<(EnvName, Option<HostName>)> = None;
    let mut dry_run = false;
    let mut emergency = None;
    while let Some(tok) = lx.peek() {
        if let Some(flag) = Flag::of(tok) {
            match flag.name.as_str() {
                "dry-run" => {
                    lx.plain_flag(&flag)?;
                    dry_run = true;
                }
                "emergency" if emergency.is_some() => return Err(flag.twice()),
                "emergency" => emergency = Some(lx.flag_reason(&flag, "payments are down")?),
                _ => return Err(flag.unknown("deploy", &["dry-run", "emergency"])),
            }
        } else if target.is_none() {
            if is_kw(tok, &["to", "in", "on"]) {
                return Err(which("app", "deploy api to prod"));
            }
            target = Some(app_and_ref(tok)?);
            lx.bump();
        } else if let Some(prep) = lx.eat_kw(&["to", "in", "on"]) {
            if place.is_some() {
                return Err(twice("env"));
            }
            place = Some(env_and_host(lx.value_after(prep, "deploy api to prod")?)?);
        } else if tok.eq_ignore_ascii_case("noop") {
            lx.bump();
            dry_run = true;
        } else {
            return Err(lx.leftover_maybe_env(place.is_none(), "to"));
        }
    }
    let Some((app, git_ref)) = target else {
        return Err(which("app", "deploy api to prod"));
    };
    let (env, host) = place.map_or((None, None), |(e, h)| (Some(e), h));
    Ok(Command::Deploy(DeployArgs {
        app,
        git_ref,
        env,
        host,
        task,
        force,
        dry_run,
        emergency,
    }))
}

/// `!`, `:task`, `!:task` (docs/commands.md) and `:task!` (hubot-deploy's order).
fn deploy_suffix(suffix: &str) -> PResult<(bool, Option<String>)> {
    let (bang, rest) = match suffix.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, suffix),
    };
    if rest.is_empty() {
        return Ok((bang, None));
    }
    let bad = || {
        ParseError::new(format!(
            "I can't read `deploy{}`: write `deploy!`, `deploy:migrate` or `deploy!:migrate`.",
            shown(suffix)
        ))
    };
    let task = rest.strip_prefix(':').ok_or_else(bad)?;
    let (task, late_bang) = match task.strip_suffix('!') {
        Some(t) if !bang => (t, true),
        _ => (task, false),
    };
    if task.is_empty() {
        return Err(ParseError::new(
            "`deploy:` needs a task name, e.g. `deploy:migrate api to prod`.",
        ));
    }
    let task = AppName::parse(task).map_err(|e| renamed(e, "task name"))?;
    Ok((bang || late_bang, Some(task.as_str().to_owned())))
}

/// `rollback <app> [in|on] <env> [to <version>]`
pub(super) fn rollback(lx: &mut Lexer) -> PResult<Command> {
    const EXAMPLE: &str = "rollback api in prod";
    let tok = lx.positional(EXAMPLE, &["in", "on", "to"], "app")?;
    let (app, at_version) = app_and_ref(tok)?;
    lx.eat_kw(&["in", "on"]);
    let env = EnvName::parse(lx.positional(EXAMPLE, &["to"], "env")?)?;
    let mut version = at_version;
    if let Some(kw) = lx.eat_kw(&["to"]) {
        if version.is_some() {
            return Err(twice("version"));
        }
        version = Some(GitRef::parse(
            lx.value_after(kw, "rollback api in prod to v1.4.2")?,
        )?);
    }
    lx.end()?;
    Ok(Command::Rollback { app, env, version })
}

/// `deny #N [reason…]`: the rest of the message is the reason, quoted or not.
pub(super) fn deny(lx: &mut Lexer) -> PResult<Command> {
    let id = deploy_id(lx.positional("deny #12 wrong version", &[], "deploy")?)?;
    let reason = tail_reason(lx)?;
    Ok(Command::Deny { id, reason })
}

fn tail_reason(lx: &mut Lexer) -> PResult<Option<String>> {
    let Some(first) = lx.peek() else {
        return Ok(None);
    };
    if let Some(flag) = Flag::of(first) {
        if flag.name != "reason" {
            return Err(flag.unknown("deny", &["reason"]));
        }
        let reason = lx.flag_reason(&flag, "wrong version")?;
        lx.end()?;
        return Ok(Some(reason));
    }
    let rest = lx.take_rest();
    let reason = match split_quoted(rest) {
        Some((inner, "")) => inner,
        _ => rest,
    };
    checked_text(
        reason,
        "reason",
        MAX_REASON_CHARS,
        "deny #12 \"wrong version\"",
    )
    .map(Some)
}

pub(super) fn required_id(lx: &mut Lexer, verb: &str) -> PResult<DeployId> {
    let example = format!("{verb} #12");
    let id = deploy_id(lx.positional(&example, &[], "deploy")?)?;
    lx.end()?;
    Ok(id)
}
