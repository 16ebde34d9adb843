//! The values several commands read (an app and its ref, an env and its host, a deploy id),
//! and the error wordings the command readers share.

use crate::core::command::DeployId;
use crate::core::names::{AppName, EnvName, GitRef, HostName, NameError, shown};

use super::{PResult, ParseError};

/// `api`, `api/feature/x` (hubot-deploy), `api@v1.4.2`.
pub(super) fn app_and_ref(tok: &str) -> PResult<(AppName, Option<GitRef>)> {
    let Some(i) = tok.find(['/', '@']) else {
        return Ok((AppName::parse(tok)?, None));
    };
    let (app, git_ref) = (&tok[..i], &tok[i + 1..]);
    if app.is_empty() {
        return Err(ParseError::new(format!(
            "`{}` has no app before the ref: write `api@v1.4.2`.",
            shown(tok)
        )));
    }
    let app = AppName::parse(app)?;
    if git_ref.is_empty() {
        return Err(ParseError::new(format!(
            "`{}` has no ref after `{}`: write `{app}@v1.4.2` or just `{app}`.",
            shown(tok),
            &tok[i..=i]
        )));
    }
    Ok((app, Some(GitRef::parse(git_ref)?)))
}

/// `prod` or `prod/api-1` (a host or host group, hubot-deploy's `production/fe`).
pub(super) fn env_and_host(tok: &str) -> PResult<(EnvName, Option<HostName>)> {
    let Some((env, host)) = tok.split_once('/') else {
        return Ok((EnvName::parse(tok)?, None));
    };
    if env.is_empty() || host.is_empty() {
        return Err(ParseError::new(format!(
            "`{}` is not `<env>/<host>`: write `prod/api-1`.",
            shown(tok)
        )));
    }
    Ok((EnvName::parse(env)?, Some(HostName::parse(host)?)))
}

/// `#12` or `12`.
pub(super) fn deploy_id(tok: &str) -> PResult<DeployId> {
    let digits = tok.strip_prefix('#').unwrap_or(tok);
    let id = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<DeployId>().ok())
        .flatten()
        .filter(|&id| id >= 1);
    id.ok_or_else(|| {
        ParseError::new(format!(
            "`{}` is not a deploy id: use a number like `#12`.",
            shown(tok)
        ))
    })
}

/// The same name error, with `what` reworded for where the name stood.
pub(super) fn renamed(e: NameError, what: &'static str) -> ParseError {
    match e {
        NameError::BadName { shown, .. } => NameError::BadName { what, shown }.into(),
        other => other.into(),
    }
}

pub(super) fn which(what: &str, example: &str) -> ParseError {
    ParseError::new(format!("Which {what}? Say `{example}`."))
}

pub(super) fn twice(what: &str) -> ParseError {
    ParseError::new(format!("You gave the {what} twice; give it once."))
}
