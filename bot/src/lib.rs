//! deckhand: a ChatOps deployment bot.
//!
//! # Layout
//! - [`core`]: command language, names, deploy state machine, policy. No I/O, time is an argument.
//! - [`config`]: `config/deckhand.toml` and `deploy.d/*.toml` into validated types; `deckhand check`.
//! - [`store`]: the deploy log in SQLite (sqlx, WAL, FTS5). The only module that runs SQL.
//! - [`exec`]: executors that run recipe steps on hosts. The only module that starts processes.
//! - [`engine`]: the bot itself: turns chat events into core decisions, store writes, executor runs.
//! - [`github`]: GitHub's REST API (octocrab): refs, CI checks, compares, deployments. The only module that imports octocrab.
//! - [`chat`]: the chat boundary (events in, posts and edits out) and the console adapter.
//! - [`datadir`]: the data directory, held by one bot at a time.
//!
//! See ARCHITECTURE.md for each module's invariant.
#![forbid(unsafe_code)]

pub mod chat;
pub mod config;
pub mod core;
pub mod datadir;
pub mod engine;
pub mod exec;
pub mod github;
pub mod secrets;
pub mod store;
