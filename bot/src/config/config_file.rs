//! Checks `config/deckhand.toml`: `[bot]`, `[groups]`, `[people]`, `[envs.*]`, `[ssh]`, `[slack]`, `[http]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::config::check::{Checker, is_plain_name};
use crate::config::diagnostic::did_you_mean;
use crate::config::policy::{check_approvals, check_emergency};
use crate::config::raw::{Entries, RawBot, RawConfig, RawEnv, RawGithub, RawHttp, RawPerson};
use crate::config::ssh::check_ssh;
use crate::config::windows::check_freezes;
use crate::core::model::{
    BotSettings, DiscordSettings, EnvPolicy, GithubSettings, HttpSettings, SlackSettings,
    SshSettings,
};
use crate::core::names::EnvName;
use crate::core::people::{GROUP_PLATFORMS, PLATFORMS, People};

/// What the config file gave, checked. `env_names` holds every env whose name is valid, even
/// when its policy has errors, so recipes can still be checked against it.
pub(crate) struct CheckedConfig {
    pub bot: Option<BotSettings>,
    pub groups: BTreeMap<String, Vec<String>>,
    pub people: People,
    pub envs: Option<Vec<(EnvName, EnvPolicy)>>,
    pub env_names: Vec<EnvName>,
    pub ssh: Option<SshSettings>,
    /// `[slack]`, when present.
    pub slack: Option<SlackSettings>,
    /// `[discord]`, when present.
    pub discord: Option<DiscordSettings>,
    /// `[http]`, or its defaults.
    pub http: HttpSettings,
    /// `[github]`, or its defaults.
    pub github: GithubSettings,
    /// The recipes directory, and where the file names it (for "no recipes there").
    pub recipes: PathBuf,
    pub recipes_at: Option<Spanned<String>>,
}

const DEFAULT_RECIPES: &str = "deploy.d";

pub(crate) fn check_config(c: &mut Checker<'_>, raw: RawConfig, dir: &Path) -> CheckedConfig {
    let groups = check_groups(c, raw.groups);
    let people = check_people(c, raw.people);
    let (envs, env_names) = check_envs(c, raw.envs, &groups);
    let recipes_at = raw.bot.as_ref().and_then(|b| b.get_ref().recipes.clone());
    let recipes = recipes_dir(recipes_at.as_ref().map(|r| r.get_ref().as_str()), dir);
    let bot = check_bot(c, raw.bot, &env_names, recipes.clone());
    let ssh = check_ssh(c, raw.ssh, dir);
    let slack = raw.slack.map(|_| SlackSettings {});
    let discord = raw.discord.map(|_| DiscordSettings {});
    let http = check_http(c, raw.http);
    let github = check_github(c, raw.github, dir);
    CheckedConfig {
        github,
        bot,
        groups,
        people,
        envs,
        env_names,
        ssh,
        slack,
        discord,
        http,
        recipes,
        recipes_at,
    }
}

/// `[github]`: durations, a URL, and the App's ids (positive) and key path (relative to the
/// config file's directory).
fn check_github(c: &mut Checker<'_>, raw: Option<RawGithub>, dir: &Path) -> GithubSettings {
    let mut gh = GithubSettings::default();
    let Some(raw) = raw else { return gh };
    if let Some(w) = c.duration_or(
        raw.wait_for_checks.as_ref(),
        "wait_for_checks",
        gh.wait_for_checks,
    ) {
        gh.wait_for_checks = w;
    }
    if let Some(u) = &raw.public_url {
        let url = u.get_ref().trim().trim_end_matches('/');
        if url.starts_with("https://") || url.starts_with("http://") {
            gh.public_url = Some(url.to_owned());
        } else {
            c.error(
                u,
                format!(
                    "public_url `{}` is not an http(s) URL; expected e.g. \"https://deckhand.example.com\"",
                    u.get_ref()
                ),
            );
        }
    }
    let id = |c: &mut Checker<'_>, raw: &Option<toml::Spanned<i64>>, what: &str| {
        raw.as_ref()
            .and_then(|v| c.count(v, what, 1).map(u64::from))
    };
    gh.app_id = id(c, &raw.app_id, "app_id");
    gh.installation_id = id(c, &raw.installation_id, "installation_id");
    gh.private_key_file = raw.private_key_file.as_ref().map(|p| {
        let path = PathBuf::from(p.get_ref().trim());
        if path.is_absolute() {
            path
        } else {
            dir.join(path)
        }
    });
    gh
}

