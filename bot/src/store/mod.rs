//! The deploy log in SQLite (docs/lifecycle.md): every request, transition, step and line of
//! output, with full-text search. The only module that runs SQL.
//!
//! Invariants:
//! - SQL text is always a `&'static str` written here; every value a user typed is a bind
//!   parameter, and search words reach FTS5 only as quoted strings (see `search`).
//! - Nothing of the deploy log is ever deleted (only `deliveries`, bookkeeping of chat
//!   redeliveries, forgets ids older than a week). A deploy's state changes only through [`Store::transition`],
//!   which checks [`DeployState::can_become`] in the transaction that writes the change.
//!
//! [`DeployState::can_become`]: crate::core::lifecycle::DeployState::can_become
//! - Queries that run on every chat command (`live`, `history`, `search`, `active`) are shaped
//!   so SQLite reads an index in the order of the answer and stops at the limit; their plans
//!   are checked by tests.
//!
//! Files: `types` (public values), `rows` (decoding), `deploys` (requests, transitions,
//! steps, bad versions, crash recovery), `deliveries` (chat deliveries already handled), `views` (live, history, last good), `search`, `output` (ingest).

mod deliveries;
mod deploys;
mod github;
mod output;
#[cfg(test)]
mod plans;
mod policy;
mod rows;
mod search;
mod types;
mod views;

pub use output::{OutputWriter, spawn_output_writer};
pub use policy::{Approval, Freeze, Lock, Verdict};
pub use types::{
    Deploy, DeployKind, Event, NewDeploy, OutputLine, SearchHit, Step, Stream, TransitionError,
};

use anyhow::Context;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

/// A handle on the deploy log. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating it and its directory if needed) the log at `path` and brings its schema
    /// up to date.
    pub async fn open(path: &Path) -> anyhow::Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL: readers (chat commands) never wait for the writer (a chatty deploy) and a
            // crash loses no committed transaction. Normal sync is durable enough under WAL.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Up to 64 MiB of page cache per connection (allocated as pages are read, so a small
            // log stays small): FTS5 merges read back the segments it just wrote, and searches
            // read the same index pages again and again.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            // Checkpoint every ~40 MB of WAL instead of every 4 MB: FTS5 rewrites the same
            // pages as it merges segments, and pages rewritten between two checkpoints are
            // copied into the database once.
            .pragma("wal_autocheckpoint", "10000");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the deploy log {}", path.display()))?;
        Self::migrated(pool)
            .await
            .with_context(|| format!("deploy log {}", path.display()))
    }

    /// A private log in memory, for tests and `--dry-run` style uses.
    pub async fn open_in_memory() -> anyhow::Result<Store> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        // Every connection to `:memory:` is a database of its own, so the pool holds exactly
        // one connection and never lets it go (closing it would drop the data).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .context("cannot open an in-memory deploy log")?;
        Self::migrated(pool).await
    }

    /// Waits for queries under way, then closes every connection (checkpointing the WAL).
    /// Handles still around afterwards fail with an error.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrated(pool: SqlitePool) -> anyhow::Result<Store> {
        sqlx::migrate!("../migrations")
            .run(&pool)
            .await
            .context("cannot bring the deploy log's schema up to date")?;
        Ok(Store { pool })
    }
}
