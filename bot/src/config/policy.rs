//! Checks the approval rules of an env: `[envs.<env>.approvals]` and `[envs.<env>.emergency]`.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use crate::config::check::Checker;
use crate::config::config_file::group_ref;
use crate::config::raw::{RawApprovals, RawEmergency};
use crate::core::model::{Approvals, Emergency};
use crate::core::names::EnvName;

pub(crate) fn check_approvals(
    c: &mut Checker<'_>,
    raw: Option<Spanned<RawApprovals>>,
    groups: &BTreeMap<String, Vec<String>>,
) -> Option<Approvals> {
    let Some(raw) = raw else {
        return Some(Approvals {
            required: 0,
            group: None,
            self_approve: false,
            expire: Duration::from_secs(30 * 60),
            approve_with: vec!["white_check_mark".into(), "+1".into()],
            deny_with: vec!["x".into(), "-1".into()],
        });
    };
    let span = raw.span();
    let raw = raw.into_inner();
    let mut ok = true;
    let required = c.count_or(raw.required.as_ref(), "approvals.required", 0, 0);
    let group = match &raw.group {
        Some(g) => {
            let g = group_ref(c, g, groups);
            ok &= g.is_some();
            g
        }
        None => None,
    };
    if let Some(n @ 1..) = required {
        let at = raw.required.as_ref().map_or(span.clone(), Spanned::span);
        match &group {
            None if raw.group.is_none() => {
                let d = c.src.at(
                    at,
                    format!("required = {n} needs a `group` of approvers, e.g. group = \"leads\""),
                );
                c.diags.push(d);
                ok = false;
            }
            Some(g) if members(groups, g) < n as usize => {
                let d = c.src.at(
                    at,
                    format!(
                        "required = {n} but group `{g}` has only {}; no deploy could ever be \
                         approved",
                        plural(members(groups, g), "member", "members")
                    ),
                );
                c.diags.push(d);
                ok = false;
            }
            _ => {}
        }
    }
    let expire = c.duration_or(
        raw.expire.as_ref(),
        "approvals.expire",
        Duration::from_secs(30 * 60),
    );
    let approve_with = reactions(c, raw.approve_with.as_ref(), &["white_check_mark", "+1"]);
    let deny_with = reactions(c, raw.deny_with.as_ref(), &["x", "-1"]);
    if let (Some(yes), Some(no), Some(at)) = (&approve_with, &deny_with, &raw.deny_with)
        && let Some(both) = yes.iter().find(|r| no.contains(r))
    {
        c.error(
            at,
            format!("the reaction `{both}` is in both approve_with and deny_with"),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(Approvals {
        required: required?,
        group,
        self_approve: raw.self_approve.unwrap_or(false),
        expire: expire?,
        approve_with: approve_with?,
        deny_with: deny_with?,
    })
}

/// A list of reaction names; `:+1:` is accepted as `+1`.
fn reactions(
    c: &mut Checker<'_>,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
    default: &[&str],
) -> Option<Vec<String>> {
    let Some(raw) = raw else {
        return Some(default.iter().map(|s| (*s).to_owned()).collect());
    };
    if raw.get_ref().is_empty() {
        c.error(
            raw,
            "the list of reactions is empty; name at least one, e.g. \"+1\"",
        );
        return None;
    }
    let mut out = Vec::new();
    for r in raw.get_ref() {
        let name = r.get_ref().trim().trim_matches(':');
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            c.error(
                r,
                "a reaction is an emoji name such as \"white_check_mark\" or \"+1\"",
            );
            return None;
        }
        out.push(name.to_owned());
    }
    Some(out)
}

pub(crate) fn check_emergency(
    c: &mut Checker<'_>,
    env: &EnvName,
    env_span: std::ops::Range<usize>,
    raw: Option<Spanned<RawEmergency>>,
    approvers: Option<String>,
    groups: &BTreeMap<String, Vec<String>>,
) -> Option<Emergency> {
    let (required_raw, group_raw, span) = match raw {
        Some(r) => {
            let span = r.span();
            let r = r.into_inner();
            (r.required, r.group, span)
        }
        None => (None, None, env_span),
    };
    let required = c.count_or(required_raw.as_ref(), "emergency.required", 1, 2)?;
    let group = match &group_raw {
        Some(g) => Some(group_ref(c, g, groups)?),
        None => approvers,
    };
    if let Some(g) = &group
        && members(groups, g) < required as usize
    {
        let at = required_raw.as_ref().map_or(span, Spanned::span);
        let why = if required_raw.is_none() {
            format!(
                "; set [envs.{env}.emergency] required to at most {}",
                members(groups, g)
            )
        } else {
            String::new()
        };
        let d = c.src.at(
            at,
            format!(
                "an emergency deploy needs {required} approvals but group `{g}` has only {}{why}",
                plural(members(groups, g), "member", "members")
            ),
        );
        c.diags.push(d);
        return None;
    }
    Some(Emergency { required, group })
}

fn members(groups: &BTreeMap<String, Vec<String>>, g: &str) -> usize {
    groups.get(g).map_or(0, Vec::len)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}