/// `[http] listen`: an IP address and a port (`127.0.0.1:8080`, `0.0.0.0:8080`, `[::]:8080`).
fn check_http(c: &mut Checker<'_>, raw: Option<RawHttp>) -> HttpSettings {
    let mut http = HttpSettings::default();
    if let Some(listen) = raw.and_then(|r| r.listen) {
        match listen.get_ref().trim().parse() {
            Ok(addr) => http.listen = addr,
            Err(_) => c.error(
                &listen,
                format!(
                    "listen `{}` is not an address and port; expected e.g. \"127.0.0.1:8080\" \
                     or \"0.0.0.0:8080\" (an IP address, not a host name)",
                    listen.get_ref()
                ),
            ),
        }
    }
    http
}

/// `bot.recipes`, relative to the config file's directory; default `deploy.d` there.
pub(crate) fn recipes_dir(named: Option<&str>, dir: &Path) -> PathBuf {
    normalize(&dir.join(named.unwrap_or(DEFAULT_RECIPES)))
}

/// Removes `.` and `name/..` without touching the file system, so that `config/../deploy.d/x`
/// is shown as `deploy.d/x` in messages while staying relative when the input was.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            Component::ParentDir if matches!(out.last(), Some(Component::RootDir)) => {}
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// How long running deploys get to finish when deckhand is asked to stop.
pub const DEFAULT_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

fn check_bot(
    c: &mut Checker<'_>,
    raw: Option<Spanned<RawBot>>,
    env_names: &[EnvName],
    recipes: PathBuf,
) -> Option<BotSettings> {
    let Some(raw) = raw else {
        c.error_whole(
            "missing [bot] table; it needs at least `default_env`, the env a request without \
             `to <env>` goes to, e.g.\n[bot]\ndefault_env = \"staging\"",
        );
        return None;
    };
    let span = raw.span();
    let raw = raw.into_inner();
    let name = match &raw.name {
        Some(n) => c.non_empty(n, "bot.name"),
        None => Some("deckhand".to_owned()),
    };
    let prefixes = match raw.prefixes {
        None => Some(vec!["!".to_owned(), ".".to_owned()]),
        Some(list) => {
            let mut ok = Vec::new();
            for p in &list {
                let text = p.get_ref();
                if text.is_empty() || text.chars().any(char::is_whitespace) {
                    c.error(
                        p,
                        "a prefix must be one or more characters without spaces, e.g. \"!\"",
                    );
                } else {
                    ok.push(text.clone());
                }
            }
            (ok.len() == list.len()).then_some(ok)
        }
    };
    let default_env = match &raw.default_env {
        None => {
            let d = c.src.at(
                span,
                "missing `default_env` in [bot]: the env a request without `to <env>` goes to, \
                 e.g. default_env = \"staging\"",
            );
            c.diags.push(d);
            None
        }
        Some(e) => env_ref(c, e, env_names, "bot.default_env"),
    };
    let shutdown_grace = c.duration_or(
        raw.shutdown_grace.as_ref(),
        "bot.shutdown_grace",
        DEFAULT_SHUTDOWN_GRACE,
    );
    Some(BotSettings {
        name: name?,
        prefixes: prefixes?,
        default_env: default_env?,
        recipes,
        shutdown_grace: shutdown_grace?,
    })
}

/// A reference to a declared env, with a suggestion when it is a near miss.
pub(crate) fn env_ref(
    c: &mut Checker<'_>,
    raw: &Spanned<String>,
    env_names: &[EnvName],
    what: &str,
) -> Option<EnvName> {
    let name = match EnvName::parse(raw.get_ref()) {
        Ok(n) => n,
        Err(e) => {
            c.error(raw, format!("{what}: {e}"));
            return None;
        }
    };
    if env_names.contains(&name) {
        return Some(name);
    }
    if env_names.is_empty() {
        // The envs table itself is missing or broken and says so; one message is enough.
        return None;
    }
    let declared: Vec<&str> = env_names.iter().map(EnvName::as_str).collect();
    let hint = did_you_mean(name.as_str(), declared.iter().copied());
    c.error(
        raw,
        format!(
            "the env `{name}` is not declared in the configuration's [envs] (declared: {}){hint}",
            declared.join(", ")
        ),
    );
    None
}

