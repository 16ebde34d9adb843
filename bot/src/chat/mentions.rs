//! People shown as their platform's mentions (`<@U0CAROL>` in Slack, `<@3000…>` in Discord) in
//! what deckhand says, so a name is a link to the person (docs/people.md).
//!
//! Invariant: **mentions only for people.** A word is made a mention when it is the name of a
//! person `[people]` gives an account on the platform, outside backticks and not part of a
//! longer name, a ref or a path (`api@carol`, `deploy.d/carol`, `user:carol`): what the engine
//! says names people by their name. Whether a mention notifies is the adapter's choice.

use crate::core::people::People;
use std::collections::HashMap;

/// People by name → their account id on one platform, for [`mention`].
pub type Mentions = HashMap<String, String>;

/// The people of `[people]` who have an account on `platform`, by name.
pub fn of(people: &People, platform: &str) -> Mentions {
    let prefix = format!("{platform}:");
    people
        .iter()
        .filter_map(|(person, accounts)| {
            accounts
                .iter()
                .find_map(|a| a.strip_prefix(&prefix))
                .map(|id| (person.to_owned(), id.to_owned()))
        })
        .collect()
}

/// `text` (already escaped for its platform) with each person named in it as their `<@id>`
/// mention (Slack's and Discord's form): see the module's invariants for which words are names.
pub fn mention(text: &str, people: &Mentions) -> String {
    if people.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_code = false;
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, text: &str, start: usize, end: usize, in_code: bool| {
        // A sentence's full stop (or a dash after a name) is not part of the name.
        let end_of_name = start + text[start..end].trim_end_matches(['.', '-', '_']).len();
        let (word, trail) = (&text[start..end_of_name], &text[end_of_name..end]);
        let before = text[..start].chars().next_back();
        let after = text[end_of_name..].chars().next();
        let joined = |c: Option<char>| c.is_some_and(|c| matches!(c, '@' | ':' | '/' | '#' | '='));
        match people.get(word) {
            Some(id) if !in_code && !joined(before) && !joined(after) => {
                out.push_str("<@");
                out.push_str(id);
                out.push('>');
            }
            _ => out.push_str(word),
        }
        out.push_str(trail);
    };
    for (i, c) in text.char_indices() {
        if is_name_char(c) {
            word_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = word_start.take() {
            flush(&mut out, text, start, i, in_code);
        }
        if c == '`' {
            in_code = !in_code;
        }
        out.push(c);
    }
    if let Some(start) = word_start {
        flush(&mut out, text, start, text.len(), in_code);
    }
    out
}

/// What a word is made of: a person's name, with the `.`/`-`/`_` that join a longer name
/// (`carol.smith` is not `carol`).
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-' | '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people() -> Mentions {
        [("carol", "U0CAROL"), ("dave", "U0DAVE")]
            .into_iter()
            .map(|(p, id)| (p.to_owned(), id.to_owned()))
            .collect()
    }

    #[test]
    fn people_are_mentioned_where_the_text_names_them() {
        assert_eq!(
            mention("#3 approved by carol and dave.", &people()),
            "#3 approved by <@U0CAROL> and <@U0DAVE>."
        );
        assert_eq!(
            mention("Approved so far by carol; 1 more needed.", &people()),
            "Approved so far by <@U0CAROL>; 1 more needed."
        );
    }

    #[test]
    fn names_inside_refs_paths_code_and_longer_names_stay_text() {
        let p = people();
        for text in [
            "deploy api@carol to prod",
            "`carol` is not an app",
            "deploy.d/carol.toml",
            "carol.smith and carol-2 and carolyn",
            "user:carol",
            "#carol",
        ] {
            assert_eq!(mention(text, &p), text, "{text}");
        }
        assert_eq!(mention("carol", &Mentions::new()), "carol");
    }

    #[test]
    fn people_are_mentioned_by_their_account_on_the_platform() {
        let mut people = People::default();
        people
            .add("carol", &[("slack", "U0CAROL"), ("discord", "300")])
            .unwrap();
        people.add("dave", &[("slack", "U0DAVE")]).unwrap();
        let discord = of(&people, "discord");
        assert_eq!(mention("by carol and dave", &discord), "by <@300> and dave");
        assert_eq!(of(&people, "slack").len(), 2);
    }
}
