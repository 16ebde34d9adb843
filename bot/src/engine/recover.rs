//! Start-up after a crash: deploys the last bot left running are marked interrupted, and each
//! keeps its target until deckhand made sure nothing of it still runs on its hosts
//! (docs/reliability.md).
//!
//! Invariant: **the hold of an interrupted deploy is released only after a sweep of every host
//! it ran a step on found nothing left of it (or killed what it found).** A host that cannot be
//! checked hands the hold to a lock owned by deckhand, which a lead releases with `unlock`.

use super::Inner;
use super::run::label;
use crate::config::Host;
use crate::core::lifecycle::DeployState;
use crate::core::policy;
use crate::core::queue::Slot;
use crate::exec::{Place, Swept, step_tag};
use crate::store::Deploy;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;

const ACTOR: &str = "deckhand";

/// On start: in-flight deploys of the last run are marked interrupted, their targets held
/// while their hosts are swept (in the background; requests for those targets queue behind),
/// and deploys that were approved or queued are put back in line behind them, oldest first.
pub async fn recover(inner: &Arc<Inner>) -> anyhow::Result<()> {
    let now = inner.clock.now();
    // Also ends the running steps of every unreleased interrupted deploy (a forced stop's too).
    inner
        .store
        .interrupt_running("deckhand stopped while it ran", now)
        .await?;

    // One sweep per target, holding it like a running deploy does.
    let mut held: BTreeMap<(String, String), Vec<Deploy>> = BTreeMap::new();
    for d in inner.store.unreleased().await? {
        held.entry((d.app.to_string(), d.env.to_string()))
            .or_default()
            .push(d);
    }
    for (target, deploys) in held {
        let first = deploys[0].id;
        let slot = inner
            .queues
            .lock()
            .expect("queues lock")
            .enqueue(target.clone(), first);
        debug_assert_eq!(slot, Slot::StartNow, "nothing is queued before recovery");
        for d in &deploys {
            let text = format!(
                "{} was interrupted: deckhand stopped while it ran. Before anything else deploys to {} in {}, deckhand makes sure nothing of it still runs on its hosts.",
                label(d),
                d.app,
                d.env
            );
            inner.say(&d.channel, &text).await;
        }
        let inner = inner.clone();
        tokio::spawn(async move {
            for d in &deploys {
                if let Err(err) = settle(&inner, d).await {
                    tracing::error!(
                        "checking the hosts of interrupted deploy #{}: {err:#}",
                        d.id
                    );
                }
                super::source::interrupted(&inner, d).await;
            }
            let next = inner
                .queues
                .lock()
                .expect("queues lock")
                .finish(&target, first);
            if let Some(next) = next {
                let _ = inner.start_tx.send(next);
            }
            inner.changed.notify_waiters();
        });
    }

    for d in inner.store.active().await? {
        if d.state == DeployState::AwaitingApproval {
            // Asked again in a fresh message: reactions on the old one may no longer reach
            // us (the console numbers its messages anew each run).
            super::approval::announce_again(inner, &d).await?;
            continue;
        }
        let d = match d.state {
            DeployState::Approved => {
                inner
                    .store
                    .transition(d.id, DeployState::Queued, ACTOR, None, now)
                    .await?
            }
            DeployState::Queued => d,
            _ => continue,
        };
        let slot = inner
            .queues
            .lock()
            .expect("queues lock")
            .enqueue((d.app.to_string(), d.env.to_string()), d.id);
        if slot == Slot::StartNow {
            let _ = inner.start_tx.send(d.id);
        }
    }
    Ok(())
}

/// What a sweep of one host came to.
enum HostCheck {
    Clear(Swept),
    Unchecked(String),
}

