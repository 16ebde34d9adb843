//! Approvals: the request message, reactions and `approve`/`deny`, withdrawals, expiry
//! (docs/policy.md). The rules are `core::policy`'s; this module gathers facts and says things.

use super::Inner;
use crate::chat::Conversation;
use crate::chat::Reaction;
use crate::core::command::DeployId;
use crate::core::emoji;
use crate::core::format;
use crate::core::lifecycle::DeployState;
use crate::core::policy::{self, ApprovalRule, Ineligible, Tally};
use crate::store::{Deploy, Verdict};
use std::sync::Arc;

/// The approval request, posted once and edited as approvals arrive.
pub fn request_text(
    inner: &Inner,
    d: &Deploy,
    rule: &ApprovalRule,
    progress: Option<&str>,
) -> String {
    let label = super::run::label(d);
    let Some(env) = inner.config.env(&d.env) else {
        return label;
    };
    let approve: Vec<String> = env
        .approvals
        .approve_with
        .iter()
        .map(|e| emoji::canonical(e))
        .collect();
    let deny: Vec<String> = env
        .approvals
        .deny_with
        .iter()
        .map(|e| emoji::canonical(e))
        .collect();
    let expires = d.created_at + chrono::Duration::from_std(rule.expire).unwrap_or_default();
    let head = match &d.emergency {
        Some(reason) if rule.emergency => format!(
            "EMERGENCY {label} requested by {}: \"{reason}\"",
            d.requested_by
        ),
        _ => format!("{label} requested by {}", d.requested_by),
    };
    let mut text = format!(
        "{head} needs {}.\nApprove: react {} or say `approve #{}`. Deny: react {} or say `deny #{} <reason>`.\nExpires {}.",
        rule.describe(),
        approve.join(" or "),
        d.id,
        deny.join(" or "),
        d.id,
        format::time_in(expires, env.timezone),
    );
    if let Some(note) = inner.source.note(d.id) {
        text.push_str(&format!("\n{note}"));
    } else if let Some(sha) = &d.commit_sha {
        text.push_str(&format!("\nCommit: {sha}"));
    }
    if let Some(p) = progress {
        text.push_str(&format!("\n{p}"));
    }
    text
}

/// Posts the request of a deploy still awaiting approval again (after a restart), with the
/// approvals so far, and makes the new message the one reactions count on.
pub async fn announce_again(inner: &Arc<Inner>, d: &Deploy) -> anyhow::Result<()> {
    let Some(rule) = rule_for(inner, d) else {
        return Ok(());
    };
    let votes = inner.store.approvals(d.id).await?;
    let mut by: Vec<&str> = votes
        .iter()
        .filter(|v| v.verdict == Verdict::Approve)
        .map(|v| v.user.as_str())
        .collect();
    by.dedup();
    let progress = if by.is_empty() {
        "Still waiting (deckhand restarted).".to_owned()
    } else {
        format!(
            "Still waiting (deckhand restarted); approved so far by {}.",
            by.join(", ")
        )
    };
    if let Some(msg) = inner
        .say_request(
            &d.channel,
            &request_text(inner, d, &rule, Some(&progress)),
            d.id,
        )
        .await
    {
        inner.store.set_status_message(d.id, &msg).await?;
        inner.store.set_approval_message(d.id, &msg).await?;
    }
    Ok(())
}

/// The rule a deploy waits under: the emergency rule for an emergency, else the env's.
pub fn rule_for(inner: &Inner, d: &Deploy) -> Option<ApprovalRule> {
    let env = inner.config.env(&d.env)?;
    if d.emergency.is_some() {
        Some(policy::emergency_rule(env))
    } else {
        policy::normal_rule(env)
    }
}

