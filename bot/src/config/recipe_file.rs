//! Checks one `deploy.d/<app>.toml`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use crate::config::check::{Checker, is_plain_name};
use crate::config::config_file::env_ref;
use crate::config::diagnostic::did_you_mean;
use crate::config::raw::{RawHealth, RawRecipe, RawRecipeEnv, RawTask};
use crate::config::rollout::check_env;
use crate::core::names::{AppName, EnvName, GitRef};
use crate::core::recipe::{HealthCheck, Layout, Recipe, RecipeEnv, Step, Task};

/// `envs` is the configuration's declared envs, or `None` when the config file itself could
/// not be read: then env names are only checked for their shape.
pub(crate) fn check_recipe(
    c: &mut Checker<'_>,
    app: Option<AppName>,
    raw: RawRecipe,
    envs: Option<&[EnvName]>,
    path: &Path,
) -> Option<Recipe> {
    let default_ref = match &raw.default_ref {
        None => GitRef::parse("main").ok(),
        Some(r) => match GitRef::parse(r.get_ref()) {
            Ok(r) => Some(r),
            Err(e) => {
                c.error(r, format!("default_ref: {e}"));
                None
            }
        },
    };
    let step_timeout = c.duration_or(
        raw.step_timeout.as_ref(),
        "step_timeout",
        Duration::from_secs(10 * 60),
    );
    let version_probe = match &raw.version {
        None => Some(None),
        Some(v) => c.non_empty(v, "the version probe").map(Some),
    };
    let layout = check_layout(c, raw.layout.as_ref(), raw.keep_releases.as_ref());
    let (repo, required_checks) = check_repo(c, raw.repo.as_ref(), raw.required_checks.as_ref());
    let recipe_envs = check_envs(c, raw.envs, envs);
    let tasks = check_tasks(c, raw.tasks);
    let rollback = match raw.rollback {
        None => Some(None),
        Some(t) => check_task(c, "rollback", t).map(Some),
    };
    let health = match raw.health {
        None => Some(None),
        Some(h) => check_health(c, h).map(Some),
    };
    Some(Recipe {
        app: app?,
        description: raw
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty()),
        default_ref: default_ref?,
        envs: recipe_envs?,
        tasks: tasks?,
        rollback: rollback?,
        health: health?,
        // The layout writes REVISION, so it knows how to read it.
        version_probe: version_probe?.or_else(|| {
            matches!(layout, Some(Layout::Releases { .. }))
                .then(|| crate::core::layout::DEFAULT_VERSION_PROBE.to_owned())
        }),
        step_timeout: step_timeout?,
        layout: layout?,
        repo: repo?,
        required_checks: required_checks?,
        path: path.to_path_buf(),
    })
}

