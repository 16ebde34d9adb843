//! Validated names: the only way to get an [`AppName`], [`EnvName`], [`HostName`] or [`GitRef`]
//! is to parse one, so a value that could reach a shell or a SQL string unchecked cannot exist
//! past the edge (docs/commands.md).

use std::fmt;

/// Why a name or ref was refused, worded for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error(
        "`{shown}` is not a valid {what}: use lower-case letters, digits, `.`, `_` and `-`, starting with a letter or digit"
    )]
    BadName { what: &'static str, shown: String },
    #[error(
        "`{shown}` is not a valid ref: use letters, digits, `.`, `_`, `/`, `+` and `-`, starting with a letter or digit"
    )]
    BadRefChars { shown: String },
    #[error("the ref is {len} characters long; at most 128 are allowed")]
    RefTooLong { len: usize },
    #[error("`{shown}` is not a valid ref: {why}")]
    BadRefShape { shown: String, why: &'static str },
}

/// Shows at most 40 characters of what the user typed, with control characters escaped, so an
/// error message can never be used to smuggle newlines or a wall of text into the channel.
pub fn shown(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .take(40)
        .flat_map(char::escape_default)
        .collect();
    if raw.chars().count() > 40 {
        out.push('…');
    }
    out
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            /// Parses a name: `[a-z0-9][a-z0-9._-]*`. Upper case is accepted and folded, since
            /// names are matched case-insensitively (docs/commands.md).
            pub fn parse(raw: &str) -> Result<Self, NameError> {
                if raw.is_empty() {
                    return Err(NameError::Empty { what: $what });
                }
                let lower = raw.to_ascii_lowercase();
                if lower.len() > 64 || !is_name(&lower) {
                    return Err(NameError::BadName { what: $what, shown: shown(raw) });
                }
                Ok(Self(lower))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// An application, as named by its recipe `deploy.d/<app>.toml`.
    AppName, "app name");
name_type!(
    /// An environment such as `staging` or `prod`.
    EnvName, "env name");
name_type!(
    /// A host or host group inside an env (`deploy api to prod/api-1`).
    HostName, "host name");

/// A git ref or version label (`main`, `v1.4.2`, `feature/login`), checked against docs/commands.md:
/// `[A-Za-z0-9][A-Za-z0-9._/+-]*`, at most 128 characters, no `..`, no `//`, no trailing `/`
/// or `.lock`. Because the first character cannot be `-`, a ref can never be read as a flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct GitRef(String);

impl GitRef {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let len = raw.chars().count();
        if len == 0 {
            return Err(NameError::Empty { what: "ref" });
        }
        if len > Self::MAX_LEN {
            return Err(NameError::RefTooLong { len });
        }
        let mut chars = raw.chars();
        let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric());
        if !first_ok
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '+' | '-'))
        {
            return Err(NameError::BadRefChars { shown: shown(raw) });
        }
        let why = if raw.contains("..") {
            Some("it contains `..`")
        } else if raw.contains("//") {
            Some("it contains `//`")
        } else if raw.ends_with('/') {
            Some("it ends with `/`")
        } else if raw.ends_with(".lock") {
            Some("it ends with `.lock`")
        } else {
            None
        };
        match why {
            Some(why) => Err(NameError::BadRefShape {
                shown: shown(raw),
                why,
            }),
            None => Ok(Self(raw.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for GitRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_case_and_refuse_shell_characters() {
        assert_eq!(AppName::parse("API").unwrap().as_str(), "api");
        for bad in [
            "", "-rf", "a b", "a;b", "$(x)", "a`b`", "ä", ".hidden", "a/b",
        ] {
            assert!(AppName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(EnvName::parse("prod-eu.1_a").is_ok());
    }

    #[test]
    fn refs_follow_the_contract() {
        for good in ["main", "v1.4.2", "feature/login", "a+b", "A_1-x", "0abc"] {
            assert!(GitRef::parse(good).is_ok(), "{good:?} was refused");
        }
        for bad in [
            "",
            "--upload-pack=x",
            "-x",
            "a..b",
            "a//b",
            "a/",
            "x.lock",
            "$(touch /tmp/x)",
            "a`b`",
            "a;b",
            "a|b",
            "a\nb",
            "/abs",
            ".hidden",
        ] {
            assert!(GitRef::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(GitRef::parse(&"a".repeat(128)).is_ok());
        assert_eq!(
            GitRef::parse(&"a".repeat(129)),
            Err(NameError::RefTooLong { len: 129 })
        );
    }

    #[test]
    fn shown_escapes_control_characters_and_truncates() {
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown(&"x".repeat(50)).chars().count(), 41);
    }
}