/// A reaction added or removed on some message.
pub async fn on_reaction(inner: &Arc<Inner>, r: Reaction, added: bool) -> anyhow::Result<()> {
    let user = inner.identity(&r.from);
    let all_approve: Vec<String> = inner
        .config
        .envs
        .iter()
        .flat_map(|(_, p)| p.approvals.approve_with.clone())
        .collect();
    let all_deny: Vec<String> = inner
        .config
        .envs
        .iter()
        .flat_map(|(_, p)| p.approvals.deny_with.clone())
        .collect();
    let is_approve = emoji::is_one_of(&r.emoji, &all_approve);
    let is_deny = emoji::is_one_of(&r.emoji, &all_deny);
    if !is_approve && !is_deny {
        return Ok(()); // 🎉 and friends: not for the bot.
    }
    let found = inner.store.deploy_by_approval_message(&r.message).await?;
    // Message ids are only unique within a channel.
    let Some(d) = found.filter(|d| d.channel == r.channel) else {
        if added {
            inner
                .say_once(
                    &r.channel,
                    (0, &user, "wrong message"),
                    &format!(
                        "{}: reactions on that message approve nothing. React on a deploy's approval request, or say `approve #N`.",
                        user
                    ),
                )
                .await;
        }
        return Ok(());
    };
    let Some(env) = inner.config.env(&d.env) else {
        return Ok(());
    };
    let verdict = if emoji::is_one_of(&r.emoji, &env.approvals.approve_with) {
        Verdict::Approve
    } else if emoji::is_one_of(&r.emoji, &env.approvals.deny_with) {
        Verdict::Deny
    } else {
        return Ok(());
    };
    let via = emoji::canonical(&r.emoji);
    if added {
        vote(
            inner,
            &d,
            &Conversation::channel(&r.channel),
            &user,
            verdict,
            &via,
            r.from_bot,
            None,
        )
        .await
    } else if verdict == Verdict::Approve {
        withdraw(inner, &d, &Conversation::channel(&r.channel), &user, &via).await
    } else {
        Ok(()) // A removed deny: the request already ended when it was given.
    }
}

/// `approve #N` / `deny #N [reason]`
pub async fn command(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    id: DeployId,
    verdict: Verdict,
    reason: Option<&str>,
) -> anyhow::Result<()> {
    let Some(d) = inner.store.deploy(id).await? else {
        inner
            .refuse(channel, &format!("There is no deploy #{id}."))
            .await;
        return Ok(());
    };
    vote(inner, &d, channel, user, verdict, "command", false, reason).await
}

/// One person's approve or deny, through one way.
#[allow(clippy::too_many_arguments)]
async fn vote(
    inner: &Arc<Inner>,
    d: &Deploy,
    channel: &Conversation,
    user: &str,
    verdict: Verdict,
    via: &str,
    from_bot: bool,
    reason: Option<&str>,
) -> anyhow::Result<()> {
    let label = super::run::label(d);
    let word = if verdict == Verdict::Approve {
        "approval"
    } else {
        "denial"
    };
    if d.state != DeployState::AwaitingApproval {
        let state = if d.state.is_final() {
            format!("already ended ({})", d.state)
        } else {
            format!("is already {}", d.state)
        };
        let text = format!("{label} {state}: your {word} changes nothing.");
        return say_or_once(inner, channel, d.id, user, "not awaiting", &text, via).await;
    }
    let Some(rule) = rule_for(inner, d) else {
        return Ok(());
    };
    if let Err(why) = policy::eligible(&inner.config, &rule, &d.requested_by, user, from_bot) {
        let text = match why {
            Ineligible::Bot => format!("{label}: reactions from bots ({user}) never count."),
            Ineligible::Requester => format!(
                "{user}, your own {word} of {label} doesn't count: it needs {}, from someone other than you. (`cancel #{}` withdraws it.)",
                rule.describe(),
                d.id
            ),
            Ineligible::NotInGroup(g) => {
                format!("{user}, only {g} can approve or deny {label}; your {word} is not counted.")
            }
        };
        inner
            .store
            .note(
                Some(d.id),
                user,
                "ignored",
                &format!("{user}'s {word} of #{} ignored: {text}", d.id),
                inner.clock.now(),
            )
            .await?;
        return say_or_once(inner, channel, d.id, user, "ineligible", &text, via).await;
    }
    let text = match verdict {
        Verdict::Approve => format!("{user} approved #{} ({via})", d.id),
        Verdict::Deny => format!(
            "{user} denied #{}{}",
            d.id,
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        ),
    };
    let votes = inner.store.approvals(d.id).await?;
    let already = votes.iter().any(|v| v.user == user && v.verdict == verdict);
    if already && via == "command" {
        let did = if verdict == Verdict::Approve {
            "approved"
        } else {
            "denied"
        };
        inner
            .refuse(channel, &format!("You already {did} {label}."))
            .await;
        return Ok(());
    }
    inner
        .store
        .add_approval(d.id, user, verdict, via, &text, inner.clock.now())
        .await?;
    let outcome = settle(inner, d, user, reason).await?;
    if via == "command" {
        inner.say(channel, &format!("{label}: {outcome}")).await;
    }
    Ok(())
}

/// A removed approval reaction: withdrawn while the request still waits.
async fn withdraw(
    inner: &Arc<Inner>,
    d: &Deploy,
    channel: &Conversation,
    user: &str,
    via: &str,
) -> anyhow::Result<()> {
    let label = super::run::label(d);
    if d.state != DeployState::AwaitingApproval {
        let text = format!(
            "{label} is {}: removing your approval changes nothing.",
            d.state
        );
        return say_or_once(inner, channel, d.id, user, "late withdraw", &text, via).await;
    }
    let text = format!("{user} withdrew their approval of #{} ({via})", d.id);
    if inner
        .store
        .withdraw_approval(d.id, user, via, &text, inner.clock.now())
        .await?
    {
        settle(inner, d, user, None).await?;
    }
    Ok(())
}

