//! A validated recipe: how one app is deployed (`deploy.d/<app>.toml`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::core::names::{AppName, EnvName, GitRef, HostName};

/// `deploy.d/<app>.toml`.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// From the file name.
    pub app: AppName,
    pub description: Option<String>,
    /// The ref deployed when a request names none. Default `main`.
    pub default_ref: GitRef,
    /// The envs this app deploys to, in the order the configuration declares them.
    pub envs: Vec<(EnvName, RecipeEnv)>,
    /// Task name → steps. Always contains `deploy`.
    pub tasks: BTreeMap<String, Task>,
    /// Run on the hosts already changed when a rollout fails or is cancelled.
    pub rollback: Option<Task>,
    pub health: Option<HealthCheck>,
    /// A command whose output (trimmed) is the version live on a host (`live --check`).
    pub version_probe: Option<String>,
    /// The time limit for a step that sets none. Default 10m.
    pub step_timeout: Duration,
    /// How releases are laid out on a host: by the recipe's own steps, or built in.
    pub layout: Layout,
    /// `repo = "owner/name"`: the app's GitHub repository. When set, a requested ref is pinned
    /// to a commit SHA before approval and the CI gate, changelog and GitHub deployments apply.
    pub repo: Option<crate::core::repo::RepoName>,
    /// `required_checks`: the status contexts and check runs that must be green; empty means
    /// every one the commit has.
    pub required_checks: Vec<String>,
    /// The recipe file.
    pub path: PathBuf,
}

/// `[envs.<env>]` of a recipe.
#[derive(Debug, Clone)]
pub struct RecipeEnv {
    /// At least one; names are unique, and no host group has a host's name.
    pub hosts: Vec<Host>,
    pub strategy: Strategy,
    /// The working directory of steps on SSH hosts. Local hosts always run in their own
    /// directory under the bot's data directory.
    pub deploy_to: Option<String>,
}

/// `layout` in a recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// The recipe's steps do everything, in the host's directory.
    #[default]
    Plain,
    /// `layout = "releases"` (Capistrano's): deckhand makes `releases/<version>`, runs the
    /// deploy task's steps in it, switches `current` to it atomically, writes `REVISION`,
    /// keeps the newest `keep` releases, marks a release that failed its health check bad, and
    /// rolls back by switching the link (see `core::layout`).
    Releases { keep: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// How the host is named in chat (`deploy api to prod/api-1`).
    pub name: HostName,
    pub address: HostAddress,
    /// Host groups this host belongs to (`deploy api to prod/eu`).
    pub groups: Vec<HostName>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAddress {
    /// The machine the bot runs on.
    Local,
    /// `user@host:port`. `host` never starts with `-`, so it cannot be read as an ssh option.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
}

/// How a rollout goes through the hosts of an env.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// All hosts at once (the default).
    Parallel,
    /// `batch` hosts at a time (default 1), health-checked after each batch.
    Rolling { batch: u32 },
    /// `canary` hosts first (default 1), then the rest `batch` at a time (default: all of the
    /// rest at once).
    Canary { canary: u32, batch: u32 },
}

/// A named list of steps, run in order on each host.
#[derive(Debug, Clone)]
pub struct Task {
    /// At least one; names are unique and non-empty.
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    /// A shell command. Values reach it as `DECKHAND_*` environment variables, never pasted
    /// into this text.
    pub run: String,
    /// Overrides the recipe's `step_timeout`.
    pub timeout: Option<Duration>,
}

/// Run after each host or batch. A check is tried up to `retries` times (at least 1),
/// `interval` apart, each attempt limited to `timeout`, before the host counts as unhealthy.
#[derive(Debug, Clone)]
pub enum HealthCheck {
    Http {
        url: String,
        expect_status: u16,
        retries: u32,
        interval: Duration,
        timeout: Duration,
    },
    Command {
        run: String,
        retries: u32,
        interval: Duration,
        timeout: Duration,
    },
}

impl Recipe {
    pub fn env(&self, name: &EnvName) -> Option<&RecipeEnv> {
        self.envs.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// The names of the tasks, `deploy` included, in alphabetical order.
    pub fn task_names(&self) -> impl Iterator<Item = &str> {
        self.tasks.keys().map(String::as_str)
    }
}

impl RecipeEnv {
    /// The hosts a deploy targets: all of them without a filter, else the host of that name or
    /// the members of that host group. `None` when nothing matches.
    pub fn select(&self, filter: Option<&HostName>) -> Option<Vec<&Host>> {
        let hosts: Vec<&Host> = match filter {
            None => self.hosts.iter().collect(),
            Some(f) => self
                .hosts
                .iter()
                .filter(|h| &h.name == f || h.groups.contains(f))
                .collect(),
        };
        (!hosts.is_empty()).then_some(hosts)
    }

    /// Host and host-group names, for suggestions when a filter matches nothing.
    pub fn target_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        for h in &self.hosts {
            for g in &h.groups {
                if !names.contains(&g.as_str()) {
                    names.push(g.as_str());
                }
            }
        }
        names
    }
}

