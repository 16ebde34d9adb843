//! The chat command language (product.md §2, §3, §8): one message in, one [`Parsed`] out.
//!
//! Pure and total: no I/O, no configuration, no clock, and every input — however long, hostile
//! or garbled — ends in a [`Parsed`] value, never a panic. Names are validated here by the
//! `names` newtypes, so nothing a user typed reaches the rest of the bot unchecked; whether a
//! valid name is also a *configured* one is the bot's business.
//!
//! How a message is read:
//! 1. Addressing: a prefix (`!deploy`) or a mention (`deckhand: deploy`) is required in a
//!    channel and optional in a direct message; it is stripped.
//! 2. Normalising: any run of whitespace (tabs, newlines, NBSP, other Unicode spaces and
//!    zero-width spaces) becomes one space, so later code sees tokens separated by `' '`.
//! 3. The first word picks the command; each command reads the rest with a small [`Lexer`].

mod json;
mod lexer;
mod values;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::core::command::{Command, DeployArgs, DeployId, FreezeSpan, LockTarget, SearchArgs};
use crate::core::lifecycle::DeployState;
use crate::core::names::{AppName, EnvName, GitRef, HostName, NameError, shown};
use crate::core::suggest::closest;

pub use json::to_json;
use lexer::{Flag, Lexer, checked_text, is_kw};
pub(crate) use lexer::{QUOTES, is_flag, split_quoted, starts_quoted};
use values::{app_and_ref, deploy_id, env_and_host, renamed, twice, which};

/// Who a message must be addressed to, and how (product.md §2).
#[derive(Debug, Clone, Copy)]
pub struct Addressing<'a> {
    /// Message prefixes, e.g. `["!", "."]`. Empty strings are ignored.
    pub prefixes: &'a [String],
    /// Names/mention forms that address the bot: e.g. `["deckhand", "@deckhand", "<@U0BOT>"]` —
    /// a message starting with one of these (optionally followed by `:` or `,`) is addressed.
    pub mentions: &'a [String],
    /// true in a direct message and in the console: prefix and mention optional.
    pub direct: bool,
}

/// What a message means to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not for the bot (or blank): the bot stays silent.
    NotAddressed,
    Command(Command),
    /// Addressed to the bot but not understood: the bot answers with the error.
    NotUnderstood(ParseError),
}

/// Why an addressed message was not understood, worded for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// One short user-facing line, e.g. "I don't know the command `deplyo`. Did you mean `deploy`?"
    pub message: String,
    /// What the user probably meant, when there is a good guess: a command word, a flag, a
    /// state, or a corrected command (`deploy api to prod`).
    pub suggestion: Option<String>,
}

/// Longest message the parser reads; anything longer is refused without being tokenised.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// Longest reason (`--reason`, `--emergency`, `deny #N <reason>`), in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Most rows `history … last <N>` may ask for.
pub const MAX_HISTORY: u32 = 1000;

/// Most free words in one `search`.
pub const MAX_SEARCH_WORDS: usize = 32;

/// Longest one-off freeze from chat; longer ones belong in the configuration.
pub const MAX_FREEZE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Reads one chat message.
pub fn parse(text: &str, addr: &Addressing) -> Parsed {
    let Some(body) = strip_addressing(text, addr) else {
        return Parsed::NotAddressed;
    };
    if let Some(len) = too_long(text) {
        return Parsed::NotUnderstood(ParseError::new(format!(
            "That message is {len} characters long; deckhand reads commands of at most {MAX_MESSAGE_CHARS}."
        )));
    }
    let normal = normalize(body);
    if normal.is_empty() {
        return Parsed::NotUnderstood(ParseError::new(
            "You called me without a command. Say `help` to see what I can do.",
        ));
    }
    match parse_command(&normal) {
        Ok(cmd) => Parsed::Command(cmd),
        Err(err) => Parsed::NotUnderstood(err),
    }
}

/// Reads a message as a direct message with the default prefixes (`!`, `.`) and mentions
/// (`deckhand`, `@deckhand`): what `deckhand parse` and the console use.
pub fn parse_direct(text: &str) -> Parsed {
    let prefixes = ["!".to_owned(), ".".to_owned()];
    let mentions = ["deckhand".to_owned(), "@deckhand".to_owned()];
    let addr = Addressing {
        prefixes: &prefixes,
        mentions: &mentions,
        direct: true,
    };
    parse(text, &addr)
}