/// Looks at the approvals in force and moves the request on: approved (into line), denied,
/// or still waiting (the request message shows who approved so far).
/// Two votes at the same instant may both find the request complete; the first to move it
/// wins, and the other is told it was settled already (its vote stays recorded). `Some` with
/// that answer when this vote came second.
fn settled_by_someone_else(
    moved: Result<Deploy, crate::store::TransitionError>,
) -> anyhow::Result<Option<String>> {
    match moved {
        Ok(_) => Ok(None),
        Err(crate::store::TransitionError::NotAllowed { from, .. }) => {
            Ok(Some(format!("already {from}; your vote is recorded too")))
        }
        Err(e) => Err(e.into()),
    }
}

async fn settle(
    inner: &Arc<Inner>,
    d: &Deploy,
    actor: &str,
    reason: Option<&str>,
) -> anyhow::Result<String> {
    let Some(rule) = rule_for(inner, d) else {
        return Ok("needs no approval".to_owned());
    };
    let votes = inner.store.approvals(d.id).await?;
    let tally = policy::tally(
        &inner.config,
        &rule,
        &d.requested_by,
        votes
            .iter()
            .map(|v| (v.user.as_str(), v.verdict == Verdict::Approve)),
    );
    let msg = d.status_msg.clone();
    let label = super::run::label(d);
    match tally {
        Tally::Denied { by } => {
            let why = format!(
                "denied by {by}{}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            );
            let moved = inner
                .store
                .transition(
                    d.id,
                    DeployState::Denied,
                    actor,
                    Some(&why),
                    inner.clock.now(),
                )
                .await;
            if let Some(already) = settled_by_someone_else(moved)? {
                return Ok(already);
            }
            if let Some(m) = msg {
                inner.edit(&d.channel, &m, &format!("{label}: {why}")).await;
            }
            Ok(why)
        }
        Tally::Approved { by } => {
            let who = by.join(" and ");
            let moved = inner
                .store
                .transition(
                    d.id,
                    DeployState::Approved,
                    actor,
                    Some(&format!("approved by {who}")),
                    inner.clock.now(),
                )
                .await;
            if let Some(already) = settled_by_someone_else(moved)? {
                return Ok(already);
            }
            let (text, start) =
                super::deploy::put_in_line(inner, d, "deckhand", Some(&who)).await?;
            if let Some(m) = msg {
                inner.edit(&d.channel, &m, &text).await;
            }
            if let Some(start) = start {
                start.now(inner);
            }
            Ok(format!("approved by {who}"))
        }
        Tally::Pending { by, need } => {
            let progress = if by.is_empty() {
                "No approvals yet.".to_owned()
            } else {
                format!("Approved so far by {}; {need} more needed.", by.join(", "))
            };
            if let Some(m) = msg {
                let text = request_text(inner, d, &rule, Some(&progress));
                inner.edit_request(&d.channel, &m, &text, d.id).await;
            }
            Ok(progress)
        }
    }
}

/// Expires requests nobody approved in time. Called by the bot's ticker.
pub async fn expire_due(inner: &Arc<Inner>) -> anyhow::Result<()> {
    let now = inner.clock.now();
    for d in inner.store.active().await? {
        if d.state != DeployState::AwaitingApproval {
            continue;
        }
        let Some(rule) = rule_for(inner, &d) else {
            continue;
        };
        let due = d.created_at + chrono::Duration::from_std(rule.expire).unwrap_or_default();
        if now < due {
            continue;
        }
        let why = format!(
            "expired: nobody approved it within {}",
            humantime::format_duration(rule.expire)
        );
        match inner
            .store
            .transition(d.id, DeployState::Expired, "deckhand", Some(&why), now)
            .await
        {
            Ok(_) => {
                if let Some(m) = &d.status_msg {
                    inner
                        .edit(&d.channel, m, &format!("{}: {why}", super::run::label(&d)))
                        .await;
                }
            }
            // Approved or cancelled in the meantime: nothing to expire.
            Err(crate::store::TransitionError::NotAllowed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Refuses a command every time, a reaction once per person and deploy and reason: one
/// explanation, not one per reaction.
async fn say_or_once(
    inner: &Inner,
    channel: &Conversation,
    id: DeployId,
    user: &str,
    key: &str,
    text: &str,
    via: &str,
) -> anyhow::Result<()> {
    if via == "command" {
        inner.refuse(channel, text).await;
    } else {
        inner.say_once(channel, (id, user, key), text).await;
    }
    Ok(())
}
