//! Secrets from the environment or a file (docs/configuration.md, "Secrets"): `NAME`, or
//! `NAME_FILE` naming a file whose content is the secret (the convention of Docker and
//! Kubernetes secrets, so a token need not sit in the process environment).
//!
//! Invariant: a secret is read here and handed on; nothing here logs or prints its value, and
//! the errors name the variable and the file, never the content.

/// Why a secret could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Neither `NAME` nor `NAME_FILE` is set (or only to blanks).
    Unset(&'static str),
    /// `NAME_FILE` is set, and the file can't be read or is empty: the variable, the path, why.
    Unreadable(String, String, String),
    /// Set, but not what it must be: the variable, and what it must be.
    Invalid(&'static str, &'static str),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Unset(name) => f.write_str(name),
            Missing::Unreadable(var, path, why) => write!(f, "{var} ({path}: {why})"),
            Missing::Invalid(var, what) => write!(f, "{var} ({what})"),
        }
    }
}

/// The secret `name`: `$NAME` when set and not blank, else the content of the file
/// `$NAME_FILE`, trimmed.
pub fn read(name: &'static str) -> Result<String, Missing> {
    if let Some(value) = std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
        return Ok(value.trim().to_owned());
    }
    let var = format!("{name}_FILE");
    let Some(path) = std::env::var(&var).ok().filter(|p| !p.trim().is_empty()) else {
        return Err(Missing::Unset(name));
    };
    match std::fs::read_to_string(path.trim()) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        Ok(_) => Err(Missing::Unreadable(var, path, "the file is empty".into())),
        Err(err) => Err(Missing::Unreadable(var, path, err.to_string())),
    }
}

/// The optional secret `name`: `None` when neither `NAME` nor `NAME_FILE` is set.
pub fn optional(name: &'static str) -> Result<Option<String>, Missing> {
    match read(name) {
        Ok(v) => Ok(Some(v)),
        Err(Missing::Unset(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// `a`, `a and b`, `a, b and c`, followed by `is`/`are`: for "… not set" messages.
pub fn listed(missing: &[Missing]) -> String {
    let names: Vec<String> = missing.iter().map(ToString::to_string).collect();
    let verb = if names.len() == 1 { "is" } else { "are" };
    let list = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    };
    format!("{list} {verb}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_secrets_are_listed_by_name_and_file() {
        assert_eq!(listed(&[Missing::Unset("A")]), "A is");
        assert_eq!(
            listed(&[
                Missing::Unset("A"),
                Missing::Unreadable("B_FILE".into(), "/x".into(), "gone".into())
            ]),
            "A and B_FILE (/x: gone) are"
        );
    }
}
