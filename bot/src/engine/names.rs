//! How accounts of nobody's are shown: by the display name their platform gave, next to the
//! `platform:id` that identifies them (`Erin Smith (slack:U0ERIN)`), so a name shows who spoke
//! and the id shows that no display name granted anything.
//!
//! Invariant: **rendering only.** Rules and records keep the identity; only text on its way to
//! chat (`Inner::say`, `Inner::edit`) passes through [`Names::render`]. Bounded: the newest
//! [`CAPACITY`] accounts are remembered.

use std::collections::{HashMap, VecDeque};

/// How many display names are remembered.
pub const CAPACITY: usize = 10_000;
/// The longest display name shown, in characters.
const MAX_SHOWN: usize = 40;

#[derive(Debug, Default)]
pub struct Names {
    shown: HashMap<String, String>,
    order: VecDeque<String>,
}

impl Names {
    /// Remembers that `identity` (an account of nobody's, `platform:id`) shows as `display`.
    /// A display name that says nothing more than the identity, or nothing at all, is not kept.
    pub fn learn(&mut self, identity: &str, display: &str) {
        // A platform that could not name the account gives its id: nothing more to show.
        let says_nothing = identity
            .split_once(':')
            .is_none_or(|(_, id)| display.trim() == id || display.trim() == identity);
        if says_nothing {
            return;
        }
        let display = clean(display);
        if display.is_empty() {
            return;
        }
        if !self.shown.contains_key(identity) {
            if self.order.len() >= CAPACITY
                && let Some(oldest) = self.order.pop_front()
            {
                self.shown.remove(&oldest);
            }
            self.order.push_back(identity.to_owned());
        }
        self.shown.insert(identity.to_owned(), display);
    }

    /// `text` with every known `platform:id` (as a whole word) shown as `Name (platform:id)`.
    pub fn render(&self, text: &str) -> String {
        if self.shown.is_empty() || !text.contains(':') {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        while let Some((start, end)) = next_word(rest) {
            out.push_str(&rest[..start]);
            let word = &rest[start..end];
            match self.shown.get(word) {
                Some(name) => {
                    out.push_str(name);
                    out.push_str(" (");
                    out.push_str(word);
                    out.push(')');
                }
                None => out.push_str(word),
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

/// The next run of identity characters in `s`: its byte range.
fn next_word(s: &str) -> Option<(usize, usize)> {
    let start = s.find(is_id_char)?;
    let end = s[start..]
        .find(|c: char| !is_id_char(c))
        .map_or(s.len(), |e| start + e);
    Some((start, end))
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-')
}

/// A display name as it may be shown: printable letters, digits, spaces and a little
/// punctuation only (no markup, no `<!channel>`, no line breaks), at most [`MAX_SHOWN`].
fn clean(display: &str) -> String {
    let kept: String = display
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '\'') {
                c
            } else {
                ' '
            }
        })
        .take(MAX_SHOWN)
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_of_nobodys_shows_its_name_beside_its_id() {
        let mut n = Names::default();
        n.learn("slack:U0ERIN", "Erin Smith");
        n.learn("slack:U0MALLORY", "carol <!channel>\nhi");
        assert_eq!(
            n.render("slack:U0ERIN approved #3; slack:U0ERINX did not."),
            "Erin Smith (slack:U0ERIN) approved #3; slack:U0ERINX did not."
        );
        // An impostor's name shows with the id that says who it is; markup is dropped.
        assert_eq!(
            n.render("slack:U0MALLORY, only leads can approve"),
            "carol channel hi (slack:U0MALLORY), only leads can approve"
        );
        assert_eq!(n.render("no ids here"), "no ids here");
    }

    #[test]
    fn people_and_console_users_are_not_renamed_and_memory_is_bounded() {
        let mut n = Names::default();
        n.learn("carol", "Carol Q");
        n.learn("slack:U0X", "slack:U0X");
        n.learn("slack:U0Z", "U0Z");
        n.learn("slack:U0Y", "  ");
        assert_eq!(
            n.render("carol slack:U0X slack:U0Y slack:U0Z"),
            "carol slack:U0X slack:U0Y slack:U0Z"
        );
        for i in 0..(CAPACITY + 10) {
            n.learn(&format!("slack:U{i}"), "Someone");
        }
        assert_eq!(n.len(), CAPACITY);
        assert_eq!(n.render("slack:U0"), "slack:U0", "the oldest was forgotten");
    }
}
