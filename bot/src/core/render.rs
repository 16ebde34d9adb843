//! The canonical text form of a [`Command`]: what the bot echoes back ("Understood: `deploy
//! api@v1.4.2 to prod`") and what `parse_direct` reads back to an equal `Command`.
//!
//! One form per command, in the spelling of docs/commands.md: `deploy[!][:task] app[@ref] [to
//! env[/host]] [--dry-run] [--emergency "…"]`, `rollback app in env [to version]`, `status #N`, …
//! Reasons are written bare when they are one plain word, otherwise quoted with the first quote
//! pair that reads back unchanged (see `parse::split_quoted`).
//!
//! Values the parser never produces have no faithful text form: a `History` with a `git_ref`
//! but no `app` (the ref is dropped), a `Deploy` with a `host` but no `env` (rendered `to /host`,
//! which does not parse), names in upper case or that are grammar keywords (`to`, `in`, `on`,
//! `last`, `for`, `until`, `noop`), and reasons holding every kind of closing quote.

use std::fmt::{self, Display, Formatter, Write};

use crate::core::command::{Command, DeployArgs, FreezeSpan, LockTarget, SearchArgs};
use crate::core::parse::{QUOTES, is_flag, split_quoted, starts_quoted};

impl Display for Command {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Command::Deploy(d) => deploy(f, d),
            Command::Rollback { app, env, version } => {
                write!(f, "rollback {app} in {env}")?;
                opt(f, " to ", version)
            }
            Command::Cancel { id } => write!(f, "cancel #{id}"),
            Command::Approve { id } => write!(f, "approve #{id}"),
            Command::Deny { id, reason } => {
                write!(f, "deny #{id}")?;
                match reason {
                    Some(r) => write!(f, " {}", tail_reason(r)),
                    None => Ok(()),
                }
            }
            Command::Status { id } => {
                f.write_str("status")?;
                opt(f, " #", id)
            }
            Command::Live { app, env, check } => {
                f.write_str("live")?;
                opt(f, " ", app)?;
                opt(f, " in ", env)?;
                flag(f, *check, " --check")
            }
            Command::History {
                app,
                env,
                git_ref,
                limit,
            } => {
                f.write_str("history")?;
                if let Some(app) = app {
                    write!(f, " {app}")?;
                    opt(f, "@", git_ref)?;
                }
                opt(f, " in ", env)?;
                opt(f, " last ", limit)
            }
            Command::Search(args) => search(f, args),
            Command::Lock { target, reason } => {
                write!(f, "lock {}", Target(target))?;
                reason_flag(f, "--reason", reason)
            }
            Command::Unlock { target } => write!(f, "unlock {}", Target(target)),
            Command::Locks => f.write_str("locks"),
            Command::Freeze { env, span, reason } => {
                write!(f, "freeze {env}")?;
                match span {
                    Some(FreezeSpan::For(d)) => {
                        write!(f, " for {}", humantime::format_duration(*d))?
                    }
                    Some(FreezeSpan::Until(t)) => write!(f, " until {t}")?,
                    None => {}
                }
                reason_flag(f, "--reason", reason)
            }
            Command::Unfreeze { env } => write!(f, "unfreeze {env}"),
            Command::Windows { env } => {
                f.write_str("windows")?;
                opt(f, " ", env)
            }
            Command::Wcid { app } => {
                f.write_str("wcid")?;
                opt(f, " ", app)
            }
            Command::Help { topic } => {
                f.write_str("help")?;
                opt(f, " ", topic)
            }
        }
    }
}

fn deploy(f: &mut Formatter<'_>, d: &DeployArgs) -> fmt::Result {
    f.write_str("deploy")?;
    flag(f, d.force, "!")?;
    opt(f, ":", &d.task)?;
    write!(f, " {}", d.app)?;
    opt(f, "@", &d.git_ref)?;
    if d.env.is_some() || d.host.is_some() {
        f.write_str(" to ")?;
        opt(f, "", &d.env)?;
        opt(f, "/", &d.host)?;
    }
    flag(f, d.dry_run, " --dry-run")?;
    reason_flag(f, "--emergency", &d.emergency)
}

