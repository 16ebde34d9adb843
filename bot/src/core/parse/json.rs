//! The JSON form of a parse (docs/commands.md): what `deckhand parse` prints.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::core::command::{Command, FreezeSpan, LockTarget, SearchArgs};
use crate::core::lifecycle::DeployState;
use crate::core::names::{AppName, EnvName, GitRef, HostName};

use super::Parsed;

/// The JSON object of docs/commands.md: always `"command"` (the command's name, or null), plus the
/// fields that apply to that command, null when the message did not give them; `"error"` (and
/// `"suggestion"`) when the message was not understood.
pub fn to_json(p: &Parsed) -> Value {
    match p {
        Parsed::NotAddressed => json!({ "command": null }),
        Parsed::NotUnderstood(e) => {
            json!({ "command": null, "error": e.message, "suggestion": e.suggestion })
        }
        Parsed::Command(c) => command_json(c),
    }
}

fn command_json(c: &Command) -> Value {
    match c {
        Command::Deploy(d) => json!({
            "command": "deploy",
            "app": d.app.as_str(),
            "ref": d.git_ref.as_ref().map(GitRef::as_str),
            "env": d.env.as_ref().map(EnvName::as_str),
            "host": d.host.as_ref().map(HostName::as_str),
            "task": d.task,
            "force": d.force,
            "dry_run": d.dry_run,
            "emergency": d.emergency,
        }),
        Command::Rollback { app, env, version } => json!({
            "command": "rollback",
            "app": app.as_str(),
            "env": env.as_str(),
            "version": version.as_ref().map(GitRef::as_str),
        }),
        Command::Cancel { id } => json!({ "command": "cancel", "id": id }),
        Command::Approve { id } => json!({ "command": "approve", "id": id }),
        Command::Deny { id, reason } => json!({ "command": "deny", "id": id, "reason": reason }),
        Command::Status { id } => json!({ "command": "status", "id": id }),
        Command::Live { app, env, check } => json!({
            "command": "live",
            "app": app.as_ref().map(AppName::as_str),
            "env": env.as_ref().map(EnvName::as_str),
            "check": check,
        }),
        Command::History {
            app,
            env,
            git_ref,
            limit,
        } => json!({
            "command": "history",
            "app": app.as_ref().map(AppName::as_str),
            "ref": git_ref.as_ref().map(GitRef::as_str),
            "env": env.as_ref().map(EnvName::as_str),
            "limit": limit,
        }),
        Command::Search(a) => search_json(a),
        Command::Lock { target, reason } => {
            let mut v = target_json("lock", target);
            v["reason"] = json!(reason);
            v
        }
        Command::Unlock { target } => target_json("unlock", target),
        Command::Locks => json!({ "command": "locks" }),
        Command::Freeze { env, span, reason } => {
            let (duration, until) = match span {
                Some(FreezeSpan::For(d)) => {
                    (Some(humantime::format_duration(*d).to_string()), None)
                }
                Some(FreezeSpan::Until(t)) => (None, Some(t.as_str())),
                None => (None, None),
            };
            json!({
                "command": "freeze",
                "env": env.as_str(),
                "duration": duration,
                "until": until,
                "reason": reason,
            })
        }
        Command::Unfreeze { env } => json!({ "command": "unfreeze", "env": env.as_str() }),
        Command::Windows { env } => {
            json!({ "command": "windows", "env": env.as_ref().map(EnvName::as_str) })
        }
        Command::Wcid { app } => {
            json!({ "command": "wcid", "app": app.as_ref().map(AppName::as_str) })
        }
        Command::Help { topic } => json!({ "command": "help", "topic": topic }),
    }
}

fn search_json(a: &SearchArgs) -> Value {
    let time = |t: &Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    };
    let mut out = json!({
        "command": "search",
        "query": (!a.words.is_empty()).then(|| a.words.join(" ")),
        "app": a.app.as_ref().map(AppName::as_str),
        "env": a.env.as_ref().map(EnvName::as_str),
        "user": a.user,
        "status": a.status.map(DeployState::as_str),
        "since": time(&a.since),
        "until": time(&a.until),
    });
    // `sha:` came after product.md §8's shape: present only when given, so that shape holds.
    if let Some(sha) = &a.sha {
        out["sha"] = json!(sha);
    }
    out
}

/// `lock prod` cannot tell an app from an env (no configuration here), so it is `"target"`.
fn target_json(command: &str, target: &LockTarget) -> Value {
    match target {
        LockTarget::One(name) => {
            json!({ "command": command, "target": name, "app": null, "env": null })
        }
        LockTarget::AppEnv { app, env } => json!({
            "command": command,
            "target": null,
            "app": app.as_str(),
            "env": env.as_str(),
        }),
    }
}
