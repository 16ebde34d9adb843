//! `search <words> [app:] [env:] [user:] [status:] [since:] [until:]` over the whole log,
//! command output included (docs/lifecycle.md).
//!
//! User text never becomes query syntax: each word is passed to FTS5 as a quoted string (so
//! `OR`, `NEAR(`, `*`, `-` and `"` are just text) restricted to the `text` column, the quoted
//! words are ANDed, and the whole expression is one bind parameter, as are the filters.
//!
//! It must stay fast on tens of millions of lines (migration 0003):
//! - `app:`, `env:` and `user:` are FTS terms too, on the `tags` column (one token per value,
//!   hex-encoded), so FTS5 intersects them with the words instead of SQL filtering millions of
//!   matches;
//! - the FTS rowid is minus the line's id, so FTS5 hands out matches newest first in its
//!   natural order, each is joined by primary key to its line and deploy (for `status:`,
//!   `since:`, `until:` and the answer), and SQLite stops at the limit. `CROSS JOIN` pins that
//!   join order so the planner can never decide to sort all matches first.

use super::Store;
use super::rows::{HitRow, millis};
use super::types::SearchHit;
use crate::core::command::SearchArgs;
use anyhow::Context;
use std::fmt::Write;

/// Filters shared by both forms; `d` is NULL for lines of no deploy, which any deploy filter
/// therefore excludes. (`app`, `env` and `user` are already FTS terms in the first form;
/// checking them again costs nothing on rows already read.)
macro_rules! filters {
    () => {
        " AND (?2 IS NULL OR d.app = ?2) \
          AND (?3 IS NULL OR d.env = ?3) \
          AND (?4 IS NULL OR d.requested_by = ?4) \
          AND (?5 IS NULL OR d.state = ?5) \
          AND (?6 IS NULL OR l.at >= ?6) \
          AND (?7 IS NULL OR l.at <= ?7) \
          AND (?9 IS NULL OR substr(d.commit_sha, 1, length(?9)) = ?9)"
    };
}

macro_rules! hit_columns {
    () => {
        "SELECT l.id, l.deploy_id, d.app, d.env, d.version, d.state, d.requested_by, \
         l.at, l.kind, l.host, l.text"
    };
}

/// With words or a tag filter: walk the FTS matches newest first.
const BY_INDEX: &str = concat!(
    hit_columns!(),
    " FROM log_search s CROSS JOIN log_lines l ON l.id = -s.rowid \
      LEFT JOIN deploys d ON d.id = l.deploy_id \
      WHERE log_search MATCH ?1",
    filters!(),
    " ORDER BY s.rowid LIMIT ?8"
);

/// No words and no tag filter: walk the lines newest first by primary key. (`?1` is unused,
/// and bound to NULL, so both forms bind the same parameters.)
const BY_LINES: &str = concat!(
    hit_columns!(),
    " FROM log_lines l LEFT JOIN deploys d ON d.id = l.deploy_id \
      WHERE ?1 IS NULL",
    filters!(),
    " ORDER BY l.id DESC LIMIT ?8"
);

impl Store {
    /// Lines of the log matching every word of `q` and all its filters, newest first, at most
    /// `limit`. `since`/`until` bound the time the line was written (both inclusive).
    pub async fn search(&self, q: &SearchArgs, limit: u32) -> anyhow::Result<Vec<SearchHit>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (query, matching) = match fts_query(q) {
            Match::Terms(m) => (BY_INDEX, Some(m)),
            Match::Any => (BY_LINES, None),
            Match::Nothing => return Ok(Vec::new()),
        };
        let rows: Vec<HitRow> = sqlx::query_as(query)
            .bind(matching)
            .bind(q.app.as_ref().map(|a| a.as_str()))
            .bind(q.env.as_ref().map(|e| e.as_str()))
            .bind(q.user.as_deref())
            .bind(q.status.map(|s| s.as_str()))
            .bind(q.since.map(millis))
            .bind(q.until.map(millis))
            .bind(limit)
            .bind(q.sha.as_deref())
            .fetch_all(&self.pool)
            .await
            .context("cannot search the deploy log")?;
        rows.into_iter().map(HitRow::into_hit).collect()
    }
}

/// What FTS5 is asked.
#[derive(Debug, PartialEq)]
pub(crate) enum Match {
    /// This FTS5 expression.
    Terms(String),
    /// No words and no tag filter: the index cannot help.
    Any,
    /// Words that hold no token (only punctuation): no line can contain them.
    Nothing,
}

