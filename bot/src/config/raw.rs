//! The files as written: serde shapes with `deny_unknown_fields` everywhere (so a typo is an
//! error with a suggestion, never silently ignored) and `Spanned` on every value a later check
//! may need to point at. Numbers are read as `i64` so that a negative count gets our message
//! ("must be at least 1"), not serde's ("expected u32").

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

/// A TOML table read as entries in the order the file writes them (the `toml` crate's own maps
/// are sorted), each key with its position.
#[derive(Debug)]
pub(crate) struct Entries<V>(pub Vec<(S<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Entries<V> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = Entries<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<S<String>, V>()? {
                    entries.push(entry);
                }
                entries.sort_by_key(|(k, _)| k.span().start);
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(EntriesVisitor(PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// config/deckhand.toml
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub bot: Option<S<RawBot>>,
    pub groups: Option<Entries<S<Vec<S<String>>>>>,
    pub people: Option<Entries<S<RawPerson>>>,
    pub envs: Option<S<Entries<S<RawEnv>>>>,
    pub ssh: Option<RawSsh>,
    pub slack: Option<RawSlack>,
    pub discord: Option<RawDiscord>,
    pub http: Option<RawHttp>,
    pub github: Option<RawGithub>,
}

/// `[github]`: how deckhand uses GitHub (its secrets come from the environment).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGithub {
    pub wait_for_checks: Option<S<String>>,
    pub public_url: Option<S<String>>,
    pub app_id: Option<S<i64>>,
    pub private_key_file: Option<S<String>>,
    pub installation_id: Option<S<i64>>,
}

/// `[http]`: deckhand's HTTP listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub listen: Option<S<String>>,
}

/// `[slack]`: present means "run the Slack adapter" (its secrets come from the environment).
/// No keys yet; unknown ones are errors like everywhere else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlack {}

/// `[discord]`: present means "run the Discord adapter" (its secrets come from the
/// environment or files). No keys yet; unknown ones are errors like everywhere else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDiscord {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBot {
    pub name: Option<S<String>>,
    pub prefixes: Option<Vec<S<String>>>,
    pub default_env: Option<S<String>>,
    pub recipes: Option<S<String>>,
    pub shutdown_grace: Option<S<String>>,
}

/// `[people.<name>]`: a person's accounts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPerson {
    pub slack: Option<S<String>>,
    pub discord: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnv {
    pub deployers: Option<S<String>>,
    pub channels: Option<Vec<S<String>>>,
    pub timezone: Option<S<String>>,
    pub approvals: Option<S<RawApprovals>>,
    pub emergency: Option<S<RawEmergency>>,
    pub freeze: Option<Vec<S<RawFreeze>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApprovals {
    pub required: Option<S<i64>>,
    pub group: Option<S<String>>,
    pub self_approve: Option<bool>,
    pub expire: Option<S<String>>,
    pub approve_with: Option<S<Vec<S<String>>>>,
    pub deny_with: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmergency {
    pub required: Option<S<i64>>,
    pub group: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFreeze {
    pub name: Option<S<String>>,
    pub start: Option<S<String>>,
    pub end: Option<S<String>>,
    pub duration: Option<S<String>>,
    pub timezone: Option<S<String>>,
    /// A TOML date-time or an RFC 3339 string.
    pub from: Option<S<toml::Value>>,
    pub until: Option<S<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSsh {
    pub identity_file: Option<S<String>>,
    pub known_hosts: Option<S<String>>,
    pub host_key_policy: Option<S<String>>,
    pub connect_timeout: Option<S<String>>,
    pub control_dir: Option<S<String>>,
    pub max_sessions: Option<S<i64>>,
}

// ---------------------------------------------------------------------------------------------
// deploy.d/<app>.toml
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecipe {
    pub description: Option<String>,
    pub default_ref: Option<S<String>>,
    pub step_timeout: Option<S<String>>,
    /// The version probe command.
    pub version: Option<S<String>>,
    pub envs: Option<S<Entries<S<RawRecipeEnv>>>>,
    pub tasks: Option<S<Entries<S<RawTask>>>>,
    pub rollback: Option<S<RawTask>>,
    pub health: Option<S<RawHealth>>,
    /// `"releases"` for the built-in release layout; default none.
    pub layout: Option<S<String>>,
    /// With `layout = "releases"`: how many releases each host keeps. Default 5.
    pub keep_releases: Option<S<i64>>,
    /// `owner/name` of the app's GitHub repository.
    pub repo: Option<S<String>>,
    /// Status contexts / check runs that must be green (default: all of them).
    pub required_checks: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecipeEnv {
    pub hosts: Option<S<Vec<S<RawHost>>>>,
    pub strategy: Option<S<String>>,
    pub batch: Option<S<i64>>,
    pub canary: Option<S<i64>>,
    pub deploy_to: Option<S<String>>,
}

/// A host is written either as its address (`"local"`, `"deploy@web1:2222"`) or as a table.
/// Hand-written rather than `#[serde(untagged)]`, which would hide the table's errors (and their
/// positions) behind "did not match any variant".
#[derive(Debug)]
pub(crate) enum RawHost {
    Address(String),
    Table(RawHostTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHostTable {
    pub name: Option<S<String>>,
    pub address: S<String>,
    pub groups: Option<Vec<S<String>>>,
}

impl<'de> Deserialize<'de> for RawHost {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HostVisitor;
        impl<'de> Visitor<'de> for HostVisitor {
            type Value = RawHost;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a host: \"local\", \"user@host[:port]\", or a table \
                     { name = \"…\", address = \"…\", groups = [\"…\"] }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawHost, E> {
                Ok(RawHost::Address(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawHost, A::Error> {
                RawHostTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawHost::Table)
            }
        }
        d.deserialize_any(HostVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTask {
    pub steps: S<Vec<S<RawStep>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub name: S<String>,
    pub run: S<String>,
    pub timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    pub command: Option<S<String>>,
    pub url: Option<S<String>>,
    pub expect_status: Option<S<i64>>,
    pub retries: Option<S<i64>>,
    pub interval: Option<S<String>>,
    pub timeout: Option<S<String>>,
}
