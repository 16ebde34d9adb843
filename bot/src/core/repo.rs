//! A recipe's GitHub repository (`repo = "owner/name"`) and commit SHAs: names that are only
//! obtainable by parsing, so nothing but `[A-Za-z0-9._-]` reaches a URL path.

use std::fmt;

/// `owner/name` of a GitHub repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoName {
    owner: String,
    name: String,
}

impl RepoName {
    /// `owner/name`: each part of GitHub's characters (letters, digits, `-`, `_`, `.`), not
    /// `.` or `..`, so a repository name can be put in an API path as it is.
    pub fn parse(s: &str) -> Result<RepoName, String> {
        let bad = || {
            format!("`{s}` is not a GitHub repository; expected \"owner/name\", e.g. \"acme/api\"")
        };
        let (owner, name) = s.trim().split_once('/').ok_or_else(bad)?;
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 100
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !part_ok(owner) || !part_ok(name) {
            return Err(bad());
        }
        Ok(RepoName {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A full commit SHA: 40 hex digits. A ref written this way needs no lookup to be pinned.
pub fn is_full_sha(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Could be an abbreviated commit SHA (at least 4 hex digits, as git accepts).
pub fn may_be_sha_prefix(s: &str) -> bool {
    (4..=40).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The 7-character form people read.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// What a requested ref turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Branch,
    Tag,
    /// A full SHA or a prefix of one: it cannot move.
    Commit,
}

impl RefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
            RefKind::Commit => "commit",
        }
    }
}

/// The closest branch and tag names to an unknown ref, best first, at most `n`: typos first
/// (`core::suggest`'s measure), then names sharing its start or containing it.
pub fn closest_refs<'a>(wanted: &str, names: &'a [String], n: usize) -> Vec<&'a str> {
    let lower = wanted.to_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .map(|name| {
            let l = name.to_lowercase();
            let d = strsim::damerau_levenshtein(&lower, &l);
            // A name that contains what was typed (`1.2` in `v1.2.0`) is as good as one edit.
            let d = if !lower.is_empty() && (l.contains(&lower) || lower.contains(&l)) {
                d.min(1)
            } else {
                d
            };
            (d, name.as_str())
        })
        .filter(|(d, _)| *d <= (wanted.len() / 2).max(2))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(n).map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_are_owner_slash_name_and_nothing_else() {
        let r = RepoName::parse("acme/api.rs").unwrap();
        assert_eq!((r.owner(), r.name()), ("acme", "api.rs"));
        assert_eq!(r.to_string(), "acme/api.rs");
        for bad in [
            "acme",
            "acme/",
            "/api",
            "acme/api/x",
            "acme/..",
            "ac me/api",
            "a/b?c",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shas_full_and_prefixes() {
        assert!(is_full_sha(&"a".repeat(40)));
        assert!(!is_full_sha(&"a".repeat(39)));
        assert!(!is_full_sha(&"g".repeat(40)));
        assert!(may_be_sha_prefix("abc1"));
        assert!(!may_be_sha_prefix("abc"));
        assert!(!may_be_sha_prefix("main"));
        assert_eq!(short("0123456789abcdef"), "0123456");
        assert_eq!(short("abc"), "abc");
    }

    #[test]
    fn closest_refs_prefer_typos_then_containment() {
        let names: Vec<String> = ["main", "maint/1.x", "develop", "v1.2.0", "v1.3.0"]
            .map(String::from)
            .to_vec();
        assert_eq!(closest_refs("mian", &names, 3), ["main"]);
        assert_eq!(closest_refs("v1.2", &names, 1), ["v1.2.0"]);
        assert!(closest_refs("zzzzzzzzzz", &names, 3).is_empty());
    }
}
