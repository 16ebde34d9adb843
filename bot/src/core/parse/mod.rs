//! The chat command language (docs/commands.md): one message in, one [`Parsed`] out.
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
//! 3. The first word picks the command; each command reads the rest with a small
//!    [`Lexer`](lexer::Lexer).
//!
//! # Layout
//! - `mod.rs`: the public API ([`parse`], [`parse_direct`], [`Parsed`], [`ParseError`] and the
//!   limits) and steps 1 and 2, addressing and normalising;
//! - `verbs.rs`: step 3, the command words and which reader each one calls; also `help`;
//! - `deploy.rs`: `deploy`, `rollback`, `cancel`, `approve` and `deny`;
//! - `queries.rs`: `status`, `live` (and `version`, `where is`, `what's live`), `wcid` and
//!   `history`;
//! - `search.rs`: `search` and its `key:value` filters;
//! - `holds.rs`: `lock`, `unlock`, `freeze`, `unfreeze` and `windows`;
//! - `values.rs`: the values several commands read (app and ref, env and host, deploy id) and
//!   the error wordings they share;
//! - `lexer.rs`: the `Lexer`, flags, quoted strings and checked text;
//! - `json.rs`: [`to_json`], the JSON form of docs/commands.md;
//! - `tests.rs`: the unit tests and proptests.

mod deploy;
mod holds;
mod json;
mod lexer;
mod queries;
mod search;
mod values;
mod verbs;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use crate::core::command::Command;
use crate::core::names::NameError;

pub use json::to_json;
pub(crate) use lexer::{QUOTES, is_flag, split_quoted, starts_quoted};
use verbs::parse_command;

/// Who a message must be addressed to, and how (docs/commands.md).
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
