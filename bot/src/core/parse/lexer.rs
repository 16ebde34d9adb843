//! Reading tokens: the [`Lexer`] over a normalised message, [`Flag`]s, the quoted strings
//! `render` shares, keywords and checked free text (reasons, times).

use crate::core::names::{EnvName, shown};
use crate::core::suggest::closest;

use super::values::which;
use super::{MAX_REASON_CHARS, PResult, ParseError};

// ---------------------------------------------------------------------------------------------
// Shared with `render`, so that the text form of a command reads back the way it was written.

/// Quote pairs a reason may be written in: straight, and the curly ones phones type. The order
/// is the order `render` tries them in.
pub(crate) const QUOTES: [(char, char); 4] = [('"', '"'), ('“', '”'), ('\'', '\''), ('‘', '’')];

/// Splits a leading quoted string off `s`: `("content", "rest")`. The closing quote is the first
/// one followed by a space or the end, so `'can't stop'` reads as one reason.
pub(crate) fn split_quoted(s: &str) -> Option<(&str, &str)> {
    let open = s.chars().next()?;
    let &(_, close) = QUOTES.iter().find(|(o, _)| *o == open)?;
    let body = &s[open.len_utf8()..];
    body.match_indices(close).find_map(|(i, q)| {
        let after = &body[i + q.len()..];
        (after.is_empty() || after.starts_with(' '))
            .then(|| (&body[..i], after.trim_start_matches(' ')))
    })
}

/// Whether `s` starts with an opening quote.
pub(crate) fn starts_quoted(s: &str) -> bool {
    s.starts_with(|c| QUOTES.iter().any(|&(o, _)| o == c))
}

/// Whether a token is a flag: `--name`, `-x`, or `—name`/`–name` (phones turn `--` into a dash).
pub(crate) fn is_flag(tok: &str) -> bool {
    Flag::of(tok).is_some()
}

// ---------------------------------------------------------------------------------------------
// Values.

/// Text as stored and shown (a reason, a time): not empty, at most `max` characters, nothing
/// invisible. `example` is how to write it, for the message when it is empty.
pub(super) fn checked_text(raw: &str, what: &str, max: usize, example: &str) -> PResult<String> {
    let text = raw.trim_matches(' ');
    if text.is_empty() {
        return Err(ParseError::new(format!(
            "The {what} is empty: write it out, e.g. `{example}`."
        )));
    }
    let len = text.chars().count();
    if len > max {
        return Err(ParseError::new(format!(
            "The {what} is {len} characters long; at most {max} are allowed."
        )));
    }
    if let Some(c) = text.chars().find(|&c| is_hidden(c)) {
        return Err(ParseError::new(format!(
            "The {what} contains a control character (`{}`); write it in plain text.",
            c.escape_default()
        )));
    }
    Ok(text.to_owned())
}

/// Control characters, and the direction marks that make text read differently than it is.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub(super) fn is_kw(tok: &str, kws: &[&str]) -> bool {
    kws.iter().any(|k| tok.eq_ignore_ascii_case(k))
}

// ---------------------------------------------------------------------------------------------
// Flags.

#[derive(Debug, Default)]
pub(super) struct Flag<'t> {
    /// Lower-cased, without dashes: `dry-run`.
    pub(super) name: String,
    /// As typed, without any `=value`: `--Dry-Run`.
    raw: &'t str,
    /// Byte offset of the value in the token for `--reason=…`.
    value_at: Option<usize>,
}

impl<'t> Flag<'t> {
    pub(super) fn of(tok: &'t str) -> Option<Self> {
        let body = ["--", "—", "–"]
            .iter()
            .find_map(|d| tok.strip_prefix(d))
            .filter(|b| !b.is_empty())
            .or_else(|| {
                tok.strip_prefix('-')
                    .filter(|b| b.starts_with(|c: char| c.is_ascii_alphabetic()))
            })?;
        let name_end = body.find('=').unwrap_or(body.len());
        let raw_end = tok.len() - body.len() + name_end;
        Some(Flag {
            name: body[..name_end].to_lowercase(),
            raw: &tok[..raw_end],
            value_at: (name_end < body.len()).then_some(raw_end + 1),
        })
    }