impl ParseError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            suggestion: None,
        }
    }

    fn suggesting(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

impl From<NameError> for ParseError {
    fn from(e: NameError) -> Self {
        ParseError::new(format!("{e}."))
    }
}

type PResult<T> = Result<T, ParseError>;

// ---------------------------------------------------------------------------------------------
// Addressing and normalising.

/// The message without its prefix or mention, or `None` when it is not for the bot.
fn strip_addressing<'t>(text: &'t str, addr: &Addressing) -> Option<&'t str> {
    let t = text.trim_start_matches(is_sep);
    if let Some(rest) = strip_mention(t, addr.mentions) {
        // "@deckhand !deploy": a prefix after a mention is redundant, not wrong.
        let rest = rest.trim_start_matches(is_sep);
        let rest = strip_prefix(rest, addr.prefixes).unwrap_or(rest);
        return Some(rest);
    }
    if let Some(rest) = strip_prefix(t, addr.prefixes) {
        let rest = rest.trim_start_matches(is_sep);
        // In a channel "...", "!!!" or ".5s" are chat, not commands: after a prefix a command
        // starts with a letter (or is a bare `#N`).
        let looks_like_command =
            rest.is_empty() || rest.starts_with(|c: char| c.is_alphabetic() || c == '#');
        return (addr.direct || looks_like_command).then_some(rest);
    }
    (addr.direct && !t.trim_end_matches(is_sep).is_empty()).then_some(t)
}

fn strip_prefix<'t>(t: &'t str, prefixes: &[String]) -> Option<&'t str> {
    prefixes
        .iter()
        .filter(|p| !p.is_empty())
        .find_map(|p| t.strip_prefix(p.as_str()))
}

/// `deckhand deploy`, `deckhand: deploy`, `@deckhand, deploy`, `<@U0BOT> deploy`. A mention that
/// ends in a letter must end a word there, so `deckhandbot` does not address `deckhand`.
fn strip_mention<'t>(t: &'t str, mentions: &[String]) -> Option<&'t str> {
    let mut mentions: Vec<&String> = mentions.iter().filter(|m| !m.is_empty()).collect();
    mentions.sort_by_key(|m| std::cmp::Reverse(m.len()));
    mentions.into_iter().find_map(|m| {
        let head = t.get(..m.len())?;
        if !head.eq_ignore_ascii_case(m) {
            return None;
        }
        let rest = &t[m.len()..];
        let ends_word = !m.ends_with(|c: char| c.is_alphanumeric())
            || rest.is_empty()
            || rest.starts_with(|c: char| is_sep(c) || c == ':' || c == ',');
        ends_word.then(|| rest.strip_prefix([':', ',']).unwrap_or(rest))
    })
}

/// Token separators: Unicode whitespace (which includes NBSP and the other spaces) plus the
/// zero-width characters that chat clients and copy-paste slip in.
fn is_sep(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}')
}

/// The message's length in characters when it is over the limit. Counting is only needed when
/// the byte length is over it, since a character is at least one byte.
fn too_long(text: &str) -> Option<usize> {
    if text.len() <= MAX_MESSAGE_CHARS {
        return None;
    }
    let chars = text.chars().count();
    (chars > MAX_MESSAGE_CHARS).then_some(chars)
}

fn normalize(s: &str) -> String {
    s.split(is_sep)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// Commands.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Deploy,
    Rollback,
    Cancel,
    Approve,
    Deny,
    Status,
    Live,
    Version,
    Where,
    WhatsLive,
    History,
    Deploys,
    Search,
    Lock,
    Unlock,
    Locks,
    Freeze,
    Unfreeze,
    Windows,
    Wcid,
    Help,
}

/// Every word that starts a command, with the command's §8 name (also its `help` topic). The
/// order is the order suggestions prefer on a tie.
const VERBS: [(&str, Verb, &str); 23] = [
    ("deploy", Verb::Deploy, "deploy"),
    ("rollback", Verb::Rollback, "rollback"),
    ("cancel", Verb::Cancel, "cancel"),
    ("approve", Verb::Approve, "approve"),
    ("deny", Verb::Deny, "deny"),
    ("status", Verb::Status, "status"),
    ("live", Verb::Live, "live"),
    ("history", Verb::History, "history"),
    ("search", Verb::Search, "search"),
    ("lock", Verb::Lock, "lock"),
    ("unlock", Verb::Unlock, "unlock"),
    ("locks", Verb::Locks, "locks"),
    ("freeze", Verb::Freeze, "freeze"),
    ("unfreeze", Verb::Unfreeze, "unfreeze"),
    ("windows", Verb::Windows, "windows"),
    ("wcid", Verb::Wcid, "wcid"),
    ("help", Verb::Help, "help"),
    ("deploys", Verb::Deploys, "history"),
    ("log", Verb::Search, "search"),
    ("version", Verb::Version, "live"),
    ("where", Verb::Where, "live"),
    ("what's", Verb::WhatsLive, "live"),
    ("whats", Verb::WhatsLive, "live"),
];

