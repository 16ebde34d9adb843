//! `lock`, `unlock`, `locks`, `freeze`, `unfreeze`: holds and one-off freezes from chat.

use super::deploy::{refuse, say};
use super::{Inner, resolve};
use crate::chat::Conversation;
use crate::config::EnvPolicy;
use crate::core::command::{FreezeSpan, LockTarget};
use crate::core::format;
use crate::core::names::{AppName, EnvName};
use crate::core::policy;
use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc};
use std::sync::Arc;

/// The longest a freeze from chat may last.
const MAX_FREEZE: chrono::Duration = chrono::Duration::days(30);

/// Reads a lock target against the configuration: `lock <env>`, `lock <app>` (in the default
/// env), `lock <app> in <env>`.
fn target(inner: &Inner, t: &LockTarget) -> Result<(Option<AppName>, EnvName), String> {
    let config = &inner.config;
    match t {
        LockTarget::One(word) => {
            if let Ok(env) = EnvName::parse(word)
                && config.env(&env).is_some()
            {
                return Ok((None, env));
            }
            let app = AppName::parse(word).map_err(|e| e.to_string())?;
            let recipe = resolve::app(config, &app).map_err(|_| {
                let names = config
                    .apps
                    .iter()
                    .map(|r| r.app.as_str())
                    .chain(config.envs.iter().map(|(e, _)| e.as_str()));
                resolve::unknown("app or env", word, names.collect::<Vec<_>>())
            })?;
            let env = config.bot.default_env.clone();
            resolve::app_env(config, recipe, &env)?;
            Ok((Some(recipe.app.clone()), env))
        }
        LockTarget::AppEnv { app, env } => {
            let recipe = resolve::app(config, app)?;
            resolve::app_env(config, recipe, env)?;
            Ok((Some(recipe.app.clone()), env.clone()))
        }
    }
}

fn describe(app: Option<&AppName>, env: &EnvName) -> String {
    match app {
        Some(a) => format!("{a} in {env}"),
        None => format!("all of {env}"),
    }
}

pub async fn lock(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    t: LockTarget,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let (app, env) = match target(inner, &t) {
        Ok(x) => x,
        Err(msg) => return refuse(inner, channel, &msg).await,
    };
    let policy = inner.config.env(&env).expect("resolved env");
    if let Err(r) = policy::may_deploy(&inner.config, env.as_str(), policy, user) {
        return refuse(
            inner,
            channel,
            &format!("You cannot lock {}: {}", describe(app.as_ref(), &env), r.0),
        )
        .await;
    }
    let what = describe(app.as_ref(), &env);
    let now = inner.clock.now();
    let why = reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let text = format!("{user} locked {what}{why}");
    match inner
        .store
        .take_lock(app.as_ref(), &env, user, reason.as_deref(), &text, now)
        .await?
    {
        Ok(_) => {
            let unlock = match &app {
                Some(a) => format!("unlock {a} in {env}"),
                None => format!("unlock {env}"),
            };
            say(inner, channel, &format!("🔒 {what} is locked by {user}{why}. Others' deploys there are refused until `{unlock}`.")).await
        }
        Err(held) if held.owner == user => {
            refuse(
                inner,
                channel,
                &format!("You already hold the lock on {what}."),
            )
            .await
        }
        Err(held) => {
            let why = held
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            refuse(
                inner,
                channel,
                &format!(
                    "{what} is already locked by {} since {}{why}.",
                    held.owner,
                    format::time_in(held.at, policy.timezone)
                ),
            )
            .await
        }
    }
}

pub async fn unlock(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    t: LockTarget,
) -> anyhow::Result<()> {
    let (app, env) = match target(inner, &t) {
        Ok(x) => x,
        Err(msg) => return refuse(inner, channel, &msg).await,
    };
    let what = describe(app.as_ref(), &env);
    let policy = inner.config.env(&env).expect("resolved env");
    let locks = inner.store.locks().await?;
    let Some(lock) = locks.iter().find(|l| l.env == env && l.app == app) else {
        return refuse(inner, channel, &format!("{what} is not locked.")).await;
    };
    if lock.owner != user && !policy::is_approver(&inner.config, env.as_str(), policy, user) {
        let approvers = policy::approvers_name(&inner.config, policy);
        return refuse(
            inner,
            channel,
            &format!(
                "Only {} (who holds it) or someone in {approvers} can unlock {what}.",
                lock.owner
            ),
        )
        .await;
    }
    let text = if lock.owner == user {
        format!("{user} unlocked {what}")
    } else {
        format!("{user} broke {}'s lock on {what}", lock.owner)
    };
    inner
        .store
        .release_lock(lock.id, user, &text, inner.clock.now())
        .await?;
    say(inner, channel, &format!("🔓 {text}.")).await
}

/// A line per lock held by someone: `🔒 api in prod · carol since 14:02 CET: reason`.
pub fn lines(inner: &Inner, locks: &[crate::core::policy::Lock]) -> Vec<String> {
    locks
        .iter()
        .map(|l| {
            let tz = inner
                .config
                .env(&l.env)
                .map(|p| p.timezone)
                .unwrap_or(chrono_tz::UTC);
            let why = l
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            format!(
                "🔒 {} · {} since {}{why}",
                describe(l.app.as_ref(), &l.env),
                l.owner,
                format::time_in(l.at, tz)
            )
        })
        .collect()
}