fn search(f: &mut Formatter<'_>, a: &SearchArgs) -> fmt::Result {
    f.write_str("search")?;
    for word in &a.words {
        write!(f, " {word}")?;
    }
    opt(f, " app:", &a.app)?;
    opt(f, " env:", &a.env)?;
    opt(f, " user:", &a.user)?;
    opt(f, " status:", &a.status)?;
    let time =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    opt(f, " since:", &a.since.as_ref().map(time))?;
    opt(f, " until:", &a.until.as_ref().map(time))?;
    opt(f, " sha:", &a.sha)
}

struct Target<'a>(&'a LockTarget);

impl Display for Target<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            LockTarget::One(name) => f.write_str(name),
            LockTarget::AppEnv { app, env } => write!(f, "{app} in {env}"),
        }
    }
}

fn opt<T: Display>(f: &mut Formatter<'_>, before: &str, value: &Option<T>) -> fmt::Result {
    match value {
        Some(v) => write!(f, "{before}{v}"),
        None => Ok(()),
    }
}

fn flag(f: &mut Formatter<'_>, on: bool, text: &str) -> fmt::Result {
    if on { f.write_str(text) } else { Ok(()) }
}

fn reason_flag(f: &mut Formatter<'_>, name: &str, reason: &Option<String>) -> fmt::Result {
    match reason {
        Some(r) => write!(f, " {name} {}", flag_reason(r)),
        None => Ok(()),
    }
}

/// After `--reason`: one plain word stays bare, anything else is quoted.
fn flag_reason(r: &str) -> String {
    let bare = !r.is_empty() && !r.contains(' ') && !starts_quoted(r) && !is_flag(r);
    if bare { r.to_owned() } else { quoted(r) }
}

/// After `deny #N`: the rest of the message is the reason, so it stays bare unless the parser
/// would read it differently (a leading flag, or one quoted string that would lose its quotes).
fn tail_reason(r: &str) -> String {
    let first = r.split(' ').next().unwrap_or_default();
    let bare = !is_flag(first) && !matches!(split_quoted(r), Some((_, "")));
    if bare { r.to_owned() } else { quoted(r) }
}

