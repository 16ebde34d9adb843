//! The policy again when a deploy's turn comes: a freeze may have begun or a lock been taken
//! since it was requested. A deploy that must wait holds its target, parked, and says why.

use super::Inner;
use super::dispatch::CancelFlag;
use super::progress::StatusLine;
use super::run::ACTOR;
use crate::core::policy;
use crate::store::Deploy;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What the policy says when a deploy's turn comes.
pub(super) enum Gate {
    Go,
    Refused(String),
    Cancelled,
    /// deckhand is stopping: the deploy stays queued for the next start.
    Stopping,
}

/// Holds the deploy at the head of its queue while a freeze or a lock is in the way, saying
/// why (once per reason) and trying again every second; returns when it may go, must not, or
/// was cancelled.
pub(super) async fn gate(
    inner: &Arc<Inner>,
    d: &Deploy,
    status: &StatusLine,
    cancel: &CancelFlag,
) -> anyhow::Result<Gate> {
    let mut said: Option<String> = None;
    let unpark = || {
        inner.parked.lock().expect("parked lock").remove(&d.id);
    };
    loop {
        if cancel.asked() {
            unpark();
            return Ok(Gate::Cancelled);
        }
        if inner.stopping.load(Ordering::SeqCst) {
            unpark();
            return Ok(Gate::Stopping);
        }
        let Some(env_policy) = inner.config.env(&d.env) else {
            unpark();
            return Ok(Gate::Refused("the env is no longer configured".to_owned()));
        };
        let now = inner.clock.now();
        let (locks, freezes) = inner.policy_state(now).await?;
        let emergency_approvers = match &d.emergency {
            Some(_) => {
                let rule = policy::emergency_rule(env_policy);
                let votes = inner.store.approvals(d.id).await?;
                match policy::tally(
                    &inner.config,
                    &rule,
                    &d.requested_by,
                    votes
                        .iter()
                        .map(|v| (v.user.as_str(), v.verdict == crate::store::Verdict::Approve)),
                ) {
                    policy::Tally::Approved { by } | policy::Tally::Pending { by, .. } => {
                        by.len() as u32
                    }
                    policy::Tally::Denied { .. } => 0,
                }
            }
            None => 0,
        };
        let req = policy::Request {
            app: &d.app,
            env: &d.env,
            user: &d.requested_by,
            emergency: d.emergency.as_deref(),
            channel: &d.channel,
        };
        let facts = policy::Facts {
            now,
            locks: &locks,
            freezes: &freezes,
        };
        match policy::at_start(&inner.config, env_policy, req, emergency_approvers, facts) {
            policy::AtStart::Go => {
                unpark();
                return Ok(Gate::Go);
            }
            policy::AtStart::Refused(r) => {
                unpark();
                return Ok(Gate::Refused(r.0));
            }
            policy::AtStart::Wait(why) => {
                let fresh = inner.parked.lock().expect("parked lock").insert(d.id);
                if fresh {
                    inner.changed.notify_waiters();
                }
                if said.as_deref() != Some(why.as_str()) {
                    status.set(&why).await;
                    inner
                        .store
                        .note(
                            Some(d.id),
                            ACTOR,
                            "held",
                            &format!("#{} held at start: {why}", d.id),
                            now,
                        )
                        .await?;
                    said = Some(why);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
