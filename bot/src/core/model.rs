//! The validated configuration. These values are only made by [`Config::load`], which checks
//! everything first: code that holds a `Config` never has to re-check a group, an env name or a
//! crontab.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::core::freeze::FreezeWindow;
use crate::core::names::{AppName, EnvName};
use crate::core::people::{People, PlatformGroups};
use crate::core::recipe::Recipe;
use std::sync::Arc;

/// `config/deckhand.toml` together with every recipe in its recipes directory.
#[derive(Debug, Clone)]
pub struct Config {
    pub bot: BotSettings,
    /// `[groups]`: group name → entries: people (and console users) by name, or accounts
    /// (`slack:U0…`, `discord:…`).
    pub groups: BTreeMap<String, Vec<String>>,
    /// `[people]`: who each account is.
    pub people: People,
    /// Who is in the platform groups that `[groups]` names, as their adapters reported.
    pub platform_groups: Arc<PlatformGroups>,
    /// `[envs.*]` in the order the file declares them, so listings follow the author's order.
    pub envs: Vec<(EnvName, EnvPolicy)>,
    /// One recipe per `deploy.d/<app>.toml`, sorted by app name.
    pub apps: Vec<Recipe>,
    pub ssh: SshSettings,
    /// `[slack]`: `Some` when the table is present, so `deckhand serve` runs the Slack adapter.
    pub slack: Option<SlackSettings>,
    /// `[discord]`: `Some` when the table is present, so `deckhand serve` runs the Discord
    /// adapter (beside Slack's when both are).
    pub discord: Option<DiscordSettings>,
    /// `[http]`: deckhand's HTTP listener (the Slack Events API when it is Slack's transport).
    pub http: HttpSettings,
    /// `[github]`, or its defaults: how deckhand uses the repositories recipes name.
    pub github: GithubSettings,
    /// The configuration file this was loaded from.
    pub path: PathBuf,
}

/// `[slack]`. Empty for now: the table's presence turns the adapter on, and its secrets
/// (`SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN`, `SLACK_API_URL`) come from the environment only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlackSettings {}

/// `[discord]`. Empty for now: the table's presence turns the adapter on, and its secrets
/// (`DISCORD_TOKEN`, `DISCORD_APPLICATION_ID`, `DISCORD_GUILD_ID`, `DISCORD_PROXY_URL`) come from
/// the environment or files only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscordSettings {}
/// `[github]`. Credentials are secrets and come from the environment (`GITHUB_TOKEN`, …); the
/// App's ids and key *path* may be written here, since they are not secret by themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubSettings {
    /// `wait_for_checks`: how long a deploy whose commit's CI is pending waits for it when its
    /// turn comes, before it gives up. Default 30m.
    pub wait_for_checks: Duration,
    /// `public_url`: where deckhand's HTTP endpoint is reachable from outside, for the log URL
    /// of a GitHub deployment status (`<public_url>/deploys/<id>`). None: no log URL.
    pub public_url: Option<String>,
    /// `app_id`, `private_key_file`, `installation_id`: a GitHub App to act as (each may
    /// also come from `GITHUB_APP_ID`, `GITHUB_APP_PRIVATE_KEY_FILE`,
    /// `GITHUB_APP_INSTALLATION_ID`).
    pub app_id: Option<u64>,
    pub private_key_file: Option<PathBuf>,
    pub installation_id: Option<u64>,
}

impl Default for GithubSettings {
    fn default() -> GithubSettings {
        GithubSettings {
            wait_for_checks: Duration::from_secs(30 * 60),
            public_url: None,
            app_id: None,
            private_key_file: None,
            installation_id: None,
        }
    }
}

/// `[http]`: where deckhand's HTTP listener binds. Used only when a transport needs it (Slack's
/// Events API: `SLACK_SIGNING_SECRET` set and `SLACK_APP_TOKEN` not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `listen`: an address and port; default `127.0.0.1:8080`.
    pub listen: std::net::SocketAddr,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

/// `[bot]`.
#[derive(Debug, Clone)]
pub struct BotSettings {
    /// How the bot is addressed (`@deckhand`, `deckhand: …`). Default `deckhand`.
    pub name: String,
    /// Message prefixes the bot answers in a channel. Default `["!", "."]`.
    pub prefixes: Vec<String>,
    /// The env used when a request names none.
    pub default_env: EnvName,
    /// The recipes directory (`recipes = "…"`, relative to the config file's directory;
    /// default `deploy.d` next to the config file).
    pub recipes: PathBuf,
    /// On SIGTERM or SIGINT, how long running deploys get to finish before they are stopped
    /// and rolled back (`shutdown_grace`, default 30s; docs/reliability.md).
    pub shutdown_grace: std::time::Duration,
}

