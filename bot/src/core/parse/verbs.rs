//! Step 3: the words that start a command, reading the first word of a message and handing the
//! rest to that command's reader; and `help`, whose topic is a command word.

use crate::core::command::{Command, DeployId};
use crate::core::names::shown;
use crate::core::suggest::closest;

use super::deploy::{deny, deploy, required_id, rollback};
use super::holds::{freeze, lock, unfreeze, windows};
use super::lexer::{Flag, Lexer, is_flag};
use super::queries::{history, live, status, wcid, whats_live, where_};
use super::search::search;
use super::values::deploy_id;
use super::{PResult, ParseError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
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

/// Every word that starts a command, with the command's name (docs/commands.md; also its `help` topic). The
/// order is the order suggestions prefer on a tie.
pub(super) const VERBS: [(&str, Verb, &str); 23] = [
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
pub(super) fn parse_command(text: &str) -> PResult<Command> {
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

/// `#12` alone asks for the status of #12 (docs/commands.md).
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

/// `help [<command>]`: the topic is the name (docs/commands.md) of the command asked about.
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