impl Verb {
    /// Looks a command word up: case-insensitive, curly apostrophes read as straight ones.
    fn of(word: &str) -> Option<(Verb, &'static str)> {
        let word = word.to_lowercase().replace(['’', '‘', '`'], "'");
        VERBS
            .iter()
            .find(|(w, _, _)| *w == word)
            .map(|&(_, v, name)| (v, name))
    }

    /// Questions may end in `?` ("what's live?", "wcid?"); the `?` is dropped.
    fn is_question(self) -> bool {
        use Verb::*;
        matches!(
            self,
            Status
                | Live
                | Version
                | Where
                | WhatsLive
                | History
                | Deploys
                | Locks
                | Windows
                | Wcid
                | Help
        )
    }
}

/// Reads a normalised, non-empty message (no prefix or mention).
fn parse_command(text: &str) -> PResult<Command> {
    if let Some(id) = bare_id(text) {
        return Ok(Command::Status { id: Some(id) });
    }
    let first = text.split(' ').next().unwrap_or_default();
    let (head, suffix) = first.split_at(first.find(['!', ':']).unwrap_or(first.len()));
    let word = head.trim_end_matches(['?', '？']);
    let shown_head = if head.is_empty() { first } else { head };
    let Some((verb, name)) = Verb::of(word) else {
        return Err(unknown_command(shown_head, word));
    };
    if word != head && !verb.is_question() {
        return Err(unknown_command(shown_head, word));
    }
    if !suffix.is_empty() && verb != Verb::Deploy {
        return Err(ParseError::new(format!(
            "Only `deploy` takes `!` or `:task` (as in `deploy!:migrate api`); I can't read `{}`.",
            shown(first)
        )));
    }
    let text = if verb.is_question() {
        text.trim_end_matches(['?', '？', ' '])
    } else {
        text
    };
    let mut lx = Lexer::new(text);
    lx.bump();
    dispatch(verb, name, suffix, &mut lx)
}

/// `#12` alone asks for the status of #12 (product.md §2).
fn bare_id(text: &str) -> Option<DeployId> {
    let digits = text.trim_end_matches('?').strip_prefix('#')?;
    deploy_id(&format!("#{digits}")).ok()
}

fn dispatch(verb: Verb, name: &str, suffix: &str, lx: &mut Lexer) -> PResult<Command> {
    match verb {
        Verb::Deploy => deploy(lx, suffix),
        Verb::Rollback => rollback(lx),
        Verb::Cancel => Ok(Command::Cancel {
            id: required_id(lx, name)?,
        }),
        Verb::Approve => Ok(Command::Approve {
            id: required_id(lx, name)?,
        }),
        Verb::Deny => deny(lx),
        Verb::Status => status(lx),
        Verb::Live => live(lx, None),
        Verb::Version => live(lx, Some("version api in prod")),
        Verb::Where => where_(lx),
        Verb::WhatsLive => whats_live(lx),
        Verb::History | Verb::Deploys => history(lx),
        Verb::Search => search(lx),
        Verb::Lock => {
            let (target, reason) = lock(lx, "lock", true)?;
            Ok(Command::Lock { target, reason })
        }
        Verb::Unlock => {
            let (target, _) = lock(lx, "unlock", false)?;
            Ok(Command::Unlock { target })
        }
        Verb::Locks => no_args(lx, "locks").map(|()| Command::Locks),
        Verb::Freeze => freeze(lx),
        Verb::Unfreeze => unfreeze(lx),
        Verb::Windows => windows(lx),
        Verb::Wcid => wcid(lx),
        Verb::Help => help(lx),
    }
}

/// `typed` is shown, `word` (without a trailing `?`) is matched.
fn unknown_command(typed: &str, word: &str) -> ParseError {
    let known = VERBS.iter().map(|(w, _, _)| *w);
    match closest(word, known) {
        Some(guess) => ParseError::new(format!(
            "I don't know the command `{}`. Did you mean `{guess}`?",
            shown(typed)
        ))
        .suggesting(guess),
        None => ParseError::new(format!(
            "I don't know the command `{}`. Say `help` to see what I can do.",
            shown(typed)
        )),
    }
}