/// The reason in a quote pair that reads back as exactly this reason: preferably one whose
/// characters do not occur in it at all, which is also the easiest to read.
fn quoted(r: &str) -> String {
    let wrap = |&(open, close): &(char, char)| {
        let mut s = String::with_capacity(r.len() + 8);
        let _ = write!(s, "{open}{r}{close}");
        s
    };
    let reads_back = |s: &String| split_quoted(s) == Some((r, ""));
    let unused = |&&(open, close): &&(char, char)| !r.contains(open) && !r.contains(close);
    QUOTES
        .iter()
        .filter(unused)
        .map(wrap)
        .find(reads_back)
        .or_else(|| QUOTES.iter().map(wrap).find(reads_back))
        .unwrap_or_else(|| format!("\"{r}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::command::DeployId;
    use crate::core::lifecycle::DeployState;
    use crate::core::names::{AppName, EnvName, GitRef, HostName};
    use crate::core::parse::{MAX_FREEZE, MAX_HISTORY, Parsed, parse_direct};
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;
    use proptest::sample::select;
    use std::time::Duration;

    fn round_trip(cmd: &Command) -> Parsed {
        parse_direct(&cmd.to_string())
    }

    #[test]
    fn canonical_forms() {
        let parsed = |s: &str| match parse_direct(s) {
            Parsed::Command(c) => c,
            other => panic!("{s:?}: {other:?}"),
        };
        let table = [
            (
                "DEPLOY! api/feature/x TO prod/fe noop",
                "deploy! api@feature/x to prod/fe --dry-run",
            ),
            (
                "deploy:migrate api --emergency “it's down”",
                "deploy:migrate api --emergency \"it's down\"",
            ),
            (
                "deploy api --emergency 'say \"hi\" now'",
                "deploy api --emergency “say \"hi\" now”",
            ),
            (
                "deploy api --emergency=outage",
                "deploy api --emergency outage",
            ),
            ("rollback api prod", "rollback api in prod"),
            ("deny 4 \"--force\"", "deny #4 \"--force\""),
            ("deny 4 'bad \"idea\"'", "deny #4 bad \"idea\""),
            ("deny 4 '\"bad idea\"'", "deny #4 “\"bad idea\"”"),
            ("deny 4 \"bad\" idea", "deny #4 \"bad\" idea"),
            ("#9", "status #9"),
            ("what's live on prod --check", "live in prod --check"),
            ("deploys api@v1 in prod", "history api@v1 in prod"),
            (
                "log Timeout since:2026-01-31 status:failed",
                "search timeout status:failed since:2026-01-31T00:00:00Z",
            ),
            (
                "lock prod --reason \"db work\"",
                "lock prod --reason \"db work\"",
            ),
            ("freeze prod for 90m", "freeze prod for 1h 30m"),
            ("where can I deploy api", "wcid api"),
            ("help whats live", "help live"),
        ];
        for (text, want) in table {
            assert_eq!(parsed(text).to_string(), want, "{text:?}");
        }
    }

    /// Names that are grammar keywords cannot stand in every position (see the module doc).
    const KEYWORDS: [&str; 7] = ["to", "in", "on", "noop", "last", "for", "until"];

    fn name() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9._-]{0,15}".prop_filter("keyword", |s| !KEYWORDS.contains(&s.as_str()))
    }
    fn app() -> impl Strategy<Value = AppName> {
        name().prop_map(|s| AppName::parse(&s).unwrap())
    }
    fn env() -> impl Strategy<Value = EnvName> {
        name().prop_map(|s| EnvName::parse(&s).unwrap())
    }
    fn host() -> impl Strategy<Value = HostName> {
        name().prop_map(|s| HostName::parse(&s).unwrap())
    }
    fn git_ref() -> impl Strategy<Value = GitRef> {
        "[A-Za-z0-9][A-Za-z0-9._/+-]{0,40}".prop_filter_map("bad ref", |s| GitRef::parse(&s).ok())
    }
    fn id() -> impl Strategy<Value = DeployId> {
        1..=DeployId::MAX
    }
    /// Reasons as the parser leaves them: trimmed, single spaces, no control characters; any
    /// quote except the curly closing double quote, so one quote pair always fits.
    fn reason() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ,.!?#:'\"’“‘-]{1,60}".prop_filter_map("blank", |s| {
            let r = s
                .split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            (!r.is_empty()).then_some(r)
        })
    }
    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        (
            0i64..4_000_000_000,
            prop_oneof![Just(0u32), 0u32..1_000_000_000],
        )
            .prop_map(|(s, n)| Utc.timestamp_opt(s, n).unwrap())
    }

    fn deploy() -> impl Strategy<Value = Command> {
        let place = prop::option::of((env(), prop::option::of(host())));
        (
            app(),
            prop::option::of(git_ref()),
            place,
            prop::option::of(name()),
            any::<[bool; 2]>(),
            prop::option::of(reason()),
        )
            .prop_map(|(app, git_ref, place, task, [force, dry_run], emergency)| {
                let (env, host) = place.map_or((None, None), |(e, h)| (Some(e), h));
                Command::Deploy(DeployArgs {
                    app,
                    git_ref,
                    env,
                    host,
                    task,
                    force,
                    dry_run,
                    emergency,
                })
            })
    }

    fn history() -> impl Strategy<Value = Command> {
        let target = prop::option::of((app(), prop::option::of(git_ref())));
        (
            target,
            prop::option::of(env()),
            prop::option::of(1..=MAX_HISTORY),
        )
            .prop_map(|(t, env, limit)| {
                let (app, git_ref) = t.map_or((None, None), |(a, r)| (Some(a), r));
                Command::History {
                    app,
                    env,
                    git_ref,
                    limit,
                }
            })
    }

    fn search() -> impl Strategy<Value = Command> {
        let filters = (
            prop::option::of(app()),
            prop::option::of(env()),
            prop::option::of("[A-Za-z0-9][A-Za-z0-9._-]{0,12}"),
            prop::option::of(select(DeployState::ALL.to_vec())),
            prop::option::of(time()),
            prop::option::of(time()),
        );
        let sha = prop::option::of("[0-9a-f]{4,40}");
        (prop::collection::vec("[a-z0-9]{1,8}", 0..4), filters, sha)
            .prop_map(
                |(words, (app, env, user, status, since, until), sha)| SearchArgs {
                    words,
                    app,
                    env,
                    user,
                    status,
                    since,
                    until,
                    sha,
                },
            )
            .prop_filter("empty or backwards", |a| {
                let anything = !a.words.is_empty()
                    || a.app.is_some()
                    || a.env.is_some()
                    || a.user.is_some()
                    || a.status.is_some()
                    || a.since.is_some()
                    || a.until.is_some()
                    || a.sha.is_some();
                anything && !matches!((a.since, a.until), (Some(s), Some(u)) if s >= u)
            })
            .prop_map(Command::Search)
    }

    fn lock_target() -> impl Strategy<Value = LockTarget> {
        prop_oneof![
            name().prop_map(LockTarget::One),
            (app(), env()).prop_map(|(app, env)| LockTarget::AppEnv { app, env }),
        ]
    }

    fn freeze() -> impl Strategy<Value = Command> {
        let word =
            "[a-z0-9][a-z0-9:.+-]{0,12}".prop_filter("keyword", |w| w != "for" && w != "until");
        let span = prop_oneof![
            (1..=MAX_FREEZE.as_millis() as u64)
                .prop_map(|ms| FreezeSpan::For(Duration::from_millis(ms))),
            prop::collection::vec(word, 1..4).prop_map(|ws| FreezeSpan::Until(ws.join(" "))),
        ];
        (env(), prop::option::of(span), prop::option::of(reason()))
            .prop_map(|(env, span, reason)| Command::Freeze { env, span, reason })
    }

    fn command() -> impl Strategy<Value = Command> {
        let topics = [
            "deploy", "rollback", "cancel", "approve", "deny", "status", "live", "history",
            "search", "lock", "unlock", "locks", "freeze", "unfreeze", "windows", "wcid", "help",
        ];
        let simple = prop_oneof![
            (app(), env(), prop::option::of(git_ref()))
                .prop_map(|(app, env, version)| Command::Rollback { app, env, version }),
            id().prop_map(|id| Command::Cancel { id }),
            id().prop_map(|id| Command::Approve { id }),
            (id(), prop::option::of(reason()))
                .prop_map(|(id, reason)| Command::Deny { id, reason }),
            prop::option::of(id()).prop_map(|id| Command::Status { id }),
            (
                prop::option::of(app()),
                prop::option::of(env()),
                any::<bool>()
            )
                .prop_map(|(app, env, check)| Command::Live { app, env, check }),
            Just(Command::Locks),
            env().prop_map(|env| Command::Unfreeze { env }),
            prop::option::of(env()).prop_map(|env| Command::Windows { env }),
            prop::option::of(app()).prop_map(|app| Command::Wcid { app }),
            prop::option::of(select(topics.to_vec())).prop_map(|t| Command::Help {
                topic: t.map(str::to_owned)
            }),
        ];
        let rich = prop_oneof![
            deploy(),
            history(),
            search(),
            (lock_target(), prop::option::of(reason()))
                .prop_map(|(target, reason)| Command::Lock { target, reason }),
            lock_target().prop_map(|target| Command::Unlock { target }),
            freeze(),
        ];
        prop_oneof![simple, rich]
    }

    proptest! {
        #[test]
        fn text_form_reads_back_to_the_same_command(cmd in command()) {
            prop_assert_eq!(round_trip(&cmd), Parsed::Command(cmd.clone()), "text: {}", cmd);
        }
    }
}