impl HostAddress {
    /// Parses `local`, `host`, `user@host`, `host:port`, `user@[v6addr]:port`. The error says
    /// what is wrong with it, for the person who wrote it.
    pub fn parse(raw: &str) -> Result<HostAddress, String> {
        if raw == "local" {
            return Ok(HostAddress::Local);
        }
        if raw.is_empty() {
            return Err("a host address is empty; use `local` or `user@host[:port]`".into());
        }
        let (user, rest) = match raw.rsplit_once('@') {
            Some((user, rest)) => (Some(user), rest),
            None => (None, raw),
        };
        if let Some(user) = user
            && !is_ssh_user(user)
        {
            return Err(format!(
                "`{user}` is not a valid ssh user name: use letters, digits, `.`, `_` and `-`, \
                 not starting with `-`"
            ));
        }
        let (host, port) = split_port(rest)?;
        if !is_ssh_host(host) {
            return Err(format!(
                "`{}` is not a valid host: use a host name or IP address (letters, digits, `.`, \
                 `-`, not starting with `-`; IPv6 in brackets), optionally with `user@` and `:port`",
                crate::core::names::shown(rest)
            ));
        }
        Ok(HostAddress::Ssh {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostAddress::Local => f.write_str("local"),
            HostAddress::Ssh { user, host, port } => {
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]")?;
                } else {
                    f.write_str(host)?;
                }
                if let Some(port) = port {
                    write!(f, ":{port}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Parallel => f.write_str("parallel"),
            Strategy::Rolling { batch: 1 } => f.write_str("rolling, one host at a time"),
            Strategy::Rolling { batch } => write!(f, "rolling, {batch} hosts at a time"),
            Strategy::Canary { canary, batch } => {
                write!(f, "canary on {canary}, then {batch} at a time")
            }
        }
    }
}

/// Splits `host:port` / `[v6]:port`. A bare IPv6 address without brackets is refused: its
/// last group could not be told from a port.
fn split_port(rest: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err(format!("`{rest}`: a `[` for an IPv6 address needs its `]`"));
        };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("`{rest}`: expected `:port` after `]`")),
            },
        }
    } else {
        match rest.split_once(':') {
            Some((_, p)) if p.contains(':') => {
                return Err(format!(
                    "`{rest}`: write an IPv6 address in brackets, e.g. `[::1]:22`"
                ));
            }
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(format!(
                    "`{p}` is not a valid port: expected a number from 1 to 65535"
                ));
            }
        },
    };
    Ok((host, port))
}

fn is_ssh_user(user: &str) -> bool {
    !user.is_empty()
        && !user.starts_with('-')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_ssh_host(host: &str) -> bool {
    !host.is_empty()
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(user: Option<&str>, host: &str, port: Option<u16>) -> HostAddress {
        HostAddress::Ssh {
            user: user.map(str::to_owned),
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn addresses_parse_and_print_back() {
        for (raw, want) in [
            ("local", HostAddress::Local),
            ("web1.example.com", ssh(None, "web1.example.com", None)),
            ("deploy@10.0.0.5", ssh(Some("deploy"), "10.0.0.5", None)),
            ("deploy@db:2222", ssh(Some("deploy"), "db", Some(2222))),
            ("root@[::1]:22", ssh(Some("root"), "::1", Some(22))),
        ] {
            let got = HostAddress::parse(raw).unwrap();
            assert_eq!(got, want);
            assert_eq!(got.to_string(), raw);
        }
    }

    #[test]
    fn addresses_that_could_become_ssh_options_are_refused() {
        for bad in [
            "",
            "-oProxyCommand=x",
            "-x@host",
            "me@",
            "host:0",
            "host:99999",
            "host:x",
            "::1",
            "a b",
            "[::1",
            "h;x",
        ] {
            assert!(HostAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    fn host(name: &str, groups: &[&str]) -> Host {
        Host {
            name: HostName::parse(name).unwrap(),
            address: HostAddress::Local,
            groups: groups.iter().map(|g| HostName::parse(g).unwrap()).collect(),
        }
    }

    #[test]
    fn select_by_host_or_group() {
        let env = RecipeEnv {
            hosts: vec![host("a", &["eu"]), host("b", &["eu", "us"]), host("c", &[])],
            strategy: Strategy::Parallel,
            deploy_to: None,
        };
        let names = |f: Option<&str>| {
            let f = f.map(|f| HostName::parse(f).unwrap());
            env.select(f.as_ref())
                .map(|hs| hs.iter().map(|h| h.name.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(names(None).unwrap(), ["a", "b", "c"]);
        assert_eq!(names(Some("b")).unwrap(), ["b"]);
        assert_eq!(names(Some("eu")).unwrap(), ["a", "b"]);
        assert_eq!(names(Some("zz")), None);
        assert_eq!(env.target_names(), ["a", "b", "c", "eu", "us"]);
    }
}
