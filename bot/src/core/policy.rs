//! Who may do what, where and when (docs/policy.md). Pure functions of (request, configuration,
//! state, now): each returns a decision with the reason a user will read. Nothing here reads
//! the clock or the database; the engine gathers the facts and passes them in.

use crate::core::format;
use crate::core::model::{Config, EnvPolicy};
use crate::core::names::{AppName, EnvName};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Why something is refused, worded for the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// A lock held on an app in an env, or on a whole env (`app` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub id: i64,
    pub app: Option<AppName>,
    pub env: EnvName,
    pub owner: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A freeze typed in chat (configured windows live in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub id: i64,
    pub env: EnvName,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub by: String,
}

/// What the policy needs to know about the world at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub now: DateTime<Utc>,
    pub locks: &'a [Lock],
    pub freezes: &'a [Freeze],
}

/// Whose approvals a deploy waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRule {
    pub required: u32,
    /// `None`: anyone but the requester (an emergency in an env without an approver group).
    pub group: Option<String>,
    pub self_approve: bool,
    /// The rule is the env's emergency rule (a deploy through a freeze).
    pub emergency: bool,
    pub expire: Duration,
}

impl ApprovalRule {
    /// "1 approval from leads", "2 approvals from leads", "2 approvals".
    pub fn describe(&self) -> String {
        let n = plural(self.required, "approval");
        match &self.group {
            Some(g) => format!("{n} from {g}"),
            None => n,
        }
    }
}

/// The verdict on a request when it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtRequest {
    /// No approval needed: put it in line.
    Go,
    NeedsApproval(ApprovalRule),
    Refused(Refusal),
}

/// The verdict when a deploy's turn comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtStart {
    Go,
    /// Stay in line (holding the target) and try again; the text says why.
    Wait(String),
    Refused(Refusal),
}

/// A request as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub app: &'a AppName,
    pub env: &'a EnvName,
    pub user: &'a str,
    pub emergency: Option<&'a str>,
    /// Where it was asked (`slack:C0OPS`, `console`): an env may take requests from some
    /// channels only.
    pub channel: &'a str,
}

