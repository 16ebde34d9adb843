//! Reaching a deploy's hosts and looking at them: connections opened all at once (and given
//! back), the version probe, the release check, health checks.

use super::Inner;
use super::progress::StatusLine;
use super::run::{Ctx, job};
use crate::config::{HealthCheck, Host, RecipeEnv};
use crate::core::layout;
use crate::exec::{Job, Place};
use crate::store::Deploy;
use futures::future::join_all;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::mpsc;

/// A version probe is a quick read; it must not hold a deploy for long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the connections of every host of a deploy at once (adding those opened to
/// `opened`); `Err` says which hosts could not be reached, and why.
pub(super) async fn reach_all(
    inner: &Inner,
    renv: &RecipeEnv,
    hosts: &[&Host],
    status: &StatusLine,
    opened: &mut Vec<Place>,
) -> Result<(), String> {
    if hosts
        .iter()
        .all(|h| h.address == crate::config::HostAddress::Local)
    {
        return Ok(());
    }
    status.set("connecting to the hosts").await;
    let mut failed = Vec::new();
    for (place, result) in reach(inner, renv, hosts).await {
        match result {
            Ok(()) => opened.push(place),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Opens what `hosts` of `renv` need, all at once: each host's place with how that went.
/// Whatever was reached must be given back with `Executor::close`.
pub(super) async fn reach(
    inner: &Inner,
    renv: &RecipeEnv,
    hosts: &[&Host],
) -> Vec<(Place, Result<(), crate::exec::ExecError>)> {
    let places: Vec<Place> = hosts.iter().map(|h| Place::of(renv, h)).collect();
    let named: Vec<(&str, &Place)> = hosts
        .iter()
        .zip(&places)
        .map(|(h, p)| (h.name.as_str(), p))
        .collect();
    let results = inner.exec.reach(&named).await;
    places.into_iter().zip(results).collect()
}

/// Gives back the connections [`reach`] opened (those it reached).
pub(super) async fn close_reached(
    inner: &Inner,
    reached: &[(Place, Result<(), crate::exec::ExecError>)],
) {
    let opened: Vec<&Place> = reached
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(p, _)| p)
        .collect();
    inner.exec.close(&opened).await;
}

/// Asks every host what it runs now (the recipe's version probe), in parallel.
pub(super) async fn probe_all(ctx: &Ctx<'_>, hosts: &[&Host]) -> HashMap<String, String> {
    let Some(probe) = &ctx.recipe.version_probe else {
        return HashMap::new();
    };
    let found = join_all(hosts.iter().map(|h| async move {
        (
            h.name.to_string(),
            probe_host(ctx.inner, ctx.deploy, &Place::of(ctx.renv, h), h, probe).await,
        )
    }))
    .await;
    found
        .into_iter()
        .filter_map(|(h, v)| v.map(|v| (h, v)))
        .collect()
}

/// Under the release layout, a `rollback` deploy asks each host whether it still holds the
/// release, complete and not marked bad: those hosts only switch `current` back to it.
pub(super) async fn releases_present(ctx: &Ctx<'_>, hosts: &[&Host]) -> HashSet<String> {
    let found = join_all(hosts.iter().map(|h| async move {
        let job = Job {
            look_only: true,
            ..job(ctx, h, layout::HAS_RELEASE, PROBE_TIMEOUT, None)
        };
        let answer = look(ctx.inner, &job).await;
        (
            h.name.to_string(),
            answer.as_deref() == Some(layout::RELEASE_COMPLETE),
        )
    }))
    .await;
    found
        .into_iter()
        .filter_map(|(h, complete)| complete.then_some(h))
        .collect()
}

/// Runs a look-only job; the first non-empty line it printed on stdout, if it succeeded.
async fn look(inner: &Inner, job: &Job) -> Option<String> {
    let (tx, mut rx) = mpsc::channel(64);
    let (result, first) = tokio::join!(inner.exec.run(job, tx), async {
        let mut first = None;
        while let Some(line) = rx.recv().await {
            if first.is_none()
                && line.stream == crate::exec::Stream::Stdout
                && !line.text.trim().is_empty()
            {
                first = Some(line.text.trim().to_owned());
            }
        }
        first
    });
    match result {
        Ok(exit) if exit.success() => first,
        _ => None,
    }
}

/// Runs the version probe on one host; its first non-empty line of output, if any.
pub async fn probe_host(
    inner: &Inner,
    d: &Deploy,
    place: &Place,
    host: &Host,
    probe: &str,
) -> Option<String> {
    probe_at(inner, d.app.as_str(), d.env.as_str(), place, host, probe).await
}

/// The version probe for an app/env/host, outside any deploy (`live --check`).
pub async fn probe_at(
    inner: &Inner,
    app: &str,
    env: &str,
    place: &Place,
    host: &Host,
    probe: &str,
) -> Option<String> {
    let job = Job {
        app: app.to_owned(),
        env: env.to_owned(),
        host: host.name.to_string(),
        place: place.clone(),
        script: probe.to_owned(),
        vars: vec![
            ("DECKHAND_APP".to_owned(), app.to_owned()),
            ("DECKHAND_ENV".to_owned(), env.to_owned()),
            ("DECKHAND_HOST".to_owned(), host.name.to_string()),
        ],
        timeout: PROBE_TIMEOUT,
        look_only: true,
        tag: None,
        halt: inner.halt.clone(),
    };
    look(inner, &job).await
}

/// Health check on one host, tried up to `retries` times.
pub(super) async fn health(ctx: &Ctx<'_>, host: &Host, check: &HealthCheck) -> Result<(), String> {
    let (tries, interval) = match check {
        HealthCheck::Http {
            retries, interval, ..
        }
        | HealthCheck::Command {
            retries, interval, ..
        } => ((*retries).max(1), *interval),
    };
    let mut last = String::new();
    for attempt in 1..=tries {
        let result = match check {
            HealthCheck::Http {
                url,
                expect_status,
                timeout,
                ..
            } => {
                let url = health_url(url, host);
                crate::exec::health::http_check(&url, *expect_status, *timeout).await
            }
            HealthCheck::Command { run, timeout, .. } => {
                let job = job(ctx, host, run, *timeout, None);
                match ctx.inner.exec.run(&job, ctx.pump.sender()).await {
                    Ok(exit) if exit.success() => Ok(()),
                    Ok(exit) => Err(format!("the check ended with {exit}")),
                    Err(e) => Err(format!("{:#}", anyhow::Error::from(e))),
                }
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        if attempt < tries {
            tokio::time::sleep(interval).await;
        }
    }
    ctx.pump.flush().await;
    Err(format!(
        "{last} (tried {tries} time{})",
        if tries == 1 { "" } else { "s" }
    ))
}

/// A health check's URL for one host: `{host}` is the host's name in the recipe, `{address}`
/// the network address deckhand reaches it at (an SSH host's host part; `127.0.0.1` for a
/// local host), so a host named `api-1` at `deploy@10.0.0.5` can be checked at its address.
fn health_url(url: &str, host: &Host) -> String {
    let address = match &host.address {
        crate::config::HostAddress::Ssh { host, .. } => host.as_str(),
        crate::config::HostAddress::Local => "127.0.0.1",
    };
    url.replace("{host}", host.name.as_str())
        .replace("{address}", address)
}