fn check_groups(
    c: &mut Checker<'_>,
    raw: Option<crate::config::raw::Entries<Spanned<Vec<Spanned<String>>>>>,
) -> BTreeMap<String, Vec<String>> {
    let mut groups = BTreeMap::new();
    for (key, members) in raw.map(|e| e.0).unwrap_or_default() {
        if !is_plain_name(key.get_ref()) {
            c.error(
                &key,
                format!(
                    "`{}` is not a valid group name: use lower-case letters, digits, `.`, `_` \
                     and `-`, starting with a letter or digit",
                    key.get_ref()
                ),
            );
            continue;
        }
        let mut list: Vec<String> = Vec::new();
        for m in members.get_ref() {
            let user = m.get_ref().trim();
            if let Err(why) = group_entry(user) {
                c.error(m, why);
            } else if list.iter().any(|u| u == user) {
                c.error(
                    m,
                    format!("`{user}` is listed twice in group `{}`", key.get_ref()),
                );
            } else {
                list.push(user.to_owned());
            }
        }
        groups.insert(key.into_inner(), list);
    }
    groups
}

/// A group entry: a person (or console user) by name, or an account `platform:id`.
fn group_entry(entry: &str) -> Result<(), String> {
    const EXPECTED: &str = "a group member is a person's name (\"carol\") or an account \
                            (\"slack:U0CAROL\", \"discord:123456789012345678\", \
                            \"slack-group:S0LEADS\", \"discord-role:…\")";
    match entry.split_once(':') {
        None if is_user_name(entry) => Ok(()),
        Some((platform, id))
            if (PLATFORMS.contains(&platform) || GROUP_PLATFORMS.contains(&platform))
                && is_account_id(id) =>
        {
            Ok(())
        }
        Some((platform, _))
            if !(PLATFORMS.contains(&platform) || GROUP_PLATFORMS.contains(&platform)) =>
        {
            let known: Vec<&str> = PLATFORMS.iter().chain(GROUP_PLATFORMS).copied().collect();
            Err(format!(
                "`{platform}` is not a platform deckhand knows ({}); {EXPECTED}",
                known.join(", ")
            ))
        }
        _ => Err(EXPECTED.to_owned()),
    }
}

/// A console user's or a person's name: letters, digits, `.`, `_`, `-`.
fn is_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A platform's account id: letters, digits, `.`, `_`, `-` (Slack `U0…`, Discord snowflakes).
fn is_account_id(id: &str) -> bool {
    is_user_name(id)
}

/// `[people.<name>]`: each person's accounts; an account is one person's only.
fn check_people(c: &mut Checker<'_>, raw: Option<Entries<Spanned<RawPerson>>>) -> People {
    let mut people = People::default();
    for (name, person) in raw.map(|e| e.0).unwrap_or_default() {
        if !is_user_name(name.get_ref()) {
            c.error(
                &name,
                format!(
                    "`{}` is not a valid person's name: use letters, digits, `.`, `_` and `-` \
                     (it is also the name the console's `/as` takes)",
                    name.get_ref()
                ),
            );
            continue;
        }
        let person = person.into_inner();
        let mut accounts: Vec<(&str, &str)> = Vec::new();
        for (platform, id) in [("slack", &person.slack), ("discord", &person.discord)] {
            let Some(id) = id else { continue };
            if is_account_id(id.get_ref().trim()) {
                accounts.push((platform, id.get_ref().trim()));
            } else {
                c.error(
                    id,
                    format!(
                        "a {platform} account is its id (letters and digits, as the platform \
                         shows it in the profile, e.g. {}), not a display name",
                        if platform == "slack" {
                            "\"U012AB3CD\""
                        } else {
                            "\"123456789012345678\""
                        }
                    ),
                );
            }
        }
        if let Err(other) = people.add(name.get_ref(), &accounts) {
            c.error(
                &name,
                format!(
                    "`{}` lists an account that is already `{other}`'s: an account belongs to one person",
                    name.get_ref()
                ),
            );
        }
    }
    people
}

