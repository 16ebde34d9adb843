//! People and their accounts (`[people.<name>]`, docs/people.md): who someone is, for every
//! rule (approvals, no self-approval, locks, cancel) and every record (history, live, search
//! `user:`), whichever platform they used.
//!
//! Invariant: **an identity comes from an account's platform and id only, never from a display
//! name.** An account listed under a person is that person; a console user is the person of
//! that name (the console stands in for every platform); any other account is `platform:id`.

use std::collections::BTreeMap;

/// The platforms `[people]` and groups may name accounts on.
pub const PLATFORMS: &[&str] = &["slack", "discord"];
/// Group entries resolved by their adapter (a Slack user group, a Discord role).
pub const GROUP_PLATFORMS: &[&str] = &["slack-group", "discord-role"];

/// `[people]`: people by name, each with their accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct People {
    /// Person → account keys (`slack:U0CAROL`).
    accounts: BTreeMap<String, Vec<String>>,
    /// Account key → person.
    owner: BTreeMap<String, String>,
}

impl People {
    /// Adds `person` with `accounts` (`(platform, id)`); `Err` names the person who already has
    /// one of them (loading reports it; an account is never two people).
    pub fn add(&mut self, person: &str, accounts: &[(&str, &str)]) -> Result<(), String> {
        let keys: Vec<String> = accounts.iter().map(|(p, id)| key(p, id)).collect();
        if let Some(other) = keys.iter().find_map(|k| self.owner.get(k)) {
            return Err(other.clone());
        }
        for k in &keys {
            self.owner.insert(k.clone(), person.to_owned());
        }
        self.accounts
            .entry(person.to_owned())
            .or_default()
            .extend(keys);
        Ok(())
    }

    /// Who the account `(platform, id)` is: its person, a console user's own name, or
    /// `platform:id`.
    pub fn identity(&self, platform: &str, id: &str) -> String {
        if platform == "console" {
            return id.to_owned();
        }
        let k = key(platform, id);
        self.owner.get(&k).cloned().unwrap_or(k)
    }

    /// The account keys of a person (empty for anyone else).
    pub fn accounts_of(&self, identity: &str) -> &[String] {
        self.accounts.get(identity).map_or(&[], Vec::as_slice)
    }

    /// Whether `identity` is what a group entry names: the person (or console user) of that
    /// name, or one of the person's accounts, or that very account.
    pub fn matches(&self, entry: &str, identity: &str) -> bool {
        entry == identity || self.accounts_of(identity).iter().any(|a| a == entry)
    }

    /// The people, by name, with their account keys.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.accounts
            .iter()
            .map(|(p, a)| (p.as_str(), a.as_slice()))
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

fn key(platform: &str, id: &str) -> String {
    format!("{platform}:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people() -> People {
        let mut p = People::default();
        p.add("carol", &[("slack", "U0CAROL"), ("discord", "111")])
            .unwrap();
        p.add("alice", &[("slack", "U0ALICE")]).unwrap();
        p
    }

    #[test]
    fn an_account_is_its_person_whichever_the_platform() {
        let p = people();
        assert_eq!(p.identity("slack", "U0CAROL"), "carol");
        assert_eq!(p.identity("discord", "111"), "carol");
        assert_eq!(p.identity("console", "carol"), "carol");
        // Nobody's: platform:id, whatever name it shows.
        assert_eq!(p.identity("slack", "U0MALLORY"), "slack:U0MALLORY");
        // An id is matched exactly: another platform's same id is someone else.
        assert_eq!(p.identity("discord", "U0CAROL"), "discord:U0CAROL");
    }

    #[test]
    fn a_group_entry_names_a_person_or_an_account() {
        let p = people();
        assert!(p.matches("carol", "carol"));
        assert!(p.matches("slack:U0CAROL", "carol"));
        assert!(p.matches("discord:111", "carol"));
        assert!(!p.matches("slack:U0CAROL", "alice"));
        assert!(p.matches("slack:U0BOB", "slack:U0BOB"));
        assert!(!p.matches("bob", "slack:U0BOB"));
    }

    #[test]
    fn an_account_is_never_two_people() {
        let mut p = people();
        assert_eq!(p.add("dave", &[("slack", "U0CAROL")]), Err("carol".into()));
        assert_eq!(p.identity("slack", "U0CAROL"), "carol");
    }
}
