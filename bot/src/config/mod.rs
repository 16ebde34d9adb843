//! Configuration: `config/deckhand.toml` and `deploy.d/*.toml` read into validated types, and
//! the summary `deckhand check` prints (docs/configuration.md).
//!
//! Loading checks everything and reports every problem of every file with its
//! `file:line:column`; a [`Config`] that exists is valid, so the rest of the bot never
//! re-checks a group, an env name or a crontab.
//!
//! The validated types live in the core (`core::model`, `core::recipe`, `core::freeze`, the
//! window arithmetic) and are re-exported here; this module only loads them. Files: `summary`
//! the `deckhand check` report, `example` the embedded shipped example. Loading:
//! `load` reads the files, `raw` is their serde shape, `config_file` / `policy` / `windows` /
//! `ssh` check the config file, `recipe_file` / `rollout` a recipe, `check` and `diagnostic`
//! hold the shared helpers and error type.

mod check;
mod config_file;
mod diagnostic;
pub mod example;
mod load;
mod policy;
mod raw;
mod recipe_file;
mod rollout;
mod ssh;
mod summary;
mod windows;

pub use crate::core::freeze::{FreezeKind, FreezeWindow, WindowEnd, parse_crontab};
pub use crate::core::model::{
    Approvals, BotSettings, Config, DiscordSettings, Emergency, EnvPolicy, HostKeyPolicy,
    SlackSettings, SshSettings,
};
pub use crate::core::recipe::{
    HealthCheck, Host, HostAddress, Layout, Recipe, RecipeEnv, Step, Strategy, Task,
};
pub use diagnostic::{ConfigErrors, Diagnostic};
pub use summary::summary;
