//! Who may do what, where (product.md §5). Pure functions of (request, configuration, state);
//! each returns a decision with the reason a user will read.
//!
//! Approvals, freeze windows, emergencies and locks are validated in the configuration but
//! not enforced by this version: a request that would need them is refused (never run without
//! them), and says so.

use crate::config::{Config, EnvPolicy};

/// Why a request is refused, worded for the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// May `user` request a deploy to an env with this policy at all?
pub fn may_deploy(
    config: &Config,
    env: &str,
    policy: &EnvPolicy,
    user: &str,
) -> Result<(), Refusal> {
    if let Some(group) = &policy.deployers
        && !config.group_members(group).iter().any(|m| m == user)
    {
        return Err(Refusal(format!(
            "{user} may not deploy to {env}: deploys there are for the `{group}` group. Ask one of its members ({}).",
            config.group_members(group).join(", ")
        )));
    }
    Ok(())
}

/// Can a deploy to this env run without a person's approval? In this version, a deploy that
/// needs approvals is refused, since nothing can record them yet.
pub fn needs_no_approval(env: &str, policy: &EnvPolicy) -> Result<(), Refusal> {
    let a = &policy.approvals;
    if a.required == 0 {
        return Ok(());
    }
    let from = a.group.as_deref().unwrap_or("an approver");
    Err(Refusal(format!(
        "{env} needs {} from {from}, and this version of deckhand cannot take approvals yet, so it will not run it. Nothing was deployed.",
        plural(a.required, "approval")
    )))
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