/// `channels = [...]` of an env: `console` or `platform:id`.
fn check_channels(
    c: &mut Checker<'_>,
    env_span: std::ops::Range<usize>,
    raw: Option<&Vec<Spanned<String>>>,
) -> Option<Option<Vec<String>>> {
    let Some(list) = raw else {
        return Some(None);
    };
    let mut ok = true;
    let mut out = Vec::new();
    for ch in list {
        let text = ch.get_ref().trim();
        let valid = text == "console"
            || text
                .split_once(':')
                .is_some_and(|(p, id)| PLATFORMS.contains(&p) && is_account_id(id));
        if valid {
            out.push(text.to_owned());
        } else {
            c.error(
                ch,
                format!(
                    "a channel is \"console\" or `platform:id` with platform {} (e.g. \"slack:C0OPS\"), the channel's id, not its name",
                    PLATFORMS.join(" or ")
                ),
            );
            ok = false;
        }
    }
    if list.is_empty() {
        let d = c.src.at(
            env_span,
            "`channels` is empty: no channel could request a deploy; leave it out to allow every \
             channel",
        );
        c.diags.push(d);
        ok = false;
    }
    ok.then_some(Some(out))
}

/// A reference to a group from `[groups]`.
pub(crate) fn group_ref(
    c: &mut Checker<'_>,
    raw: &Spanned<String>,
    groups: &BTreeMap<String, Vec<String>>,
) -> Option<String> {
    let name = raw.get_ref().trim();
    if groups.contains_key(name) {
        return Some(name.to_owned());
    }
    let hint = if groups.is_empty() {
        format!("; declare it, e.g.\n[groups]\n{name} = [\"alice\", \"bob\"]")
    } else {
        did_you_mean(name, groups.keys().map(String::as_str))
    };
    c.error(raw, format!("there is no group `{name}` in [groups]{hint}"));
    None
}

type RawEnvs = Option<Spanned<crate::config::raw::Entries<Spanned<RawEnv>>>>;

fn check_envs(
    c: &mut Checker<'_>,
    raw: RawEnvs,
    groups: &BTreeMap<String, Vec<String>>,
) -> (Option<Vec<(EnvName, EnvPolicy)>>, Vec<EnvName>) {
    let entries = raw.map(|e| e.into_inner().0).unwrap_or_default();
    if entries.is_empty() {
        c.error_whole(
            "no envs declared: add at least one [envs.<name>] table, e.g.\n[envs.staging]",
        );
        return (None, Vec::new());
    }
    let mut names: Vec<EnvName> = Vec::new();
    let mut envs = Vec::new();
    let mut all_ok = true;
    for (key, env) in entries {
        let name = match EnvName::parse(key.get_ref()) {
            Ok(n) if names.contains(&n) => {
                c.error(
                    &key,
                    format!("the env `{n}` is declared twice (names ignore case)"),
                );
                all_ok = false;
                continue;
            }
            Ok(n) => n,
            Err(e) => {
                c.error(&key, e.to_string());
                all_ok = false;
                continue;
            }
        };
        names.push(name.clone());
        match check_env(c, &name, env, groups) {
            Some(policy) => envs.push((name, policy)),
            None => all_ok = false,
        }
    }
    (all_ok.then_some(envs), names)
}

fn check_env(
    c: &mut Checker<'_>,
    name: &EnvName,
    raw: Spanned<RawEnv>,
    groups: &BTreeMap<String, Vec<String>>,
) -> Option<EnvPolicy> {
    let span = raw.span();
    let raw = raw.into_inner();
    let mut ok = true;
    let deployers = match &raw.deployers {
        Some(g) => {
            let g = group_ref(c, g, groups);
            ok &= g.is_some();
            g
        }
        None => None,
    };
    let timezone = match &raw.timezone {
        Some(tz) => c.timezone(tz),
        None => Some(chrono_tz::UTC),
    };
    let channels = check_channels(c, span.clone(), raw.channels.as_ref());
    let approvals = check_approvals(c, raw.approvals, groups);
    let emergency = check_emergency(
        c,
        name,
        span,
        raw.emergency,
        approvals.as_ref().and_then(|a| a.group.clone()),
        groups,
    );
    // With a bad zone (already reported) the windows are still checked, read in UTC.
    let freezes = check_freezes(
        c,
        raw.freeze.unwrap_or_default(),
        timezone.unwrap_or(chrono_tz::UTC),
    );
    if !ok {
        return None;
    }
    Some(EnvPolicy {
        deployers,
        approvals: approvals?,
        emergency: emergency?,
        freezes: freezes?,
        timezone: timezone?,
        channels: channels?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("config/../deploy.d")),
            Path::new("deploy.d")
        );
        assert_eq!(normalize(Path::new("./a/./b")), Path::new("a/b"));
        assert_eq!(normalize(Path::new("../x")), Path::new("../x"));
        assert_eq!(normalize(Path::new("/a/../../b")), Path::new("/b"));
        assert_eq!(normalize(Path::new("a/..")), Path::new("."));
    }
}