    pub(super) fn unknown(&self, verb: &str, known: &[&str]) -> ParseError {
        let head = format!("I don't know the flag `{}`", shown(self.raw));
        if verb == "deploy" && matches!(self.name.as_str(), "force" | "f") {
            return ParseError::new(format!(
                "{head}. To skip the CI check, say `deploy!`; nothing skips approvals, locks or freezes."
            ))
            .suggesting("deploy!");
        }
        if let Some(guess) = closest(&self.name, known.iter().copied()) {
            return ParseError::new(format!("{head}. Did you mean `--{guess}`?"))
                .suggesting(format!("--{guess}"));
        }
        let takes = match known {
            [] => format!("`{verb}` takes no flags"),
            _ => {
                let list: Vec<String> = known.iter().map(|k| format!("`--{k}`")).collect();
                format!("`{verb}` takes only {}", list.join(" and "))
            }
        };
        ParseError::new(format!("{head}: {takes}."))
    }

    pub(super) fn twice(&self) -> ParseError {
        ParseError::new(format!(
            "`{}` is given twice; give it once.",
            shown(self.raw)
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// The lexer.

/// A cursor over a normalised message: tokens separated by exactly one `' '`.
pub(super) struct Lexer<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Lexer<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Lexer { text, pos: 0 }
    }

    fn rest(&self) -> &'t str {
        &self.text[self.pos..]
    }

    pub(super) fn peek(&self) -> Option<&'t str> {
        self.rest().split(' ').next().filter(|t| !t.is_empty())
    }