/// `repo` and `required_checks` (which needs a repo to mean anything).
fn check_repo(
    c: &mut Checker<'_>,
    repo: Option<&Spanned<String>>,
    required: Option<&Spanned<Vec<Spanned<String>>>>,
) -> (
    Option<Option<crate::core::repo::RepoName>>,
    Option<Vec<String>>,
) {
    let repo = match repo {
        None => Some(None),
        Some(r) => match crate::core::repo::RepoName::parse(r.get_ref()) {
            Ok(name) => Some(Some(name)),
            Err(e) => {
                c.error(r, format!("repo: {e}"));
                None
            }
        },
    };
    let checks = match required {
        None => Some(Vec::new()),
        Some(list) if matches!(repo, Some(None)) => {
            c.error(
                list,
                "required_checks needs `repo = \"owner/name\"`: the checks are read from that \
                 repository's commits",
            );
            None
        }
        Some(list) => {
            let mut out = Vec::new();
            let mut ok = true;
            for name in list.get_ref() {
                match c.non_empty(name, "a required check's name") {
                    Some(n) if !out.contains(&n) => out.push(n),
                    Some(n) => {
                        c.error(name, format!("the check `{n}` is listed twice"));
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
    };
    (repo, checks)
}

/// `layout` and `keep_releases`.
fn check_layout(
    c: &mut Checker<'_>,
    layout: Option<&Spanned<String>>,
    keep: Option<&Spanned<i64>>,
) -> Option<Layout> {
    let releases = match layout {
        None => false,
        Some(l) => match l.get_ref().trim() {
            "releases" => true,
            "none" | "" => false,
            other => {
                let hint = did_you_mean(other, ["releases", "none"]);
                c.error(
                    l,
                    format!(
                        "unknown layout `{other}`; expected \"releases\" (deckhand makes \
                         releases/<version>, switches `current` and keeps the newest \
                         `keep_releases`) or \"none\" (the steps do it all){hint}"
                    ),
                );
                return None;
            }
        },
    };
    if !releases {
        if let Some(k) = keep {
            c.error(
                k,
                "keep_releases only applies with layout = \"releases\"; add that, or remove \
                 keep_releases",
            );
            return None;
        }
        return Some(Layout::Plain);
    }
    // At least 1: the live release is always kept.
    let keep = c.count_or(keep, "keep_releases", 1, 5)?;
    Some(Layout::Releases { keep })
}

type RawEnvs = Option<Spanned<crate::config::raw::Entries<Spanned<RawRecipeEnv>>>>;

fn check_envs(
    c: &mut Checker<'_>,
    raw: RawEnvs,
    declared: Option<&[EnvName]>,
) -> Option<Vec<(EnvName, RecipeEnv)>> {
    let entries = raw.map(|e| e.into_inner().0).unwrap_or_default();
    if entries.is_empty() {
        c.error_whole(
            "this recipe deploys to no env: add an [envs.<env>] table with its hosts, e.g.\n\
             [envs.staging]\nhosts = [\"local\"]",
        );
        return None;
    }
    let mut out: Vec<(EnvName, RecipeEnv)> = Vec::new();
    let mut ok = true;
    for (key, env) in entries {
        let name = match declared {
            Some(declared) => env_ref(c, &key, declared, "env"),
            None => match EnvName::parse(key.get_ref()) {
                Ok(n) => Some(n),
                Err(e) => {
                    c.error(&key, e.to_string());
                    None
                }
            },
        };
        if let Some(n) = &name
            && out.iter().any(|(o, _)| o == n)
        {
            c.error(
                &key,
                format!("the env `{n}` appears twice (names ignore case)"),
            );
            ok = false;
            continue;
        }
        let env = check_env(c, env);
        match (name, env) {
            (Some(n), Some(e)) => out.push((n, e)),
            _ => ok = false,
        }
    }
    // Follow the configuration's order, so every listing shows envs the same way.
    if let Some(declared) = declared {
        out.sort_by_key(|(n, _)| declared.iter().position(|d| d == n));
    }
    ok.then_some(out)
}

fn check_tasks(
    c: &mut Checker<'_>,
    raw: Option<Spanned<crate::config::raw::Entries<Spanned<RawTask>>>>,
) -> Option<BTreeMap<String, Task>> {
    let (span, entries) = match raw {
        Some(t) => (Some(t.span()), t.into_inner().0),
        None => (None, Vec::new()),
    };
    let mut tasks = BTreeMap::new();
    let mut ok = true;
    for (key, task) in entries {
        let name = key.get_ref();
        if !is_plain_name(name) {
            c.error(
                &key,
                format!(
                    "`{name}` is not a valid task name (it is typed in chat as `deploy:{name}`): \
                     use lower-case letters, digits, `.`, `_` and `-`"
                ),
            );
            ok = false;
            continue;
        }
        match check_task(c, name, task) {
            Some(t) => {
                tasks.insert(name.clone(), t);
            }
            None => ok = false,
        }
    }
    if !tasks.contains_key("deploy") && ok {
        let msg = "no `deploy` task: add [tasks.deploy] with the steps that deploy this app, e.g.\n\
                   [tasks.deploy]\nsteps = [{ name = \"switch\", run = \"…\" }]";
        match span {
            Some(span) => {
                let d = c.src.at(span, msg);
                c.diags.push(d);
            }
            None => c.error_whole(msg),
        }
        return None;
    }
    ok.then_some(tasks)
}

fn check_task(c: &mut Checker<'_>, task: &str, raw: Spanned<RawTask>) -> Option<Task> {
    let raw = raw.into_inner();
    if raw.steps.get_ref().is_empty() {
        c.error(&raw.steps, format!("the task `{task}` has no steps"));
        return None;
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut ok = true;
    for s in raw.steps.get_ref() {
        let s = s.get_ref();
        let name = c.non_empty(&s.name, "a step name");
        let run = c.non_empty(&s.run, "a step's `run` command");
        let timeout = match &s.timeout {
            None => Some(None),
            Some(t) => c.duration(t, "a step timeout").map(Some),
        };
        match (name, run, timeout) {
            (Some(name), Some(_), Some(_)) if steps.iter().any(|o| o.name == name) => {
                c.error(
                    &s.name,
                    format!("the task `{task}` already has a step named `{name}`"),
                );
                ok = false;
            }
            (Some(name), Some(run), Some(timeout)) => steps.push(Step { name, run, timeout }),
            _ => ok = false,
        }
    }
    ok.then_some(Task { steps })
}

fn check_health(c: &mut Checker<'_>, raw: Spanned<RawHealth>) -> Option<HealthCheck> {
    let span = raw.span();
    let h = raw.into_inner();
    let retries = c.count_or(h.retries.as_ref(), "health.retries", 1, 3);
    let interval = c.duration_or(
        h.interval.as_ref(),
        "health.interval",
        Duration::from_secs(2),
    );
    let timeout = c.duration_or(
        h.timeout.as_ref(),
        "health.timeout",
        Duration::from_secs(10),
    );
    match (&h.command, &h.url) {
        (Some(_), Some(url)) => {
            c.error(
                url,
                "give either `command` or `url` for the health check, not both",
            );
            None
        }
        (None, None) => {
            let d = c.src.at(
                span,
                "the health check needs `command` (a shell command that exits 0 when healthy) \
                 or `url` (fetched, expecting `expect_status`, default 200)",
            );
            c.diags.push(d);
            None
        }
        (Some(cmd), None) => {
            if let Some(s) = &h.expect_status {
                c.error(
                    s,
                    "`expect_status` goes with `url`; a command check passes on exit 0",
                );
                return None;
            }
            let run = c.non_empty(cmd, "the health command")?;
            Some(HealthCheck::Command {
                run,
                retries: retries?,
                interval: interval?,
                timeout: timeout?,
            })
        }
        (None, Some(url_raw)) => {
            let url = url_raw.get_ref().trim();
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.chars().any(char::is_whitespace)
            {
                c.error(
                    url_raw,
                    format!("`{url}` is not an http:// or https:// URL"),
                );
                return None;
            }
            let expect_status = match &h.expect_status {
                None => 200,
                Some(s) => match u16::try_from(*s.get_ref()) {
                    Ok(n @ 100..=599) => n,
                    _ => {
                        c.error(s, "expect_status must be an HTTP status from 100 to 599");
                        return None;
                    }
                },
            };
            Some(HealthCheck::Http {
                url: url.to_owned(),
                expect_status,
                retries: retries?,
                interval: interval?,
                timeout: timeout?,
            })
        }
    }
}
