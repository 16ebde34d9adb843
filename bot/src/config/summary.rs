//! The short summary `deckhand check` prints: apps, envs and their rules, freeze windows with
//! when the next one starts (or when the current one ends), groups.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::core::freeze::{FreezeKind, FreezeWindow, WindowEnd};
use crate::core::model::{Approvals, Config, Emergency, EnvPolicy, HostKeyPolicy, SshSettings};
use crate::core::recipe::{HealthCheck, Host, Recipe};

/// The `deckhand check` report for a valid configuration, as of `now`.
pub fn summary(config: &Config, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let bot = &config.bot;
    let prefixes: Vec<String> = bot.prefixes.iter().map(|p| format!("`{p}`")).collect();
    let _ = writeln!(
        out,
        "{}: bot `{}`, prefixes {}, default env {}, recipes in {}, shutdown grace {}",
        config.path.display(),
        bot.name,
        if prefixes.is_empty() {
            "none".to_owned()
        } else {
            prefixes.join(" ")
        },
        bot.default_env,
        bot.recipes.display(),
        crate::core::format::duration(bot.shutdown_grace)
    );

    let _ = writeln!(out, "\napps:");
    for recipe in &config.apps {
        app(&mut out, recipe);
    }

    let _ = writeln!(out, "\nenvs:");
    for (name, policy) in &config.envs {
        let _ = writeln!(out, "  {name}: {}", rules(policy));
    }

    let _ = writeln!(out, "\nssh:\n  {}", ssh(&config.ssh));

    let _ = writeln!(out, "\nwindows:");
    let mut any = false;
    for (name, policy) in &config.envs {
        for w in &policy.freezes {
            any = true;
            let _ = writeln!(
                out,
                "  {name}/{}: {}",
                w.name,
                window(w, policy.timezone, now)
            );
        }
    }
    if !any {
        let _ = writeln!(out, "  none");
    }

    let _ = writeln!(out, "\ngroups:");
    if config.groups.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for (group, members) in &config.groups {
        let shown = if members.is_empty() {
            "(nobody)".to_owned()
        } else {
            members.join(", ")
        };
        let _ = writeln!(out, "  {group}: {shown}");
    }

    if !config.people.is_empty() {
        let _ = writeln!(out, "\npeople:");
        for (person, accounts) in config.people.iter() {
            let _ = writeln!(out, "  {person}: {}", accounts.join(", "));
        }
    }
    out
}

