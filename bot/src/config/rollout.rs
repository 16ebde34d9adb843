//! Checks where a recipe deploys in one env: `[envs.<env>]` with its hosts and rollout
//! strategy.

use toml::Spanned;

use crate::config::check::Checker;
use crate::config::diagnostic::did_you_mean;
use crate::config::raw::{RawHost, RawRecipeEnv};
use crate::core::names::HostName;
use crate::core::recipe::{Host, HostAddress, RecipeEnv, Strategy};

pub(crate) fn check_env(c: &mut Checker<'_>, raw: Spanned<RawRecipeEnv>) -> Option<RecipeEnv> {
    let span = raw.span();
    let raw = raw.into_inner();
    let hosts = match &raw.hosts {
        None => {
            let d = c.src.at(
                span.clone(),
                "missing `hosts`: list where this env runs, e.g. hosts = [\"local\"] or \
                 hosts = [\"deploy@web1.example.com\"]",
            );
            c.diags.push(d);
            None
        }
        Some(list) if list.get_ref().is_empty() => {
            c.error(list, "`hosts` is empty: list at least one host");
            None
        }
        Some(list) => check_hosts(c, list.get_ref()),
    };
    let strategy = check_strategy(c, &raw, span, hosts.as_ref().map_or(0, Vec::len));
    let deploy_to = match &raw.deploy_to {
        None => Some(None),
        Some(d) => {
            let text = c.non_empty(d, "deploy_to")?;
            if text.chars().any(char::is_control) {
                c.error(d, "deploy_to must be a plain directory path");
                None
            } else {
                Some(Some(text))
            }
        }
    };
    Some(RecipeEnv {
        hosts: hosts?,
        strategy: strategy?,
        deploy_to: deploy_to?,
    })
}

fn check_hosts(c: &mut Checker<'_>, raw: &[Spanned<RawHost>]) -> Option<Vec<Host>> {
    let mut hosts: Vec<Host> = Vec::new();
    let mut ok = true;
    for h in raw {
        let Some(host) = check_host(c, h) else {
            ok = false;
            continue;
        };
        if hosts.iter().any(|o| o.name == host.name) {
            let hint = if host.address == HostAddress::Local {
                "; give local hosts their own names: { name = \"api-1\", address = \"local\" }"
            } else {
                ""
            };
            c.error(
                h,
                format!(
                    "there is already a host named `{}` in this env{hint}",
                    host.name
                ),
            );
            ok = false;
            continue;
        }
        hosts.push(host);
    }
    if !ok {
        return None;
    }
    // A filter such as `prod/eu` must mean one thing. (Every host parsed, so `raw` and `hosts`
    // line up.)
    for (h, host) in raw.iter().zip(&hosts) {
        if let Some(g) = host
            .groups
            .iter()
            .find(|g| hosts.iter().any(|o| &o.name == *g))
        {
            c.error(
                h,
                format!("`{g}` is both a host group and a host name; pick another group name"),
            );
            ok = false;
        }
    }
    ok.then_some(hosts)
}

fn check_host(c: &mut Checker<'_>, raw: &Spanned<RawHost>) -> Option<Host> {
    let (address_text, name_raw, groups_raw) = match raw.get_ref() {
        RawHost::Address(a) => (a.trim().to_owned(), None, None),
        RawHost::Table(t) => (
            t.address.get_ref().trim().to_owned(),
            t.name.as_ref(),
            t.groups.as_ref(),
        ),
    };
    let address = match HostAddress::parse(&address_text) {
        Ok(a) => a,
        Err(e) => {
            match raw.get_ref() {
                RawHost::Table(t) => c.error(&t.address, e),
                RawHost::Address(_) => c.error(raw, e),
            }
            return None;
        }
    };
    let name = match name_raw {
        Some(n) => match HostName::parse(n.get_ref()) {
            Ok(n) => n,
            Err(e) => {
                c.error(n, e.to_string());
                return None;
            }
        },
        None => {
            let part = match &address {
                HostAddress::Local => "local",
                HostAddress::Ssh { host, .. } => host.as_str(),
            };
            match HostName::parse(part) {
                Ok(n) => n,
                Err(_) => {
                    c.error(
                        raw,
                        format!(
                            "`{part}` cannot serve as the host's name; use the table form \
                             {{ name = \"web-1\", address = \"{address_text}\" }}"
                        ),
                    );
                    return None;
                }
            }
        }
    };
    let mut groups: Vec<HostName> = Vec::new();
    for g in groups_raw.into_iter().flatten() {
        match HostName::parse(g.get_ref()) {
            Ok(n) if !groups.contains(&n) => groups.push(n),
            Ok(n) => {
                c.error(g, format!("the group `{n}` is listed twice"));
                return None;
            }
            Err(e) => {
                c.error(g, e.to_string().replace("host name", "host group name"));
                return None;
            }
        }
    }
    Some(Host {
        name,
        address,
        groups,
    })
}

const STRATEGIES: [&str; 3] = ["parallel", "rolling", "canary"];

fn check_strategy(
    c: &mut Checker<'_>,
    raw: &RawRecipeEnv,
    env_span: std::ops::Range<usize>,
    host_count: usize,
) -> Option<Strategy> {
    let kind = match &raw.strategy {
        None => "parallel".to_owned(),
        Some(s) => {
            let text = s.get_ref().trim().to_lowercase();
            if !STRATEGIES.contains(&text.as_str()) {
                let hint = did_you_mean(&text, STRATEGIES);
                c.error(
                    s,
                    format!(
                        "unknown strategy `{}`; expected \"parallel\", \"rolling\" or \"canary\"{hint}",
                        s.get_ref()
                    ),
                );
                return None;
            }
            text
        }
    };
    let batch = c.count_or(raw.batch.as_ref(), "batch", 1, 1);
    let canary = c.count_or(raw.canary.as_ref(), "canary", 1, 1);
    match kind.as_str() {
        "parallel" => {
            for (key, v) in [("batch", &raw.batch), ("canary", &raw.canary)] {
                if let Some(v) = v {
                    c.error(
                        v,
                        format!(
                            "`{key}` does not apply to the parallel strategy (all hosts at once); \
                             set strategy = \"rolling\" or \"canary\", or remove it"
                        ),
                    );
                    return None;
                }
            }
            Some(Strategy::Parallel)
        }
        "rolling" => {
            if let Some(v) = &raw.canary {
                c.error(
                    v,
                    "`canary` applies to strategy = \"canary\"; a rolling deploy only takes `batch`",
                );
                return None;
            }
            Some(Strategy::Rolling { batch: batch? })
        }
        _ => {
            let canary = canary?;
            if host_count > 0 && canary as usize >= host_count {
                let msg = format!(
                    "a canary of {canary} leaves no other host in this env ({}); use fewer \
                     canary hosts or strategy = \"rolling\"",
                    plural_hosts(host_count)
                );
                match &raw.canary {
                    Some(v) => c.error(v, msg),
                    None => {
                        let d = c.src.at(env_span, msg);
                        c.diags.push(d);
                    }
                }
                return None;
            }
            // Without `batch`, the rest goes at once after the canary.
            let rest = host_count.saturating_sub(canary as usize).max(1) as u32;
            let batch = if raw.batch.is_some() { batch? } else { rest };
            Some(Strategy::Canary { canary, batch })
        }
    }
}

fn plural_hosts(n: usize) -> String {
    if n == 1 {
        "1 host".into()
    } else {
        format!("{n} hosts")
    }
}
