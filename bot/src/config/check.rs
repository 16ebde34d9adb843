//! Turning raw values into checked ones while collecting every problem of a file. Each helper
//! returns `None` after recording a diagnostic, so the caller carries on and reports the rest.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use toml::Spanned;

use crate::config::diagnostic::{Diagnostic, Source, did_you_mean};

pub(crate) struct Checker<'a> {
    pub src: &'a Source,
    pub diags: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub fn new(src: &'a Source) -> Self {
        Self {
            src,
            diags: Vec::new(),
        }
    }

    pub fn error<T>(&mut self, at: &Spanned<T>, message: impl Into<String>) {
        let d = self.src.at(at.span(), message);
        self.diags.push(d);
    }

    pub fn error_whole(&mut self, message: impl Into<String>) {
        let d = self.src.whole(message);
        self.diags.push(d);
    }

    /// A humantime duration such as `30s`, `10m`, `1h 30m`; zero is refused since every
    /// duration here is a length of time something must last.
    pub fn duration(&mut self, raw: &Spanned<String>, what: &str) -> Option<Duration> {
        match humantime::parse_duration(raw.get_ref().trim()) {
            Ok(d) if d.is_zero() => {
                self.error(raw, format!("{what} must be longer than zero"));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    raw,
                    format!(
                        "`{}` is not a duration ({e}); expected e.g. \"30s\", \"10m\", \"1h 30m\"",
                        raw.get_ref()
                    ),
                );
                None
            }
        }
    }

    pub fn duration_or(
        &mut self,
        raw: Option<&Spanned<String>>,
        what: &str,
        default: Duration,
    ) -> Option<Duration> {
        match raw {
            Some(raw) => self.duration(raw, what),
            None => Some(default),
        }
    }

    /// An IANA time zone name (`Europe/Brussels`, `UTC`).
    pub fn timezone(&mut self, raw: &Spanned<String>) -> Option<chrono_tz::Tz> {
        let name = raw.get_ref().trim();
        if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
            return Some(tz);
        }
        let hint = did_you_mean(name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()));
        self.error(
            raw,
            format!(
                "`{name}` is not an IANA time zone; expected a name such as \"Europe/Brussels\" or \
                 \"UTC\"{hint}"
            ),
        );
        None
    }

    /// A whole number of at least `min`.
    pub fn count(&mut self, raw: &Spanned<i64>, what: &str, min: u32) -> Option<u32> {
        match u32::try_from(*raw.get_ref()) {
            Ok(n) if n >= min => Some(n),
            _ => {
                self.error(
                    raw,
                    format!(
                        "{what} must be a whole number of at least {min}, not {}",
                        raw.get_ref()
                    ),
                );
                None
            }
        }
    }

    pub fn count_or(
        &mut self,
        raw: Option<&Spanned<i64>>,
        what: &str,
        min: u32,
        default: u32,
    ) -> Option<u32> {
        match raw {
            Some(raw) => self.count(raw, what, min),
            None => Some(default),
        }
    }

    /// A string that must say something.
    pub fn non_empty(&mut self, raw: &Spanned<String>, what: &str) -> Option<String> {
        let s = raw.get_ref().trim();
        if s.is_empty() {
            self.error(raw, format!("{what} is empty"));
            return None;
        }
        Some(s.to_owned())
    }

    /// A point in time: a TOML date-time or an RFC 3339 string; without an offset it is read in
    /// `tz`.
    pub fn instant(
        &mut self,
        raw: &Spanned<toml::Value>,
        tz: chrono_tz::Tz,
    ) -> Option<DateTime<Utc>> {
        let text = match raw.get_ref() {
            toml::Value::String(s) => s.trim().to_owned(),
            toml::Value::Datetime(d) => d.to_string(),
            other => {
                self.error(
                    raw,
                    format!(
                        "expected a date and time such as 2026-12-24T18:00:00+01:00, found a {}",
                        other.type_str()
                    ),
                );
                return None;
            }
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
            return Some(t.with_timezone(&Utc));
        }
        let naive = [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&text, f).ok());
        let Some(naive) = naive else {
            self.error(
                raw,
                format!(
                    "`{text}` is not a date and time; expected RFC 3339 such as \
                     2026-12-24T18:00:00+01:00 (without an offset it is read in {tz})"
                ),
            );
            return None;
        };
        match tz.from_local_datetime(&naive).earliest() {
            Some(t) => Some(t.with_timezone(&Utc)),
            None => {
                self.error(
                    raw,
                    format!(
                        "`{text}` does not exist in {tz} (the clocks skip it); give an offset or \
                         another time"
                    ),
                );
                None
            }
        }
    }
}

/// Names used as keys and in chat: `[a-z0-9][a-z0-9._-]*`, the rule of `core::names`.
pub(crate) fn is_plain_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}
