//! Errors for the person editing the files: every one names `file:line:column` and says what
//! was expected, and loading collects all of them instead of stopping at the first.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in one file. Lines and columns are 1-based; a column counts characters, not
/// bytes, so it matches what an editor shows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Everything wrong with a configuration, sorted by file, then line, then column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The closest candidate to `word`, if one is close enough to be worth suggesting. Compared
/// case-insensitively, since a wrong case is the most common near miss.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    // Allow roughly one edit per three characters: `prdo` → `prod`, `hots` → `hosts`, but not
    // `web` → `api`.
    let limit = (word.chars().count() / 3).clamp(1, 4);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `"; did you mean `x`?"` when there is a close candidate, else nothing: ready to append to a
/// message.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// One file's text, kept to turn byte spans into line and column.
pub(crate) struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(path: &Path, text: String) -> Self {
        Self {
            path: path.to_path_buf(),
            text,
        }
    }

    /// 1-based line and character column of a byte offset (clamped into the text).
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    pub fn at(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let (line, column) = self.position(span.start);
        Diagnostic {
            file: self.path.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    /// For problems that belong to the whole file (a missing table, a bad file name).
    pub fn whole(&self, message: impl Into<String>) -> Diagnostic {
        whole_file(&self.path, message)
    }

    /// A syntax error, unknown key or wrong type reported by the `toml` crate, with a
    /// suggestion added for unknown keys and values.
    pub fn toml_error(&self, err: &toml::de::Error) -> Diagnostic {
        let message = explain(err.message());
        match err.span() {
            Some(span) => self.at(span, message),
            None => self.whole(message),
        }
    }
}

pub(crate) fn whole_file(path: &Path, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message: message.into(),
    }
}

/// serde words unknown keys as "unknown field `hots`, expected one of `hosts`, `strategy`";
/// the person editing the file mostly needs the one they meant.
fn explain(message: &str) -> String {
    let message = message.trim_end();
    for prefix in ["unknown field `", "unknown variant `"] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some((word, expected)) = rest.split_once('`') else {
            continue;
        };
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return format!("{message}{}", did_you_mean(word, candidates));
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let src = Source::new(Path::new("f.toml"), "a = 1\nb = \"é\" x\n".into());
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(6), (2, 1));
        // After the two-byte `é` and the closing quote: column counts characters.
        let x = src.text.find(" x").unwrap() + 1;
        assert_eq!(src.position(x), (2, 9));
        assert_eq!(src.position(10_000), (3, 1));
    }

    #[test]
    fn unknown_fields_get_a_suggestion() {
        assert_eq!(
            explain("unknown field `hots`, expected one of `hosts`, `strategy`"),
            "unknown field `hots`, expected one of `hosts`, `strategy`; did you mean `hosts`?"
        );
        assert_eq!(
            explain("unknown field `zzz`, expected `hosts` or `strategy`"),
            "unknown field `zzz`, expected `hosts` or `strategy`"
        );
    }

    #[test]
    fn suggestions_are_close_and_case_insensitive() {
        assert_eq!(closest("prdo", ["staging", "prod"]), Some("prod"));
        assert_eq!(closest("PROD", ["staging", "prod"]), Some("prod"));
        assert_eq!(closest("web", ["api", "prod"]), None);
    }
}