/// Sweeps the hosts interrupted deploy `d` ran steps on, then releases its hold (or hands it to
/// a lock when a host could not be checked), and says what it found and did.
async fn settle(inner: &Arc<Inner>, d: &Deploy) -> anyhow::Result<()> {
    let mut names: Vec<String> = Vec::new();
    for step in inner.store.steps(d.id).await? {
        if !names.contains(&step.host) {
            names.push(step.host);
        }
    }
    let checks = sweep_hosts(inner, d, &names).await;
    let label = label(d);
    let target = format!("{} in {}", d.app, d.env);
    let now = inner.clock.now();

    let unchecked: Vec<String> = checks
        .iter()
        .filter_map(|(h, c)| match c {
            HostCheck::Unchecked(why) => Some(format!("{h} ({why})")),
            HostCheck::Clear(_) => None,
        })
        .collect();
    if !unchecked.is_empty() {
        let approvers = inner
            .config
            .env(&d.env)
            .map(|p| policy::approvers_name(&inner.config, p))
            .unwrap_or_else(|| "an approver".to_owned());
        let reason = format!(
            "#{} was interrupted and {} could not be checked",
            d.id,
            plural_hosts(&unchecked)
        );
        let lock_text = format!("deckhand locked {target}: {reason}");
        let app = inner.config.app(&d.app).map(|r| r.app.clone());
        let locked = inner
            .store
            .take_lock(app.as_ref(), &d.env, ACTOR, Some(&reason), &lock_text, now)
            .await?;
        let held_by = match &locked {
            Ok(_) => "deckhand".to_owned(),
            Err(other) => other.owner.clone(),
        };
        let text = format!(
            "{label}: could not make sure nothing of it still runs on {}, so {target} stays locked (by {held_by}). Once you know those hosts are clear, someone in {approvers} releases it with `unlock {} in {}`.",
            unchecked.join("; "),
            d.app,
            d.env
        );
        inner.store.release(d.id, &text, now).await?;
        inner.say(&d.channel, &text).await;
        return Ok(());
    }

    let killed: Vec<String> = checks
        .iter()
        .filter_map(|(h, c)| match c {
            HostCheck::Clear(s) if s.killed > 0 => Some(format!(
                "{h} ({} process{})",
                s.killed,
                if s.killed == 1 { "" } else { "es" }
            )),
            _ => None,
        })
        .collect();
    let found = if names.is_empty() {
        "none of its steps had started on a host".to_owned()
    } else if killed.is_empty() {
        format!("nothing of it was still running on {}", names.join(", "))
    } else {
        format!(
            "stopped what was still running of it on {}",
            killed.join(", ")
        )
    };
    let text = format!(
        "{label}: {found}; its hold on {target} is released. Its hosts may be part-way through: check them with `live {} in {} --check`, then deploy again or `rollback {} in {}`.",
        d.app, d.env, d.app, d.env
    );
    inner.store.release(d.id, &text, now).await?;
    inner.say(&d.channel, &text).await;
    Ok(())
}

/// Sweeps `names` (hosts of `d`'s recipe env) in parallel, connecting to those that need it
/// and closing the connections after.
async fn sweep_hosts(inner: &Arc<Inner>, d: &Deploy, names: &[String]) -> Vec<(String, HostCheck)> {
    let renv = inner.config.app(&d.app).and_then(|r| r.env(&d.env));
    let mut found: Vec<(&String, Option<&Host>)> = Vec::new();
    for n in names {
        let host = renv.and_then(|e| e.hosts.iter().find(|h| h.name.as_str() == n));
        found.push((n, host));
    }
    let known: Vec<&Host> = found.iter().filter_map(|(_, h)| *h).collect();
    let reached = match renv {
        Some(renv) => super::hosts::reach(inner, renv, &known).await,
        None => Vec::new(),
    };
    let tag = step_tag(&inner.log_tag, d.id);
    let checks = join_all(found.iter().map(|(_, host)| {
        let reached = &reached;
        let known = &known;
        let tag = &tag;
        async move {
            let Some(host) = host else {
                return HostCheck::Unchecked("it is no longer in the recipe".to_owned());
            };
            let place: Option<&(Place, Result<(), crate::exec::ExecError>)> = known
                .iter()
                .position(|h| h.name == host.name)
                .and_then(|i| reached.get(i));
            match place {
                Some((place, Ok(()))) => {
                    match inner.exec.sweep(host.name.as_str(), place, tag).await {
                        Ok(s) => HostCheck::Clear(s),
                        Err(e) => HostCheck::Unchecked(format!("{:#}", anyhow::Error::from(e))),
                    }
                }
                Some((_, Err(e))) => HostCheck::Unchecked(e.to_string()),
                None => HostCheck::Unchecked("it could not be reached".to_owned()),
            }
        }
    }))
    .await;
    super::hosts::close_reached(inner, &reached).await;
    names.iter().cloned().zip(checks).collect()
}

fn plural_hosts(hosts: &[String]) -> String {
    if hosts.len() == 1 {
        "1 host".to_owned()
    } else {
        format!("{} hosts", hosts.len())
    }
}
