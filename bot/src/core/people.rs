//! People and their accounts (`[people.<name>]`, docs/people.md): who someone is, for every
//! rule (approvals, no self-approval, locks, cancel) and every record (history, live, search
//! `user:`), whichever platform they used.
//!
//! Invariant: **an identity comes from an account's platform and id only, never from a display
//! name.** An account listed under a person is that person; a console user is the person of
//! that name (the console stands in for every platform); any other account is `platform:id`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::RwLock;

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

/// Who is in each platform group (`slack-group:S0…`, `discord-role:<id>`), as the adapters
/// last told: a Slack user group's member list, the roles a Discord member had on a message.
/// Entries are identities (people by name, or `platform:id`), so a person in a Slack group is
/// in it whichever platform they act from.
///
/// Invariant: **only what a platform said.** Nothing is inferred from names; a group nobody
/// reported has no members, so it grants nothing until its platform speaks. It is shared state
/// (the engine writes as events come, policy reads), not I/O: the core still asks no one.
#[derive(Debug, Default)]
pub struct PlatformGroups {
    members: RwLock<BTreeMap<String, BTreeSet<String>>>,
}

impl PlatformGroups {
    /// Whether `identity` is in the platform group `group`, as last reported.
    pub fn contains(&self, group: &str, identity: &str) -> bool {
        self.read().get(group).is_some_and(|m| m.contains(identity))
    }

    /// `group`'s members are now exactly `identities`.
    pub fn replace(&self, group: &str, identities: impl IntoIterator<Item = String>) {
        self.write()
            .insert(group.to_owned(), identities.into_iter().collect());
    }

    /// Records whether `identity` is in `group` now.
    pub fn set(&self, group: &str, identity: &str, member: bool) {
        let mut all = self.write();
        if member {
            all.entry(group.to_owned())
                .or_default()
                .insert(identity.to_owned());
        } else if let Some(m) = all.get_mut(group) {
            m.remove(identity);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, BTreeSet<String>>> {
        // A panic while holding the lock leaves a consistent map (every write is one call).
        self.members.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, BTreeSet<String>>> {
        self.members.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The kind of platform group a platform has (`slack` → `slack-group`), if any.
pub fn group_platform_of(platform: &str) -> Option<&'static str> {
    match platform {
        "slack" => Some("slack-group"),
        "discord" => Some("discord-role"),
        _ => None,
    }
}

/// Whether a group entry names a platform group (`slack-group:S0…`, `discord-role:<id>`).
pub fn is_platform_group(entry: &str) -> bool {
    entry
        .split_once(':')
        .is_some_and(|(platform, _)| GROUP_PLATFORMS.contains(&platform))
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
    fn a_platform_group_has_only_the_members_its_platform_reported() {
        let seen = PlatformGroups::default();
        assert!(!seen.contains("slack-group:S0LEADS", "carol"));
        seen.replace("slack-group:S0LEADS", ["carol".to_owned(), "slack:U0ERIN".to_owned()]);
        assert!(seen.contains("slack-group:S0LEADS", "carol"));
        assert!(seen.contains("slack-group:S0LEADS", "slack:U0ERIN"));
        assert!(!seen.contains("slack-group:S0OTHER", "carol"));
        seen.set("discord-role:7", "dave", true);
        assert!(seen.contains("discord-role:7", "dave"));
        seen.set("discord-role:7", "dave", false);
        assert!(!seen.contains("discord-role:7", "dave"));
        seen.replace("slack-group:S0LEADS", ["slack:U0ERIN".to_owned()]);
        assert!(!seen.contains("slack-group:S0LEADS", "carol"));
        assert!(is_platform_group("discord-role:7") && is_platform_group("slack-group:S0X"));
        assert!(!is_platform_group("slack:U0X") && !is_platform_group("leads"));
    }

    #[test]
    fn an_account_is_never_two_people() {
        let mut p = people();
        assert_eq!(p.add("dave", &[("slack", "U0CAROL")]), Err("carol".into()));
        assert_eq!(p.identity("slack", "U0CAROL"), "carol");
    }
}