/// May a deploy to this env be requested from `channel`? (`channels = […]` of the env, like
/// hubot-deploy's allowed rooms; queries work everywhere.)
pub fn channel_allowed(env: &str, policy: &EnvPolicy, channel: &str) -> Result<(), Refusal> {
    match &policy.channels {
        Some(list) if !list.iter().any(|c| c == channel) => Err(Refusal(format!(
            "deploys to {env} are requested only in {} (this is {channel}); ask there.",
            list.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// The env's freeze in force at `now`, if any: its name and when deploys open again (windows
/// that overlap or follow each other are chased to the final end).
pub fn active_freeze(
    env: &EnvName,
    policy: &EnvPolicy,
    oneoff: &[Freeze],
    now: DateTime<Utc>,
) -> Option<(String, DateTime<Utc>)> {
    let at = |t: DateTime<Utc>| -> Option<(String, DateTime<Utc>)> {
        let configured = policy
            .freezes
            .iter()
            .filter_map(|w| w.active_at(t).map(|end| (w.name.clone(), end)));
        let typed = oneoff
            .iter()
            .filter(|f| &f.env == env && f.starts_at <= t && t < f.ends_at)
            .map(|f| (format!("freeze by {}", f.by), f.ends_at));
        configured.chain(typed).max_by_key(|(_, end)| *end)
    };
    let (name, mut end) = at(now)?;
    // A bounded chase: ten back-to-back windows is already a configuration worth a look.
    for _ in 0..10 {
        match at(end) {
            Some((_, later)) if later > end => end = later,
            _ => break,
        }
    }
    Some((name, end))
}

/// A lock that keeps `user` from deploying `app` to `env`: on the app there or the whole env,
/// held by someone else.
pub fn lock_in_the_way<'a>(
    locks: &'a [Lock],
    app: &AppName,
    env: &EnvName,
    user: &str,
) -> Option<&'a Lock> {
    locks
        .iter()
        .find(|l| &l.env == env && l.app.as_ref().is_none_or(|a| a == app) && l.owner != user)
}

/// May `user` request a deploy to an env with this policy at all?
pub fn may_deploy(
    config: &Config,
    env: &str,
    policy: &EnvPolicy,
    user: &str,
) -> Result<(), Refusal> {
    if let Some(group) = &policy.deployers
        && !config.is_member(group, user)
    {
        return Err(Refusal(format!(
            "{user} may not deploy to {env}: deploys there are for the `{group}` group ({}).",
            config.group_members(group).join(", ")
        )));
    }
    Ok(())
}

/// May `user` freeze this env or break others' locks in it? The env's approver group; in an
/// env without one (staging, say), anyone in any env's approver group, so a stale lock never
/// needs its holder; with no approver group anywhere, anyone who may deploy there.
pub fn is_approver(config: &Config, env: &str, policy: &EnvPolicy, user: &str) -> bool {
    let in_group = |g: &String| config.is_member(g, user);
    if let Some(g) = &policy.approvals.group {
        return in_group(g);
    }
    let groups: Vec<&String> = config
        .envs
        .iter()
        .filter_map(|(_, p)| p.approvals.group.as_ref())
        .collect();
    if groups.is_empty() {
        may_deploy(config, env, policy, user).is_ok()
    } else {
        groups.into_iter().any(in_group)
    }
}

/// May `user` cancel a deploy to an env with this policy that `requester` asked for? The
/// requester may; so may a member of the env's approver group; and, where the env needs no
/// approval, anyone who may deploy there. The refusal names who may.
pub fn may_cancel(
    config: &Config,
    env: &str,
    policy: &EnvPolicy,
    requester: &str,
    user: &str,
) -> Result<(), Refusal> {
    if user == requester {
        return Ok(());
    }
    let approvers = policy.approvals.group.as_deref();
    if approvers.is_some_and(|g| config.is_member(g, user)) {
        return Ok(());
    }
    let open = policy.approvals.required == 0;
    if open && may_deploy(config, env, policy, user).is_ok() {
        return Ok(());
    }
    let mut who = vec![format!("{requester} (who asked for it)")];
    if let Some(g) = approvers {
        who.push(format!("a member of {g}"));
    }
    if open
        && let Some(d) = &policy.deployers
        && Some(d.as_str()) != approvers
    {
        who.push(format!("a member of {d} (who may deploy to {env})"));
    }
    Err(Refusal(format!("only {} may cancel it.", or_list(&who))))
}

/// Who `is_approver` means, for messages: "leads", or "an approver".
pub fn approvers_name(config: &Config, policy: &EnvPolicy) -> String {
    policy
        .approvals
        .group
        .clone()
        .or_else(|| {
            config
                .envs
                .iter()
                .find_map(|(_, p)| p.approvals.group.clone())
        })
        .unwrap_or_else(|| "an approver".to_owned())
}

/// The verdict when a request is made: permission, locks, freezes, then approvals.
pub fn at_request(
    config: &Config,
    policy: &EnvPolicy,
    req: Request<'_>,
    facts: Facts<'_>,
) -> AtRequest {
    if let Err(r) = channel_allowed(req.env.as_str(), policy, req.channel) {
        return AtRequest::Refused(r);
    }
    if let Err(r) = may_deploy(config, req.env.as_str(), policy, req.user) {
        return AtRequest::Refused(r);
    }
    if let Some(lock) = lock_in_the_way(facts.locks, req.app, req.env, req.user) {
        return AtRequest::Refused(Refusal(locked_text(lock, policy)));
    }
    if let Some((name, end)) = active_freeze(req.env, policy, facts.freezes, facts.now) {
        let rule = emergency_rule(policy);
        return match req.emergency {
            Some(_) => AtRequest::NeedsApproval(rule),
            None => AtRequest::Refused(Refusal(format!(
                "{} is frozen ({name}) until {}. Only an emergency deploy goes in now: add --emergency \"<reason>\"; it needs {}.",
                req.env,
                format::time_in(end, policy.timezone),
                rule.describe()
            ))),
        };
    }
    match normal_rule(policy) {
        Some(rule) => AtRequest::NeedsApproval(rule),
        None => AtRequest::Go,
    }
}

/// The verdict when a deploy's turn comes: policy is checked again, since a freeze may have
/// begun or a lock been taken since it was approved. `emergency_approvers` is how many
/// eligible people approved it under the emergency rule (0 for an ordinary deploy).
pub fn at_start(
    config: &Config,
    policy: &EnvPolicy,
    req: Request<'_>,
    emergency_approvers: u32,
    facts: Facts<'_>,
) -> AtStart {
    if let Err(r) = may_deploy(config, req.env.as_str(), policy, req.user) {
        return AtStart::Refused(r);
    }
    if let Some(lock) = lock_in_the_way(facts.locks, req.app, req.env, req.user) {
        return AtStart::Wait(format!("waiting: {}", locked_text(lock, policy)));
    }
    if let Some((name, end)) = active_freeze(req.env, policy, facts.freezes, facts.now) {
        let through = req.emergency.is_some() && emergency_approvers >= policy.emergency.required;
        if !through {
            return AtStart::Wait(format!(
                "waiting: {} is frozen ({name}) until {}; it starts by itself when the freeze ends",
                req.env,
                format::time_in(end, policy.timezone)
            ));
        }
    }
    AtStart::Go
}

/// The env's ordinary approval rule, if it has one.
pub fn normal_rule(policy: &EnvPolicy) -> Option<ApprovalRule> {
    let a = &policy.approvals;
    (a.required > 0).then(|| ApprovalRule {
        required: a.required,
        group: a.group.clone(),
        self_approve: a.self_approve,
        emergency: false,
        expire: a.expire,
    })
}

/// The env's emergency rule: distinct approvers, never the requester.
pub fn emergency_rule(policy: &EnvPolicy) -> ApprovalRule {
    ApprovalRule {
        required: policy.emergency.required,
        group: policy
            .emergency
            .group
            .clone()
            .or_else(|| policy.approvals.group.clone()),
        self_approve: false,
        emergency: true,
        expire: policy.approvals.expire,
    }
}

/// Why a person's approval does not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ineligible {
    Bot,
    Requester,
    NotInGroup(String),
}

/// Whether `approver`'s approve or deny counts under `rule` for a deploy `requester` asked for.
pub fn eligible(
    config: &Config,
    rule: &ApprovalRule,
    requester: &str,
    approver: &str,
    from_bot: bool,
) -> Result<(), Ineligible> {
    if from_bot {
        return Err(Ineligible::Bot);
    }
    if approver == requester && !rule.self_approve {
        return Err(Ineligible::Requester);
    }
    match &rule.group {
        Some(g) if !config.is_member(g, approver) => Err(Ineligible::NotInGroup(g.clone())),
        _ => Ok(()),
    }
}

/// Where a request stands, from the approvals and denials in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tally {
    Denied { by: String },
    Approved { by: Vec<String> },
    Pending { by: Vec<String>, need: u32 },
}

/// Counts distinct eligible approvers (a person counts once, however many ways they
/// approved); any eligible deny ends the request.
pub fn tally<'a>(
    config: &Config,
    rule: &ApprovalRule,
    requester: &str,
    votes: impl IntoIterator<Item = (&'a str, bool)>,
) -> Tally {
    let mut by: Vec<String> = Vec::new();
    for (user, approve) in votes {
        if eligible(config, rule, requester, user, false).is_err() {
            continue;
        }
        if !approve {
            return Tally::Denied {
                by: user.to_owned(),
            };
        }
        if !by.iter().any(|u| u == user) {
            by.push(user.to_owned());
        }
    }
    if by.len() as u32 >= rule.required {
        Tally::Approved { by }
    } else {
        Tally::Pending {
            need: rule.required - by.len() as u32,
            by,
        }
    }
}

fn locked_text(lock: &Lock, policy: &EnvPolicy) -> String {
    let what = match &lock.app {
        Some(a) => format!("{a} in {}", lock.env),
        None => format!("all of {}", lock.env),
    };
    let why = lock
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    format!(
        "{what} is locked by {} since {}{why}. Ask {}, or an approver can unlock it.",
        lock.owner,
        format::time_in(lock.at, policy.timezone),
        lock.owner
    )
}

/// "a", "a or b", "a, b or c".
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Approvals, BotSettings, Emergency, SshSettings};

    /// `prod` needs 1 approval from `leads` and only `deployers` may deploy there; `staging`
    /// needs no approval and only `devs` may deploy; `sandbox` is open to everyone.
    fn config() -> Config {
        let env = |deployers: Option<&str>, required: u32, group: Option<&str>| EnvPolicy {
            deployers: deployers.map(str::to_owned),
            approvals: Approvals {
                required,
                group: group.map(str::to_owned),
                self_approve: false,
                expire: Duration::from_secs(1800),
                approve_with: vec!["+1".into()],
                deny_with: vec!["-1".into()],
            },
            emergency: Emergency {
                required: 2,
                group: group.map(str::to_owned),
            },
            freezes: Vec::new(),
            timezone: chrono_tz::UTC,
            channels: None,
        };
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut people = crate::core::people::People::default();
        people.add("carol", &[("slack", "U0CAROL")]).unwrap();
        Config {
            people,
            platform_groups: Default::default(),
            bot: BotSettings {
                name: "deckhand".into(),
                prefixes: vec!["!".into()],
                default_env: EnvName::parse("staging").unwrap(),
                recipes: "deploy.d".into(),
                shutdown_grace: std::time::Duration::from_secs(30),
            },
            groups: [
                ("leads".to_owned(), names(&["carol", "dave"])),
                ("deployers".to_owned(), names(&["alice", "bob", "carol"])),
                ("devs".to_owned(), names(&["alice", "bob"])),
            ]
            .into(),
            github: Default::default(),
            envs: vec![
                (
                    EnvName::parse("prod").unwrap(),
                    env(Some("deployers"), 1, Some("leads")),
                ),
                (
                    EnvName::parse("staging").unwrap(),
                    env(Some("devs"), 0, None),
                ),
                (EnvName::parse("sandbox").unwrap(), env(None, 0, None)),
            ],
            apps: Vec::new(),
            ssh: SshSettings::default(),
            slack: None,
            discord: None,
            http: Default::default(),
            path: "deckhand.toml".into(),
        }
    }

    fn cancel(env: &str, requester: &str, user: &str) -> Result<(), String> {
        let c = config();
        let policy = c.env(&EnvName::parse(env).unwrap()).unwrap();
        may_cancel(&c, env, policy, requester, user).map_err(|r| r.0)
    }

    #[test]
    fn who_may_cancel_a_deploy() {
        let prod = Err("only alice (who asked for it) or a member of leads may cancel it.");
        let staging = Err(
            "only alice (who asked for it) or a member of devs (who may deploy to staging) may cancel it.",
        );
        let table: &[(&str, &str, Result<(), &str>)] = &[
            // (env, user, verdict) for a deploy alice asked for
            ("prod", "alice", Ok(())),
            ("prod", "dave", Ok(())),
            // carol may deploy to prod and is a lead; bob may only deploy there.
            ("prod", "carol", Ok(())),
            ("prod", "bob", prod),
            ("prod", "mallory", prod),
            ("staging", "alice", Ok(())),
            ("staging", "bob", Ok(())),
            // A lead, but staging needs no approval and leads may not deploy there.
            ("staging", "carol", staging),
            ("staging", "mallory", staging),
            ("sandbox", "mallory", Ok(())),
        ];
        for (env, user, expect) in table {
            assert_eq!(
                cancel(env, "alice", user),
                expect.map_err(str::to_owned),
                "{user} cancelling alice's deploy in {env}"
            );
        }
    }

    #[test]
    fn an_approver_group_in_an_open_env_counts_too() {
        let mut c = config();
        let (_, staging) = c
            .envs
            .iter_mut()
            .find(|(n, _)| n.as_str() == "staging")
            .unwrap();
        staging.approvals.group = Some("leads".into());
        let staging = c.env(&EnvName::parse("staging").unwrap()).unwrap();
        assert_eq!(may_cancel(&c, "staging", staging, "alice", "carol"), Ok(()));
        assert_eq!(
            may_cancel(&c, "staging", staging, "alice", "mallory")
                .unwrap_err()
                .0,
            "only alice (who asked for it), a member of leads or a member of devs (who may deploy to staging) may cancel it."
        );
    }
}