/// `deploy "failed"` with `app:api` → `((tags : "appx617069" AND text : "deploy") NOT tags :
/// "none") AND ((tags : "appx617069" AND text : """failed""") NOT tags : "none")`: every word a
/// quoted FTS5 string (a phrase of the tokens in it) on the `text` column, every filter a tag
/// token (hex, so always one plain token) on the `tags` column, nothing else. Words without a
/// letter or digit hold no token and are left out; [`Match::Nothing`] when every word was.
///
/// With filters and several words, each word is paired with the filters in a group of its own.
/// `NOT tags : "none"` removes nothing (no tag token is `none`); it only keeps FTS5 from
/// flattening the groups into one AND. Flat, FTS5 would step through every term at each line
/// of the rarest one, which in a big log means paging through the whole list of a word found in
/// millions of lines; grouped, a frequent word is only looked at where a rare word and the
/// filters already agree (a two-word search with `app:` and `env:` runs 2–3 times faster).
pub(crate) fn fts_query(q: &SearchArgs) -> Match {
    let words: Vec<String> = q
        .words
        .iter()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(|w| format!("text : \"{}\"", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() && !q.words.is_empty() {
        return Match::Nothing;
    }
    let mut tags: Vec<String> = Vec::new();
    match (&q.app, &q.env) {
        (Some(app), Some(env)) => {
            tags.push(format!("pairx{}x{}", hex(app.as_str()), hex(env.as_str())))
        }
        (Some(app), None) => tags.push(format!("appx{}", hex(app.as_str()))),
        (None, Some(env)) => tags.push(format!("envx{}", hex(env.as_str()))),
        (None, None) => {}
    }
    if let Some(user) = &q.user {
        tags.push(format!("userx{}", hex(user)));
    }
    let tags: Vec<String> = tags.iter().map(|t| format!("tags : \"{t}\"")).collect();
    let terms = if tags.is_empty() || words.len() < 2 {
        [tags, words].concat()
    } else {
        let filters = tags.join(" AND ");
        words
            .iter()
            .map(|w| format!("(({filters} AND {w}) NOT tags : \"none\")"))
            .collect()
    };
    if terms.is_empty() {
        Match::Any
    } else {
        Match::Terms(terms.join(" AND "))
    }
}

/// Lower-case hex of the UTF-8 bytes: the tag tokens of migration 0003 (SQLite's `hex()` is
/// upper case; the tokenizer folds case).
fn hex(s: &str) -> String {
    s.bytes()
        .fold(String::with_capacity(2 * s.len()), |mut h, b| {
            let _ = write!(h, "{b:02x}");
            h
        })
}

#[cfg(test)]
pub(crate) const PLANNED: [(&str, &str); 2] =
    [("search index", BY_INDEX), ("search lines", BY_LINES)];

#[cfg(test)]
mod tests {
    use super::{Match, fts_query};
    use crate::core::command::SearchArgs;
    use crate::core::names::{AppName, EnvName};

    fn words(ws: &[&str]) -> SearchArgs {
        SearchArgs {
            words: ws.iter().map(|w| w.to_string()).collect(),
            ..SearchArgs::default()
        }
    }

    #[test]
    fn words_are_quoted_strings_only() {
        assert_eq!(
            fts_query(&words(&["deploy", "a\"b", "NEAR(", "')--"])),
            Match::Terms(r#"text : "deploy" AND text : "a""b" AND text : "NEAR(""#.into())
        );
        assert_eq!(fts_query(&words(&["*", "-", "\""])), Match::Nothing);
        assert_eq!(fts_query(&SearchArgs::default()), Match::Any);
    }

    #[test]
    fn filters_are_hex_tags() {
        let q = SearchArgs {
            app: Some(AppName::parse("my-app.v2").unwrap()),
            env: Some(EnvName::parse("prod").unwrap()),
            user: Some("O'Brien \"x\"".into()),
            ..words(&["boom"])
        };
        assert_eq!(
            fts_query(&q),
            Match::Terms(
                "tags : \"pairx6d792d6170702e7632x70726f64\" AND \
                 tags : \"userx4f27427269656e20227822\" AND text : \"boom\""
                    .into()
            )
        );
        let q = SearchArgs {
            app: Some(AppName::parse("api").unwrap()),
            ..words(&["deploy", "\"failed\"", "*"])
        };
        assert_eq!(
            fts_query(&q),
            Match::Terms(
                "((tags : \"appx617069\" AND text : \"deploy\") NOT tags : \"none\") AND \
                 ((tags : \"appx617069\" AND text : \"\"\"failed\"\"\") NOT tags : \"none\")"
                    .into()
            )
        );
        let q = SearchArgs {
            env: Some(EnvName::parse("qa").unwrap()),
            ..SearchArgs::default()
        };
        assert_eq!(fts_query(&q), Match::Terms("tags : \"envx7161\"".into()));
    }
}