/// `[envs.<env>]`: the policy for deploys to one env (docs/policy.md).
#[derive(Debug, Clone)]
pub struct EnvPolicy {
    /// The group whose members may request deploys; `None` means everyone.
    pub deployers: Option<String>,
    pub approvals: Approvals,
    pub emergency: Emergency,
    pub freezes: Vec<FreezeWindow>,
    /// The zone times are shown in for this env (and fixed windows without an offset are read
    /// in). Default UTC.
    pub timezone: chrono_tz::Tz,
    /// The channels deploys to this env may be requested from (`slack:C0OPS`, `console`);
    /// `None`: any channel.
    pub channels: Option<Vec<String>>,
}

/// `[envs.<env>.approvals]`.
#[derive(Debug, Clone)]
pub struct Approvals {
    /// How many approvals a deploy needs; 0 means none.
    pub required: u32,
    /// Whose approvals count. Always set when `required > 0`, with at least `required` members.
    pub group: Option<String>,
    /// Whether the requester's own approval counts.
    pub self_approve: bool,
    /// A request not approved within this time expires. Default 30m.
    pub expire: Duration,
    /// Reaction names (without colons) that approve. Default `white_check_mark`, `+1`.
    pub approve_with: Vec<String>,
    /// Reaction names that deny. Default `x`, `-1`.
    pub deny_with: Vec<String>,
}

/// `[envs.<env>.emergency]`: the approvals an `--emergency` deploy inside a freeze needs.
#[derive(Debug, Clone)]
pub struct Emergency {
    /// At least 1. Default 2.
    pub required: u32,
    /// Default: the approvals group. `None` only when the env names no approver group at all;
    /// then any user other than the requester may approve an emergency.
    pub group: Option<String>,
}

/// `[ssh]`: how SSH hosts are reached.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// The private key to use (absolute, or relative to the config file; `~/` is expanded).
    pub identity_file: Option<PathBuf>,
    /// The known_hosts file to check host keys against.
    pub known_hosts: Option<PathBuf>,
    pub host_key_policy: HostKeyPolicy,
    /// Default 10s.
    pub connect_timeout: Duration,
    /// Where SSH control sockets live. Kept short: socket paths are limited to ~107 bytes.
    pub control_dir: Option<PathBuf>,
    /// Commands run at once over one connection. Default 8 (sshd allows 10 by default).
    pub max_sessions: u32,
}

/// What to do with a host key not in known_hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse hosts whose key is unknown or changed (the default).
    #[default]
    Strict,
    /// Trust and record a key seen for the first time; still refuse a changed one.
    AcceptNew,
}

impl Default for SshSettings {
    fn default() -> Self {
        Self {
            identity_file: None,
            known_hosts: None,
            host_key_policy: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            control_dir: None,
            max_sessions: 8,
        }
    }
}

impl Config {
    /// The policy of a declared env.
    pub fn env(&self, name: &EnvName) -> Option<&EnvPolicy> {
        self.envs.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    /// The recipe of an app.
    pub fn app(&self, name: &AppName) -> Option<&Recipe> {
        self.apps
            .binary_search_by(|r| r.app.cmp(name))
            .ok()
            .map(|i| &self.apps[i])
    }

    /// The members of a group; empty for a group that does not exist (loading guarantees every
    /// group the configuration refers to exists).
    pub fn group_members(&self, group: &str) -> &[String] {
        self.groups.get(group).map_or(&[], Vec::as_slice)
    }

    /// Whether `identity` (a person, a console user, or `platform:id`) is in `group`, by name,
    /// through one of the person's accounts, or through a platform group the adapters reported
    /// them in ([`PlatformGroups`]).
    pub fn is_member(&self, group: &str, identity: &str) -> bool {
        self.group_members(group).iter().any(|entry| {
            self.people.matches(entry, identity) || self.platform_groups.contains(entry, identity)
        })
    }

    /// The platform groups (`slack-group:…`, `discord-role:…`) that `[groups]` names, each once.
    pub fn platform_group_entries(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .groups
            .values()
            .flatten()
            .map(String::as_str)
            .filter(|e| crate::core::people::is_platform_group(e))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The declared env names, in configuration order.
    pub fn env_names(&self) -> impl Iterator<Item = &EnvName> {
        self.envs.iter().map(|(n, _)| n)
    }
}
