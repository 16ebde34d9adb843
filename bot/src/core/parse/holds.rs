//! What holds deploys back: `lock` and `unlock`, `freeze` and `unfreeze`, and the freeze
//! `windows`.

use crate::core::command::{Command, FreezeSpan, LockTarget};
use crate::core::names::{AppName, EnvName, shown};

use super::lexer::{Flag, Lexer, checked_text};
use super::values::{renamed, twice, which};
use super::{MAX_FREEZE, PResult, ParseError};

/// `lock <app> [in <env>] [--reason "<why>"]`, `lock <env>`, and `unlock` without a reason.
pub(super) fn lock(
    lx: &mut Lexer,
    verb: &str,
    takes_reason: bool,
) -> PResult<(LockTarget, Option<String>)> {
    let example = format!("{verb} api in prod");
    let mut first: Option<&str> = None;
    let mut env = None;
    let mut reason = None;
    while let Some(tok) = lx.peek() {
        if let Some(flag) = Flag::of(tok) {
            let known: &[&str] = if takes_reason { &["reason"] } else { &[] };
            match flag.name.as_str() {
                "reason" if takes_reason && reason.is_some() => return Err(flag.twice()),
                "reason" if takes_reason => reason = Some(lx.flag_reason(&flag, "db maintenance")?),
                _ => return Err(flag.unknown(verb, known)),
            }
        } else if first.is_none() {
            first = Some(lx.positional(&example, &["in", "on"], "app or env")?);
        } else if let Some(prep) = lx.eat_kw(&["in", "on"]) {
            if env.is_some() {
                return Err(twice("env"));
            }
            env = Some(EnvName::parse(lx.value_after(prep, &example)?)?);
        } else {
            return Err(lx.leftover_maybe_env(env.is_none(), "in"));
        }
    }
    let Some(first) = first else {
        return Err(which("app or env", &example));
    };
    let target = match env {
        Some(env) => LockTarget::AppEnv {
            app: AppName::parse(first)?,
            env,
        },
        None => {
            let name = AppName::parse(first).map_err(|e| renamed(e, "app or env name"))?;
            LockTarget::One(name.as_str().to_owned())
        }
    };
    Ok((target, reason))
}

/// `freeze <env> [for <duration>|until <time>] [--reason "<why>"]`
pub(super) fn freeze(lx: &mut Lexer) -> PResult<Command> {
    const EXAMPLE: &str = "freeze prod for 2h --reason \"release\"";
    let mut env = None;
    let mut span = None;
    let mut reason = None;
    while let Some(tok) = lx.peek() {
        if let Some(flag) = Flag::of(tok) {
            match flag.name.as_str() {
                "reason" if reason.is_some() => return Err(flag.twice()),
                "reason" => reason = Some(lx.flag_reason(&flag, "release")?),
                _ => return Err(flag.unknown("freeze", &["reason"])),
            }
        } else if env.is_none() {
            env = Some(EnvName::parse(lx.positional(
                EXAMPLE,
                &["for", "until"],
                "env",
            )?)?);
        } else if let Some(kw) = lx.eat_kw(&["for", "until"]) {
            if span.is_some() {
                return Err(ParseError::new(
                    "Give either `for <duration>` or `until <time>`, not both.",
                ));
            }
            span = Some(freeze_span(kw, lx.words_until(&["for", "until"]))?);
        } else {
            return Err(lx.leftover());
        }
    }
    let Some(env) = env else {
        return Err(which("env", EXAMPLE));
    };
    Ok(Command::Freeze { env, span, reason })
}

fn freeze_span(kw: &str, words: &str) -> PResult<FreezeSpan> {
    if kw.eq_ignore_ascii_case("until") {
        if words.is_empty() {
            return Err(ParseError::new(
                "`until` needs a time, e.g. `freeze prod until 2026-11-27T08:00:00Z`.",
            ));
        }
        return checked_text(words, "time", 100, "freeze prod until 18:00").map(FreezeSpan::Until);
    }
    if words.is_empty() {
        return Err(ParseError::new(
            "`for` needs a duration, e.g. `freeze prod for 2h`.",
        ));
    }
    let d = humantime::parse_duration(words).map_err(|_| {
        ParseError::new(format!(
            "`{}` is not a duration: try `2h`, `90m` or `1day 12h`.",
            shown(words)
        ))
    })?;
    if d.is_zero() {
        return Err(ParseError::new(
            "A freeze must last longer than zero, e.g. `freeze prod for 2h`.",
        ));
    }
    if d > MAX_FREEZE {
        return Err(ParseError::new(format!(
            "A freeze from chat lasts at most 30 days; `{}` is longer.",
            shown(words)
        )));
    }
    Ok(FreezeSpan::For(d))
}

/// `unfreeze <env>`
pub(super) fn unfreeze(lx: &mut Lexer) -> PResult<Command> {
    let env = EnvName::parse(lx.positional("unfreeze prod", &[], "env")?)?;
    lx.end()?;
    Ok(Command::Unfreeze { env })
}

/// `windows [<env>]`
pub(super) fn windows(lx: &mut Lexer) -> PResult<Command> {
    let env = lx
        .optional_name("windows")?
        .map(EnvName::parse)
        .transpose()?;
    lx.end()?;
    Ok(Command::Windows { env })
}