    pub(super) fn bump(&mut self) -> Option<&'t str> {
        let tok = self.peek()?;
        self.skip(tok.len());
        Some(tok)
    }

    /// Moves past `n` bytes and the space after them.
    fn skip(&mut self, n: usize) {
        self.pos += n;
        if self.rest().starts_with(' ') {
            self.pos += 1;
        }
    }

    pub(super) fn take_rest(&mut self) -> &'t str {
        let rest = self.rest();
        self.pos = self.text.len();
        rest
    }

    /// What was read so far, for "I didn't understand X after Y".
    fn said(&self) -> &'t str {
        self.text[..self.pos].trim_end()
    }

    pub(super) fn eat_kw(&mut self, kws: &[&str]) -> Option<&'t str> {
        self.peek().filter(|t| is_kw(t, kws))?;
        self.bump()
    }

    /// The token after a keyword (`to prod`), which must be there and not be a flag.
    pub(super) fn value_after(&mut self, kw: &str, example: &str) -> PResult<&'t str> {
        match self.peek() {
            Some(tok) if !is_flag(tok) => {
                self.bump();
                Ok(tok)
            }
            Some(tok) => Err(ParseError::new(format!(
                "`{kw}` needs a value before `{}`, e.g. `{example}`.",
                shown(tok)
            ))),
            None => Err(ParseError::new(format!(
                "`{kw}` needs a value after it, e.g. `{example}`."
            ))),
        }
    }

    /// A required positional word (app, env, id): not missing, not a keyword, not a flag.
    pub(super) fn positional(
        &mut self,
        example: &str,
        keywords: &[&str],
        what: &str,
    ) -> PResult<&'t str> {
        match self.peek() {
            Some(tok) if is_flag(tok) => {
                let flag = Flag::of(tok).unwrap_or_default();
                Err(ParseError::new(format!(
                    "Which {what}? `{}` is a flag; say `{example}`.",
                    shown(flag.raw)
                )))
            }
            Some(tok) if !is_kw(tok, keywords) => {
                self.bump();
                Ok(tok)
            }
            _ => Err(which(what, example)),
        }
    }

    /// An optional single name (`wcid [<app>]`, `windows [<env>]`, `help [<command>]`).
    pub(super) fn optional_name(&mut self, verb: &str) -> PResult<Option<&'t str>> {
        match self.peek() {
            Some(tok) if is_flag(tok) => Err(Flag::of(tok).unwrap_or_default().unknown(verb, &[])),
            _ => Ok(self.bump()),
        }
    }

    /// Tokens up to the next flag or stop word, as one string (`2h 30m`, `friday 16:00`).
    pub(super) fn words_until(&mut self, stop: &[&str]) -> &'t str {
        let start = self.pos;
        while let Some(tok) = self.peek() {
            if is_flag(tok) || is_kw(tok, stop) {
                break;
            }
            self.bump();
        }
        self.text[start..self.pos].trim_end()
    }

    /// Accepts a flag that takes no value.
    pub(super) fn plain_flag(&mut self, flag: &Flag) -> PResult<()> {
        if flag.value_at.is_some() {
            return Err(ParseError::new(format!(
                "`{}` takes no value.",
                shown(flag.raw)
            )));
        }
        self.bump();
        Ok(())
    }

    /// The reason after `--reason`/`--emergency` (or after `=`): a quoted string or one word.
    /// `example` is a reason that would do, for the messages that say how to write one.
    pub(super) fn flag_reason(&mut self, flag: &Flag, example: &str) -> PResult<String> {
        match flag.value_at {
            Some(at) => self.pos += at,
            None => {
                self.bump();
            }
        }
        let needs = || {
            ParseError::new(format!(
                "`{0}` needs a reason in quotes, e.g. `{0} \"{example}\"`.",
                shown(flag.raw)
            ))
        };
        let written = format!("--{} \"{example}\"", flag.name);
        let checked = |reason: &str| {
            if flag.name == "emergency" && reason.trim_matches(' ').is_empty() {
                return Err(ParseError::new(format!(
                    "An emergency deploy needs a reason, and this one is empty: say why it cannot wait, e.g. `{written}`."
                )));
            }
            checked_text(reason, "reason", MAX_REASON_CHARS, &written)
        };
        let rest = self.rest();
        if rest.is_empty() || rest.starts_with(' ') {
            return Err(needs());
        }
        if starts_quoted(rest) {
            let Some((inner, after)) = split_quoted(rest) else {
                return Err(ParseError::new(format!(
                    "The reason after `{}` has no closing quote.",
                    shown(flag.raw)
                )));
            };
            self.pos = self.text.len() - after.len();
            return checked(inner);
        }
        let word = self.peek().filter(|w| !is_flag(w)).ok_or_else(needs)?;
        self.bump();
        checked(word)
    }

    pub(super) fn end(&self) -> PResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.leftover()),
        }
    }

    pub(super) fn leftover(&self) -> ParseError {
        let tok = self.peek().unwrap_or_default();
        let said = self.said();
        if let Some(flag) = Flag::of(tok) {
            return ParseError::new(format!(
                "I don't know the flag `{}` after `{}`.",
                shown(flag.raw),
                shown(said)
            ));
        }
        let mut err = ParseError::new(format!(
            "I didn't understand `{}` after `{}`.",
            shown(tok),
            shown(said)
        ));
        if starts_quoted(tok) {
            err.message.push_str(" Reasons go after `--reason`.");
        }
        err
    }

    /// A leftover word that is a valid name where an env could go, and that ends the message
    /// (or is followed by a long flag), gets "did you mean `deploy api to prod`?". Only then: after
    /// `deploy api@main rm -rf /` a hint `deploy api@main to rm` would be nonsense.
    pub(super) fn leftover_maybe_env(&self, env_open: bool, prep: &str) -> ParseError {
        let err = self.leftover();
        let tok = self.peek().unwrap_or_default();
        let after = self.rest()[tok.len()..].trim_start_matches(' ');
        let ends = after.is_empty() || ["--", "—", "–"].iter().any(|d| after.starts_with(d));
        if !env_open || !ends || EnvName::parse(tok).is_err() {
            return err;
        }
        let fix = format!("{} {prep} {tok}", self.said());
        ParseError::new(format!("{} Did you mean `{}`?", err.message, shown(&fix))).suggesting(fix)
    }
}