fn app(out: &mut String, r: &Recipe) {
    let description = r
        .description
        .as_deref()
        .map(|d| format!(" — {d}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {}{description}; default ref {}, step timeout {}",
        r.app,
        r.default_ref,
        human(r.step_timeout)
    );
    for (env, e) in &r.envs {
        let hosts: Vec<String> = e.hosts.iter().map(host).collect();
        let dir = e
            .deploy_to
            .as_deref()
            .map(|d| format!(", in {d}"))
            .unwrap_or_default();
        let _ = writeln!(out, "    {env}: {}; {}{dir}", hosts.join(", "), e.strategy);
    }
    let tasks: Vec<String> = r
        .tasks
        .iter()
        .map(|(n, t)| {
            format!(
                "{n} = {}",
                steps(&crate::core::layout::task_steps(r.layout, n, t))
            )
        })
        .collect();
    if let Some(repo) = &r.repo {
        let checks = if r.required_checks.is_empty() {
            "every check must be green".to_owned()
        } else {
            format!("required checks: {}", r.required_checks.join(", "))
        };
        let _ = writeln!(out, "    github: {repo} ({checks})");
    }
    if let crate::config::Layout::Releases { keep } = r.layout {
        let _ = writeln!(
            out,
            "    layout: releases (keeps the newest {keep}; rollback switches `current` back)"
        );
    }
    let _ = writeln!(out, "    tasks: {}", tasks.join("; "));
    let rollback = crate::core::layout::rollback_steps(r.layout, r.rollback.as_ref(), false);
    let mut extras = vec![match rollback {
        Some(planned) => format!("rollback = {}", steps(&planned)),
        None => "no rollback".to_owned(),
    }];
    extras.push(match &r.health {
        None => "no health check".to_owned(),
        Some(HealthCheck::Command {
            retries,
            interval,
            timeout,
            ..
        }) => format!(
            "health: command, up to {retries} tries {} apart, timeout {}",
            human(*interval),
            human(*timeout)
        ),
        Some(HealthCheck::Http {
            url,
            expect_status,
            retries,
            interval,
            timeout,
        }) => format!(
            "health: GET {url} expects {expect_status}, up to {retries} tries {} apart, timeout {}",
            human(*interval),
            human(*timeout)
        ),
    });
    extras.push(
        if r.version_probe.is_some() {
            "version probe"
        } else {
            "no version probe"
        }
        .into(),
    );
    let _ = writeln!(out, "    {}", extras.join("; "));
}

fn host(h: &Host) -> String {
    let address = h.address.to_string();
    let mut notes = Vec::new();
    if address != h.name.as_str() {
        notes.push(address);
    }
    if !h.groups.is_empty() {
        let groups: Vec<&str> = h.groups.iter().map(|g| g.as_str()).collect();
        notes.push(format!("groups {}", groups.join(" ")));
    }
    if notes.is_empty() {
        h.name.to_string()
    } else {
        format!("{} ({})", h.name, notes.join("; "))
    }
}

fn steps(planned: &[crate::core::layout::PlannedStep<'_>]) -> String {
    let names: Vec<&str> = planned.iter().map(|s| s.name.as_ref()).collect();
    names.join(", ")
}

/// "1 approval from leads, no self-approval, expires after 30m; emergency: 2 from leads".
fn rules(p: &EnvPolicy) -> String {
    let mut parts = vec![approvals(&p.approvals), emergency(&p.emergency)];
    parts.push(match &p.deployers {
        None => "anyone may deploy".to_owned(),
        Some(g) => format!("only {g} may deploy"),
    });
    if let Some(channels) = &p.channels {
        parts.push(format!("requested only in {}", channels.join(", ")));
    }
    if p.timezone != chrono_tz::UTC {
        parts.push(format!("times in {}", p.timezone));
    }
    parts.join("; ")
}

fn approvals(a: &Approvals) -> String {
    if a.required == 0 {
        return "no approval".to_owned();
    }
    let noun = if a.required == 1 {
        "approval"
    } else {
        "approvals"
    };
    let from = a.group.as_deref().unwrap_or("anyone");
    let selfish = if a.self_approve {
        "self-approval allowed"
    } else {
        "no self-approval"
    };
    format!(
        "{} {noun} from {from}, {selfish}, expires after {}",
        a.required,
        human(a.expire)
    )
}

fn emergency(e: &Emergency) -> String {
    let from = e.group.as_deref().unwrap_or("anyone but the requester");
    format!("emergency: {} from {from}", e.required)
}

fn window(w: &FreezeWindow, env_tz: chrono_tz::Tz, now: DateTime<Utc>) -> String {
    let (shape, tz) = match &w.kind {
        FreezeKind::Recurring {
            end,
            tz,
            start_text,
            ..
        } => {
            let end = match end {
                WindowEnd::Cron(_, text) => format!("to `{text}`"),
                WindowEnd::Duration(d) => format!("for {}", human(*d)),
            };
            (format!("`{start_text}` {end} ({tz})"), *tz)
        }
        FreezeKind::Fixed { from, until } => (
            format!("from {} until {}", at(*from, env_tz), at(*until, env_tz)),
            env_tz,
        ),
    };
    let when = match (w.active_at(now), w.next_start(now)) {
        (Some(end), _) => format!("active now, ends {}", both(end, tz)),
        (None, Some(next)) => format!("next starts {}", both(next, tz)),
        (None, None) => "over".to_owned(),
    };
    format!("{shape}; {when}")
}

/// A time in a zone: `Fri 2026-11-20 16:00 CET`.
fn at(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

/// A time in the window's zone and in UTC: `Fri 2026-11-20 16:00 CET (15:00 UTC)`.
fn both(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    if tz == chrono_tz::UTC {
        return at(t, tz);
    }
    let local = t.with_timezone(&tz);
    let utc = if local.date_naive() == t.date_naive() {
        t.format("%H:%M UTC").to_string()
    } else {
        t.format("%a %Y-%m-%d %H:%M UTC").to_string()
    };
    format!("{} ({utc})", at(t, tz))
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// "strict host keys (~/.ssh/known_hosts), key ~/.ssh/id, connect timeout 10s, …".
fn ssh(s: &SshSettings) -> String {
    let policy = match s.host_key_policy {
        HostKeyPolicy::Strict => "strict host keys",
        HostKeyPolicy::AcceptNew => "host keys: accept new, refuse changed",
    };
    let known = s.known_hosts.as_ref().map_or_else(
        || "ssh's default known_hosts".to_owned(),
        |p| p.display().to_string(),
    );
    let key = s.identity_file.as_ref().map_or_else(
        || "ssh's default keys".to_owned(),
        |p| format!("key {}", p.display()),
    );
    let control = s.control_dir.as_ref().map_or_else(
        || "control sockets in /tmp/deckhand-ssh-<uid>".to_owned(),
        |p| format!("control sockets in {}", p.display()),
    );
    format!(
        "{policy} ({known}), {key}, connect timeout {}, up to {} commands at once per host, {control}",
        human(s.connect_timeout),
        s.max_sessions
    )
}
