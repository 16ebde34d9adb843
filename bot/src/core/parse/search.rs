//! `search` (also `log`): free words, and the `key:value` filters with their values.

use chrono::{DateTime, NaiveDate, Utc};

use crate::core::command::{Command, SearchArgs};
use crate::core::lifecycle::DeployState;
use crate::core::names::{AppName, EnvName, shown};
use crate::core::suggest::closest;

use super::lexer::Lexer;
use super::values::twice;
use super::{MAX_SEARCH_WORDS, PResult, ParseError};

/// `search <words> [app:<a>] [env:<e>] [user:<u>] [status:<s>] [since:<date>] [until:<date>]
/// [sha:<prefix>]`.
/// Words are reduced to their letters and digits and lower-cased, so no FTS operator (`AND`,
/// `NEAR`, `*`, `"`, `-`, `:`, `^`…) survives into the query; flags are words here too, since
/// searching the log for `--force` is legitimate.
pub(super) fn search(lx: &mut Lexer) -> PResult<Command> {
    let mut args = SearchArgs::default();
    let mut filters = 0;
    while let Some(tok) = lx.bump() {
        if let Some((key, value)) = tok.split_once(':')
            && let Some(key) = filter_key(key, value)?
        {
            search_filter(&mut args, key, value)?;
            filters += 1;
        } else {
            args.words.extend(plain_words(tok));
        }
    }
    if args.words.is_empty() && filters == 0 {
        return Err(ParseError::new(
            "What should I search for? e.g. `search timeout app:api since:2026-01-31`.",
        ));
    }
    if args.words.len() > MAX_SEARCH_WORDS {
        return Err(ParseError::new(format!(
            "That search has {} words; use at most {MAX_SEARCH_WORDS}.",
            args.words.len()
        )));
    }
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since >= until
    {
        return Err(ParseError::new("`since:` must be before `until:`."));
    }
    Ok(Command::Search(args))
}

const FILTER_KEYS: [&str; 7] = ["app", "env", "user", "status", "since", "until", "sha"];

/// The filter a `key:value` token names; `None` when it is just words (`error:timeout`), an
/// error when the key is one typo away from a filter (`stauts:failed`).
fn filter_key(key: &str, value: &str) -> PResult<Option<&'static str>> {
    let lower = key.to_ascii_lowercase();
    if let Some(k) = FILTER_KEYS.iter().find(|k| **k == lower) {
        return Ok(Some(k));
    }
    let near = FILTER_KEYS
        .iter()
        .find(|k| lower.len() >= 3 && strsim::damerau_levenshtein(&lower, k) == 1);
    match near {
        Some(k) if !value.is_empty() => Err(ParseError::new(format!(
            "I don't know the filter `{}:`. Did you mean `{k}:`?",
            shown(key)
        ))
        .suggesting(format!("{k}:"))),
        _ => Ok(None),
    }
}

fn search_filter(args: &mut SearchArgs, key: &str, value: &str) -> PResult<()> {
    if value.is_empty() {
        return Err(ParseError::new(format!(
            "`{key}:` needs a value right after the colon, e.g. `{key}:{}`.",
            filter_example(key)
        )));
    }
    let dup = match key {
        "app" => args.app.replace(AppName::parse(value)?).is_some(),
        "env" => args.env.replace(EnvName::parse(value)?).is_some(),
        "user" => args.user.replace(user_name(value)?).is_some(),
        "status" => args.status.replace(deploy_state(value)?).is_some(),
        "since" => args.since.replace(date(key, value)?).is_some(),
        "sha" => args.sha.replace(sha_prefix(value)?).is_some(),
        _ => args.until.replace(date(key, value)?).is_some(),
    };
    if dup {
        return Err(twice(&format!("`{key}:`")));
    }
    Ok(())
}

fn filter_example(key: &str) -> &'static str {
    match key {
        "app" => "api",
        "env" => "prod",
        "user" => "alice",
        "status" => "failed",
        "sha" => "1a2b3c4",
        _ => "2026-01-31",
    }
}

/// Letters and digits only, lower-cased: FTS5 operators are upper-case words or punctuation.
fn plain_words(tok: &str) -> impl Iterator<Item = String> + '_ {
    tok.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// A chat user as typed (`alice`, `@alice`, `carol.d`): letters, digits, `.`, `_`, `-`.
/// A person (`alice`) or an account of nobody's (`slack:U0MALLORY`).
fn user_name(raw: &str) -> PResult<String> {
    let name = raw.strip_prefix('@').unwrap_or(raw);
    let plain = |n: &str| {
        n.chars().count() <= 64
            && n.starts_with(|c: char| c.is_alphanumeric())
            && n.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    let ok = match name.split_once(':') {
        None => plain(name),
        Some((platform, id)) => {
            platform.chars().all(|c| c.is_ascii_lowercase()) && plain(platform) && plain(id)
        }
    };
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ParseError::new(format!(
            "`{}` is not a user name: use letters, digits, `.`, `_` and `-`, e.g. `user:alice` (or an account, `user:slack:U0ALICE`).",
            shown(raw)
        )))
    }
}

/// A commit SHA or its start: 4 to 40 hex digits, lower-cased.
fn sha_prefix(raw: &str) -> PResult<String> {
    if crate::core::repo::may_be_sha_prefix(raw) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(ParseError::new(format!(
            "`{}` is not a commit SHA: use 4 to 40 hex digits, e.g. `sha:1a2b3c4`.",
            shown(raw)
        )))
    }
}

fn deploy_state(raw: &str) -> PResult<DeployState> {
    raw.parse::<DeployState>().map_err(|_| {
        let states = DeployState::ALL.map(DeployState::as_str);
        let head = format!("`{}` is not a deploy state.", shown(raw));
        match closest(raw, states) {
            Some(s) => ParseError::new(format!("{head} Did you mean `{s}`?")).suggesting(s),
            None => ParseError::new(format!("{head} Use one of: {}.", states.join(", "))),
        }
    })
}

/// `2026-01-31` (00:00 UTC that day) or RFC 3339 (`2026-01-31T09:00:00+01:00`).
fn date(key: &str, raw: &str) -> PResult<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ParseError::new(format!(
                "`{}` is not a date for `{key}:`: use `2026-01-31` or `2026-01-31T09:00:00Z`.",
                shown(raw)
            ))
        })
}
