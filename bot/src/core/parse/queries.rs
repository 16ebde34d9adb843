//! The questions: `status`, `live` (also asked as `version`, `where is` and `what's live`),
//! `wcid` (`where can I deploy`) and `history` (`deploys`).

use crate::core::command::Command;
use crate::core::names::{AppName, EnvName, GitRef, shown};

use super::lexer::{Flag, Lexer, is_flag};
use super::values::{app_and_ref, deploy_id, twice, which};
use super::{MAX_HISTORY, PResult, ParseError};

/// `status [#N]`
pub(super) fn status(lx: &mut Lexer) -> PResult<Command> {
    let id = match lx.peek() {
        None => None,
        Some(tok) if is_flag(tok) => {
            return Err(Flag::of(tok).unwrap_or_default().unknown("status", &[]));
        }
        Some(tok) => {
            let id = deploy_id(tok)?;
            lx.bump();
            Some(id)
        }
    };
    lx.end()?;
    Ok(Command::Status { id })
}

/// `live [<app>] [on|in <env>] [--check]`, and the same after `version`, `where is` and
/// `what's live`. `required` is an example when the app must be given.
pub(super) fn live(lx: &mut Lexer, required: Option<&str>) -> PResult<Command> {
    let mut app = None;
    let mut env = None;
    let mut check = false;
    while let Some(tok) = lx.peek() {
        if let Some(flag) = Flag::of(tok) {
            if flag.name != "check" {
                return Err(flag.unknown("live", &["check"]));
            }
            lx.plain_flag(&flag)?;
            check = true;
        } else if let Some(prep) = lx.eat_kw(&["in", "on"]) {
            if env.is_some() {
                return Err(twice("env"));
            }
            env = Some(EnvName::parse(lx.value_after(prep, "live api in prod")?)?);
        } else if app.is_none() {
            app = Some(AppName::parse(tok)?);
            lx.bump();
        } else {
            return Err(lx.leftover_maybe_env(env.is_none(), "in"));
        }
    }
    if let (Some(example), None) = (required, &app) {
        return Err(which("app", example));
    }
    Ok(Command::Live { app, env, check })
}

/// `what's live [<app>] [on <env>]`
pub(super) fn whats_live(lx: &mut Lexer) -> PResult<Command> {
    if lx.eat_kw(&["live"]).is_none() {
        return Err(
            ParseError::new("Did you mean `what's live`? e.g. `what's live on prod`.")
                .suggesting("what's live"),
        );
    }
    live(lx, None)
}

/// `where is <app>` or `where can I deploy [<app>]`
pub(super) fn where_(lx: &mut Lexer) -> PResult<Command> {
    if lx.eat_kw(&["is"]).is_some() {
        return live(lx, Some("where is api"));
    }
    if lx.eat_kw(&["can"]).is_some()
        && lx.eat_kw(&["i"]).is_some()
        && lx.eat_kw(&["deploy"]).is_some()
    {
        return wcid(lx);
    }
    Err(ParseError::new(
        "Ask `where is api` (what's live) or `where can I deploy api` (what's open).",
    ))
}

/// `wcid [<app>]`
pub(super) fn wcid(lx: &mut Lexer) -> PResult<Command> {
    let app = lx.optional_name("wcid")?.map(AppName::parse).transpose()?;
    lx.end()?;
    Ok(Command::Wcid { app })
}

/// `history [<app>[/<ref>]] [in <env>] [last <N>]`, also `deploys <app>[/<ref>] [in <env>]`.
pub(super) fn history(lx: &mut Lexer) -> PResult<Command> {
    let mut target: Option<(AppName, Option<GitRef>)> = None;
    let mut env = None;
    let mut limit = None;
    while let Some(tok) = lx.peek() {
        if let Some(flag) = Flag::of(tok) {
            return Err(flag.unknown("history", &[]));
        } else if let Some(prep) = lx.eat_kw(&["in", "on"]) {
            if env.is_some() {
                return Err(twice("env"));
            }
            env = Some(EnvName::parse(
                lx.value_after(prep, "history api in prod")?,
            )?);
        } else if let Some(kw) = lx.eat_kw(&["last"]) {
            if limit.is_some() {
                return Err(twice("`last`"));
            }
            limit = Some(history_limit(lx.value_after(kw, "history api last 5")?)?);
        } else if target.is_none() {
            target = Some(app_and_ref(tok)?);
            lx.bump();
        } else {
            return Err(lx.leftover_maybe_env(env.is_none(), "in"));
        }
    }
    let (app, git_ref) = target.map_or((None, None), |(a, r)| (Some(a), r));
    Ok(Command::History {
        app,
        env,
        git_ref,
        limit,
    })
}

fn history_limit(tok: &str) -> PResult<u32> {
    match tok.parse::<u32>() {
        Ok(n) if (1..=MAX_HISTORY).contains(&n) && tok.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ParseError::new(format!(
            "`last` takes a number from 1 to {MAX_HISTORY}, not `{}`.",
            shown(tok)
        ))),
    }
}