pub async fn list(inner: &Arc<Inner>, channel: &Conversation) -> anyhow::Result<()> {
    let locks = inner.store.locks().await?;
    let busy = inner.queues.lock().expect("queues lock").running_all();
    if locks.is_empty() && busy.is_empty() {
        // An answer, not a refusal: everyone in the channel may want to know.
        return say(inner, channel, "Nothing is locked.").await;
    }
    let mut out = String::from("Locks:");
    for line in lines(inner, &locks) {
        out.push('\n');
        out.push_str(&line);
    }
    for ((app, env), id) in busy {
        out.push_str(&format!(
            "\n⏳ {app} in {env} · held by deploy #{id} while it runs"
        ));
    }
    say(inner, channel, &out).await
}

pub async fn freeze(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    env: EnvName,
    span: Option<FreezeSpan>,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let policy = match approver_in(inner, &env, user, "freeze") {
        Ok(p) => p,
        Err(msg) => return refuse(inner, channel, &msg).await,
    };
    let now = inner.clock.now();
    let until = match span {
        Some(FreezeSpan::For(d)) => chrono::Duration::from_std(d).ok().map(|d| now + d),
        Some(FreezeSpan::Until(text)) => match parse_until(&text, policy.timezone, now) {
            Ok(t) => Some(t),
            Err(msg) => return refuse(inner, channel, &msg).await,
        },
        None => None,
    };
    let Some(until) = until else {
        return refuse(
            inner,
            channel,
            &format!(
                "How long? Say `freeze {env} for 2h` or `freeze {env} until 18:00` (times in {}).",
                policy.timezone
            ),
        )
        .await;
    };
    if until <= now {
        return refuse(
            inner,
            channel,
            &format!(
                "{} is already past.",
                format::time_in(until, policy.timezone)
            ),
        )
        .await;
    }
    if until - now > MAX_FREEZE {
        return refuse(
            inner,
            channel,
            "A freeze from chat lasts at most 30 days; configure a window for longer ones.",
        )
        .await;
    }
    let why = reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let shown = format::time_in(until, policy.timezone);
    let text = format!("{user} froze {env} until {shown}{why}");
    inner
        .store
        .add_freeze(&env, now, until, reason.as_deref(), user, &text, now)
        .await?;
    say(
        inner,
        channel,
        &format!("❄ {env} is frozen until {shown} by {user}{why}. Deploys there are refused (emergencies aside); `unfreeze {env}` ends it."),
    )
    .await
}

pub async fn unfreeze(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    env: EnvName,
) -> anyhow::Result<()> {
    let policy = match approver_in(inner, &env, user, "unfreeze") {
        Ok(p) => p,
        Err(msg) => return refuse(inner, channel, &msg).await,
    };
    let now = inner.clock.now();
    let ended = inner
        .store
        .end_freezes(&env, user, &format!("{user} unfroze {env}"), now)
        .await?;
    let mut text = if ended == 0 {
        format!("{env} has no freeze from chat to end.")
    } else {
        format!("{user} ended the freeze of {env}.")
    };
    if let Some((name, end)) = policy::active_freeze(&env, policy, &[], now) {
        text.push_str(&format!(
            " The configured window `{name}` still holds until {}: only emergency deploys go through it.",
            format::time_in(end, policy.timezone)
        ));
    }
    say(inner, channel, &text).await
}

/// The env's policy, if `user` may `verb` (freeze, unfreeze) it; else what to tell them.
fn approver_in<'c>(
    inner: &'c Inner,
    env: &EnvName,
    user: &str,
    verb: &str,
) -> Result<&'c EnvPolicy, String> {
    resolve::env(&inner.config, env)?;
    let policy = inner
        .config
        .env(env)
        .ok_or_else(|| format!("{env} is not configured."))?;
    if policy::is_approver(&inner.config, env.as_str(), policy, user) {
        Ok(policy)
    } else {
        Err(format!(
            "Only {} can {verb} {env}.",
            policy::approvers_name(&inner.config, policy)
        ))
    }
}

/// `until` times: RFC 3339, or `YYYY-MM-DD HH:MM` / `HH:MM` in the env's zone (`HH:MM` is
/// the next such time).
fn parse_until(text: &str, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    let local = |naive: NaiveDateTime| {
        tz.from_local_datetime(&naive)
            .earliest()
            .map(|t| t.to_utc())
    };
    for f in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(text, f) {
            return local(n).ok_or_else(|| format!("{text} does not exist in {tz} (a DST gap)."));
        }
    }
    if let Ok(t) = NaiveTime::parse_from_str(text, "%H:%M") {
        let today = now.with_timezone(&tz).date_naive();
        for day in [today, today.succ_opt().unwrap_or(today)] {
            if let Some(at) = local(day.and_time(t))
                && at > now
            {
                return Ok(at);
            }
        }
    }
    Err(format!(
        "I can't read `{}` as a time. Use 18:00, 2026-11-27 18:00 (in {tz}) or 2026-11-27T17:00:00Z.",
        crate::core::names::shown(text)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_reads_local_and_absolute_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .to_utc();
        let tz = chrono_tz::Europe::Brussels;
        assert_eq!(
            parse_until("18:00", tz, now).unwrap().to_rfc3339(),
            "2026-11-23T17:00:00+00:00"
        );
        assert_eq!(
            parse_until("09:00", tz, now).unwrap().to_rfc3339(),
            "2026-11-24T08:00:00+00:00"
        );
        assert_eq!(
            parse_until("2026-11-27 18:00", tz, now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-27T17:00:00+00:00"
        );
        assert_eq!(
            parse_until("2026-11-27T17:00:00Z", tz, now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-27T17:00:00+00:00"
        );
        assert!(
            parse_until("tomorrowish", tz, now)
                .unwrap_err()
                .contains("can't read")
        );
        assert!(
            parse_until("2026-03-29 02:30", tz, now)
                .unwrap_err()
                .contains("DST")
        );
    }
}
