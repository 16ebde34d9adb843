//! Checks the freeze windows of an env: `[[envs.<env>.freeze]]`.

use toml::Spanned;

use crate::config::check::Checker;
use crate::config::raw::RawFreeze;
use crate::core::freeze::{FreezeKind, FreezeWindow, WindowEnd, parse_crontab};

pub(crate) fn check_freezes(
    c: &mut Checker<'_>,
    raw: Vec<Spanned<RawFreeze>>,
    env_tz: chrono_tz::Tz,
) -> Option<Vec<FreezeWindow>> {
    let mut windows: Vec<FreezeWindow> = Vec::new();
    let mut ok = true;
    for w in raw {
        match check_freeze(c, w, env_tz, &windows) {
            Some(w) => windows.push(w),
            None => ok = false,
        }
    }
    ok.then_some(windows)
}

fn check_freeze(
    c: &mut Checker<'_>,
    raw: Spanned<RawFreeze>,
    env_tz: chrono_tz::Tz,
    earlier: &[FreezeWindow],
) -> Option<FreezeWindow> {
    let span = raw.span();
    let w = raw.into_inner();
    let name = match &w.name {
        None => {
            let d = c.src.at(
                span.clone(),
                "a freeze window needs a `name`, shown when it refuses a deploy, e.g. \
                 name = \"weekend\"",
            );
            c.diags.push(d);
            None
        }
        Some(n) => match c.non_empty(n, "a window name") {
            Some(text) if earlier.iter().any(|e| e.name == text) => {
                c.error(
                    n,
                    format!("there is already a window named `{text}` in this env"),
                );
                None
            }
            other => other,
        },
    };
    let tz = match &w.timezone {
        Some(t) => c.timezone(t),
        None => Some(env_tz),
    };
    let kind = match (&w.start, &w.from) {
        (Some(_), Some(from)) => {
            c.error(
                from,
                "a window is either recurring (`start` with `end` or `duration`) or fixed \
                 (`from` and `until`), not both",
            );
            None
        }
        (Some(start), None) => recurring(c, start, &w, tz?),
        (None, Some(from)) => fixed(c, from, &w, tz?),
        (None, None) => {
            let d = c.src.at(
                span,
                "a freeze window needs `start` (a crontab such as \"0 16 * * FRI\") with `end` \
                 or `duration`, or `from` and `until` (RFC 3339 times)",
            );
            c.diags.push(d);
            None
        }
    };
    Some(FreezeWindow {
        name: name?,
        kind: kind?,
    })
}

fn recurring(
    c: &mut Checker<'_>,
    start: &Spanned<String>,
    w: &RawFreeze,
    tz: chrono_tz::Tz,
) -> Option<FreezeKind> {
    if let Some(until) = &w.until {
        c.error(
            until,
            "`until` goes with `from`; a recurring window ends with `end` or `duration`",
        );
        return None;
    }
    let start_cron = match parse_crontab(start.get_ref()) {
        Ok(cron) => Some(cron),
        Err(e) => {
            c.error(start, e);
            None
        }
    };
    let end = match (&w.end, &w.duration) {
        (Some(_), Some(d)) => {
            c.error(d, "give either `end` (a crontab) or `duration`, not both");
            None
        }
        (Some(end), None) => match parse_crontab(end.get_ref()) {
            Ok(cron) => Some(WindowEnd::Cron(cron, end.get_ref().trim().to_owned())),
            Err(e) => {
                c.error(end, e);
                None
            }
        },
        (None, Some(d)) => c
            .duration(d, "a window's duration")
            .map(WindowEnd::Duration),
        (None, None) => {
            c.error(
                start,
                "this window has a `start` but no `end`; add `end` (a crontab such as \
                 \"0 8 * * MON\") or `duration` (such as \"2h\")",
            );
            None
        }
    };
    Some(FreezeKind::Recurring {
        start: start_cron?,
        end: end?,
        tz,
        start_text: start.get_ref().trim().to_owned(),
    })
}

fn fixed(
    c: &mut Checker<'_>,
    from: &Spanned<toml::Value>,
    w: &RawFreeze,
    tz: chrono_tz::Tz,
) -> Option<FreezeKind> {
    for (key, v) in [("end", &w.end), ("duration", &w.duration)] {
        if let Some(v) = v {
            c.error(
                v,
                format!("`{key}` goes with `start`; a fixed window ends at `until`"),
            );
            return None;
        }
    }
    let Some(until_raw) = &w.until else {
        c.error(
            from,
            "this window has `from` but no `until`; add until = <date and time>",
        );
        return None;
    };
    let from = c.instant(from, tz);
    let until = c.instant(until_raw, tz);
    let (from, until) = (from?, until?);
    if from >= until {
        c.error(until_raw, "`until` must be later than `from`");
        return None;
    }
    Some(FreezeKind::Fixed { from, until })
}