/// `deploy[!][:task] <app>[/<ref>|@<ref>] [to|in|on <env>[/<host>]] [--dry-run|noop] [--emergency "<reason>"]`
fn deploy(lx: &mut Lexer, suffix: &str) -> PResult<Command> {
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

/// `!`, `:task`, `!:task` (product.md) and `:task!` (hubot-deploy's order).
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
fn rollback(lx: &mut Lexer) -> PResult<Command> {
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
fn deny(lx: &mut Lexer) -> PResult<Command> {
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

/// `status [#N]`
fn status(lx: &mut Lexer) -> PResult<Command> {
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

fn required_id(lx: &mut Lexer, verb: &str) -> PResult<DeployId> {
    let example = format!("{verb} #12");
    let id = deploy_id(lx.positional(&example, &[], "deploy")?)?;
    lx.end()?;
    Ok(id)
}

/// `live [<app>] [on|in <env>] [--check]`, and the same after `version`, `where is` and
/// `what's live`. `required` is an example when the app must be given.
fn live(lx: &mut Lexer, required: Option<&str>) -> PResult<Command> {
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
fn whats_live(lx: &mut Lexer) -> PResult<Command> {
    if lx.eat_kw(&["live"]).is_none() {
        return Err(
            ParseError::new("Did you mean `what's live`? e.g. `what's live on prod`.")
                .suggesting("what's live"),
        );
    }
    live(lx, None)
}

/// `where is <app>` or `where can I deploy [<app>]`
fn where_(lx: &mut Lexer) -> PResult<Command> {
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
fn wcid(lx: &mut Lexer) -> PResult<Command> {
    let app = lx.optional_name("wcid")?.map(AppName::parse).transpose()?;
    lx.end()?;
    Ok(Command::Wcid { app })
}

/// `history [<app>[/<ref>]] [in <env>] [last <N>]`, also `deploys <app>[/<ref>] [in <env>]`.
fn history(lx: &mut Lexer) -> PResult<Command> {
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

/// `search <words> [app:<a>] [env:<e>] [user:<u>] [status:<s>] [since:<date>] [until:<date>]`.
/// Words are reduced to their letters and digits and lower-cased, so no FTS operator (`AND`,
/// `NEAR`, `*`, `"`, `-`, `:`, `^`…) survives into the query; flags are words here too, since
/// searching the log for `--force` is legitimate.
fn search(lx: &mut Lexer) -> PResult<Command> {
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

const FILTER_KEYS: [&str; 6] = ["app", "env", "user", "status", "since", "until"];

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
fn user_name(raw: &str) -> PResult<String> {
    let name = raw.strip_prefix('@').unwrap_or(raw);
    let ok = name.chars().count() <= 64
        && name.starts_with(|c: char| c.is_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ParseError::new(format!(
            "`{}` is not a user name: use letters, digits, `.`, `_` and `-`, e.g. `user:alice`.",
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

/// `lock <app> [in <env>] [--reason "<why>"]`, `lock <env>`, and `unlock` without a reason.
fn lock(lx: &mut Lexer, verb: &str, takes_reason: bool) -> PResult<(LockTarget, Option<String>)> {
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
fn freeze(lx: &mut Lexer) -> PResult<Command> {
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
fn unfreeze(lx: &mut Lexer) -> PResult<Command> {
    let env = EnvName::parse(lx.positional("unfreeze prod", &[], "env")?)?;
    lx.end()?;
    Ok(Command::Unfreeze { env })
}

/// `windows [<env>]`
fn windows(lx: &mut Lexer) -> PResult<Command> {
    let env = lx
        .optional_name("windows")?
        .map(EnvName::parse)
        .transpose()?;
    lx.end()?;
    Ok(Command::Windows { env })
}

/// `help [<command>]`: the topic is the §8 name of the command asked about.
fn help(lx: &mut Lexer) -> PResult<Command> {
    let Some(tok) = lx.optional_name("help")? else {
        return Ok(Command::Help { topic: None });
    };
    let word = tok.split(['!', ':']).next().unwrap_or_default();
    let Some((verb, name)) = Verb::of(word) else {
        let known = VERBS.iter().map(|(w, _, _)| *w);
        let err = ParseError::new(format!("I have no help on `{}`.", shown(tok)));
        return Err(match closest(word, known) {
            Some(g) => ParseError::new(format!("{} Did you mean `help {g}`?", err.message))
                .suggesting(format!("help {g}")),
            None => ParseError::new(format!("{} Say `help` for the list.", err.message)),
        });
    };
    // Multi-word commands: `help what's live`, `help where can I deploy`.
    match verb {
        Verb::WhatsLive => {
            lx.eat_kw(&["live"]);
        }
        Verb::Where => {
            lx.eat_kw(&["is", "can"]);
            lx.eat_kw(&["i"]);
            lx.eat_kw(&["deploy"]);
        }
        _ => {}
    }
    lx.end()?;
    Ok(Command::Help {
        topic: Some(name.to_owned()),
    })
}

fn no_args(lx: &mut Lexer, verb: &str) -> PResult<()> {
    match lx.peek() {
        Some(tok) if is_flag(tok) => Err(Flag::of(tok).unwrap_or_default().unknown(verb, &[])),
        _ => lx.end(),
    }
}
