//! `search <words> [app:] [env:] [user:] [status:] [since:] [until:]` over the whole log,
//! command output included (product.md §3).
//!
//! User text never becomes query syntax: each word is passed to FTS5 as a quoted string (so
//! `OR`, `NEAR(`, `*`, `-` and `"` are just text), the quoted words are ANDed, and the whole
//! expression is one bind parameter, as are the filters.
//!
//! It must stay fast on tens of millions of lines: FTS5 hands out matches in descending rowid
//! order (rowid order is time order), each match is joined by primary key to its line and
//! deploy and filtered there, and SQLite stops at the limit. `CROSS JOIN` pins that join order
//! so the planner can never decide to sort all matches first.

use super::Store;
use super::rows::{HitRow, millis};
use super::types::SearchHit;
use crate::core::command::SearchArgs;
use anyhow::Context;

/// Filters shared by both forms; `d` is NULL for lines of no deploy, which any deploy filter
/// therefore excludes.
macro_rules! filters {
    () => {
        " AND (?2 IS NULL OR d.app = ?2) \
          AND (?3 IS NULL OR d.env = ?3) \
          AND (?4 IS NULL OR d.requested_by = ?4) \
          AND (?5 IS NULL OR d.state = ?5) \
          AND (?6 IS NULL OR l.at >= ?6) \
          AND (?7 IS NULL OR l.at <= ?7)"
    };
}

macro_rules! hit_columns {
    () => {
        "SELECT l.id, l.deploy_id, d.app, d.env, d.version, d.state, d.requested_by, \
         l.at, l.kind, l.host, l.text"
    };
}

/// With words: walk the FTS matches newest first.
const BY_WORDS: &str = concat!(
    hit_columns!(),
    " FROM log_fts CROSS JOIN log_lines l ON l.id = log_fts.rowid \
      LEFT JOIN deploys d ON d.id = l.deploy_id \
      WHERE log_fts MATCH ?1",
    filters!(),
    " ORDER BY log_fts.rowid DESC LIMIT ?8"
);

/// Filters only: walk the lines newest first by primary key. (`?1` is unused, and bound to
/// NULL, so both forms bind the same parameters.)
const BY_FILTERS: &str = concat!(
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
        let (query, matching) = if q.words.is_empty() {
            (BY_FILTERS, None)
        } else {
            match fts_query(&q.words) {
                Some(m) => (BY_WORDS, Some(m)),
                // Only punctuation: no line can contain those words.
                None => return Ok(Vec::new()),
            }
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
            .fetch_all(&self.pool)
            .await
            .context("cannot search the deploy log")?;
        rows.into_iter().map(HitRow::into_hit).collect()
    }
}

/// `deploy "failed"` → `"deploy" AND """failed"""`: every word a quoted FTS5 string (a
/// phrase of the tokens in it), nothing else. Words without a letter or digit hold no token,
/// so they cannot match anything and are left out; `None` when no word is left.
pub(crate) fn fts_query(words: &[String]) -> Option<String> {
    let quoted: Vec<String> = words
        .iter()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!quoted.is_empty()).then(|| quoted.join(" AND "))
}

#[cfg(test)]
pub(crate) const PLANNED: [(&str, &str); 2] =
    [("search words", BY_WORDS), ("search filters", BY_FILTERS)];

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn words_are_quoted_strings_only() {
        let words: Vec<String> = ["deploy", "a\"b", "NEAR(", "')--"].map(String::from).into();
        assert_eq!(
            fts_query(&words).unwrap(),
            r#""deploy" AND "a""b" AND "NEAR(""#
        );
        assert_eq!(fts_query(&["*".into(), "-".into(), "\"".into()]), None);
    }
}
