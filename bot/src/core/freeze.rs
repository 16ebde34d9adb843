//! Freeze windows: when deploys to an env are refused (docs/policy.md).
//!
//! Recurring windows use `croner`, not `cron`: `cron` wants 6–7 fields with Quartz weekdays
//! (`1-5` = Sun–Thu), so a user's ordinary crontab line would mean something else there
//! (docs/policy.md). Crontab fields are read as local times in the window's zone, so across
//! a DST change a start/end window opens and closes at its local times, while a `duration`
//! window lasts exactly its duration in real time.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A named window of one env.
#[derive(Debug, Clone)]
pub struct FreezeWindow {
    pub name: String,
    pub kind: FreezeKind,
}

// A `Cron` is a few hundred bytes; boxing it would only save memory in a list of a handful of
// windows, at the cost of the plain shape the rest of the bot matches on.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum FreezeKind {
    /// Starts at every match of `start` (a 5-field crontab in `tz`) and lasts until `end`.
    Recurring {
        start: Cron,
        end: WindowEnd,
        tz: chrono_tz::Tz,
        /// The crontab as written, for messages.
        start_text: String,
    },
    /// From `from` (inclusive) until `until` (exclusive).
    Fixed {
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum WindowEnd {
    /// The first match of this crontab (with its text as written) after the start.
    Cron(Cron, String),
    /// A fixed length of real time.
    Duration(Duration),
}

/// How many back-to-back occurrences of a `duration` window are merged when one starts before
/// the previous one ends: enough for any real schedule, and a bound on the work.
const MAX_CHAINED: usize = 1000;

impl FreezeWindow {
    /// `Some(end)` when `now` is inside the window: the instant it ends (exclusive). A window is
    /// active from its start (inclusive) to its end (exclusive).
    pub fn active_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            FreezeKind::Fixed { from, until } => (*from <= now && now < *until).then_some(*until),
            FreezeKind::Recurring { start, end, tz, .. } => {
                let local_now = now.with_timezone(tz);
                let started = start.find_previous_occurrence(&local_now, true).ok()?;
                match end {
                    WindowEnd::Duration(length) => {
                        let length = TimeDelta::from_std(*length).ok()?;
                        // The latest start has the latest end, so it alone decides whether the
                        // window is active (docs/policy.md: previous_start + duration > now).
                        let ends = started.with_timezone(&Utc) + length;
                        if ends <= now {
                            return None;
                        }
                        Some(chain_from(start, started, length, ends))
                    }
                    WindowEnd::Cron(end, _) => {
                        // Active when the last start is more recent than the last end; an end
                        // at the same instant as a start wins, so such a window is empty.
                        let ended = end.find_previous_occurrence(&local_now, true).ok();
                        if ended.is_some_and(|e| e >= started) {
                            return None;
                        }
                        let ends = end.find_next_occurrence(&local_now, false).ok()?;
                        Some(ends.with_timezone(&Utc))
                    }
                }
            }
        }
    }

    /// The first start of this window strictly after `after`; `None` when it never starts
    /// again (a fixed window in the past).
    pub fn next_start(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            FreezeKind::Fixed { from, .. } => (*from > after).then_some(*from),
            FreezeKind::Recurring { start, tz, .. } => start
                .find_next_occurrence(&after.with_timezone(tz), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// A start that comes before the running end extends the freeze (a window every hour for 90
/// minutes never opens): returns when deploys really open again.
fn chain_from(
    start: &Cron,
    mut from: DateTime<chrono_tz::Tz>,
    length: TimeDelta,
    mut ends: DateTime<Utc>,
) -> DateTime<Utc> {
    for _ in 0..MAX_CHAINED {
        match start.find_next_occurrence(&from, false) {
            Ok(next) if next.with_timezone(&Utc) < ends => {
                ends = ends.max(next.with_timezone(&Utc) + length);
                from = next;
            }
            _ => break,
        }
    }
    ends
}

/// Parses a standard 5-field crontab (`minute hour day-of-month month day-of-week`, weekdays
/// `0`/`7` = Sunday, `1-5` = Mon–Fri, names like `FRI` allowed). The error is a sentence for the
/// person who wrote it.
pub fn parse_crontab(text: &str) -> Result<Cron, String> {
    let trimmed = text.trim();
    let fields = trimmed.split_whitespace().count();
    let is_nickname = trimmed.starts_with('@') && fields == 1;
    if !is_nickname && fields != 5 {
        let extra = if fields == 6 || fields == 7 {
            "; seconds (and years) are not supported, a freeze window has minute precision"
        } else {
            ""
        };
        return Err(format!(
            "`{trimmed}` has {fields} fields; expected a 5-field crontab `minute hour \
             day-of-month month day-of-week`, e.g. `0 16 * * FRI`{extra}"
        ));
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    parser.parse(trimmed).map_err(|e| {
        format!(
            "`{trimmed}` is not a valid crontab ({e}); expected `minute hour day-of-month month \
             day-of-week`, e.g. `0 16 * * FRI`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Europe::Brussels;

    fn weekend() -> FreezeWindow {
        FreezeWindow {
            name: "weekend".into(),
            kind: FreezeKind::Recurring {
                start: parse_crontab("0 16 * * FRI").unwrap(),
                end: WindowEnd::Cron(parse_crontab("0 8 * * MON").unwrap(), "0 8 * * MON".into()),
                tz: Brussels,
                start_text: "0 16 * * FRI".into(),
            },
        }
    }

    fn by_duration(start: &str, length: Duration) -> FreezeWindow {
        FreezeWindow {
            name: "d".into(),
            kind: FreezeKind::Recurring {
                start: parse_crontab(start).unwrap(),
                end: WindowEnd::Duration(length),
                tz: Brussels,
                start_text: start.into(),
            },
        }
    }

    /// A Brussels wall-clock time as UTC.
    fn bxl(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Brussels
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn weekend_window_in_an_ordinary_week() {
        // Friday 20 November 2026 to Monday 23 November 2026, CET (UTC+1).
        let w = weekend();
        let end = bxl(2026, 11, 23, 8, 0);
        assert_eq!(w.active_at(bxl(2026, 11, 20, 15, 59)), None);
        assert_eq!(
            w.next_start(bxl(2026, 11, 20, 15, 59)),
            Some(bxl(2026, 11, 20, 16, 0))
        );
        assert_eq!(w.active_at(bxl(2026, 11, 20, 16, 0)), Some(end));
        assert_eq!(w.active_at(bxl(2026, 11, 22, 12, 0)), Some(end));
        assert_eq!(w.active_at(bxl(2026, 11, 23, 7, 59)), Some(end));
        assert_eq!(w.active_at(bxl(2026, 11, 23, 8, 0)), None);
        assert_eq!(
            w.next_start(bxl(2026, 11, 23, 8, 0)),
            Some(bxl(2026, 11, 27, 16, 0))
        );
        // Inside the window the next start is next week's.
        assert_eq!(
            w.next_start(bxl(2026, 11, 21, 9, 0)),
            Some(bxl(2026, 11, 27, 16, 0))
        );
        assert_eq!(bxl(2026, 11, 20, 16, 0), utc(2026, 11, 20, 15, 0));
    }

    #[test]
    fn start_end_window_keeps_local_times_across_spring_forward() {
        // 29 March 2026 02:00 CET → 03:00 CEST: opens 16:00 CET (15:00 UTC), closes 08:00 CEST
        // (06:00 UTC).
        let w = weekend();
        assert_eq!(
            w.next_start(utc(2026, 3, 27, 12, 0)),
            Some(utc(2026, 3, 27, 15, 0))
        );
        assert_eq!(w.active_at(utc(2026, 3, 27, 14, 59)), None);
        assert_eq!(
            w.active_at(utc(2026, 3, 27, 15, 0)),
            Some(utc(2026, 3, 30, 6, 0))
        );
        assert_eq!(
            w.active_at(utc(2026, 3, 29, 1, 30)),
            Some(utc(2026, 3, 30, 6, 0))
        );
        assert_eq!(
            w.active_at(utc(2026, 3, 30, 5, 59)),
            Some(utc(2026, 3, 30, 6, 0))
        );
        assert_eq!(w.active_at(utc(2026, 3, 30, 6, 0)), None);
    }

    #[test]
    fn start_end_window_keeps_local_times_across_fall_back() {
        // 25 October 2026 03:00 CEST → 02:00 CET: opens 16:00 CEST (14:00 UTC), closes 08:00 CET
        // (07:00 UTC).
        let w = weekend();
        assert_eq!(w.active_at(utc(2026, 10, 23, 13, 59)), None);
        assert_eq!(
            w.active_at(utc(2026, 10, 23, 14, 0)),
            Some(utc(2026, 10, 26, 7, 0))
        );
        // Both passes of the repeated hour are inside.
        assert_eq!(
            w.active_at(utc(2026, 10, 25, 0, 30)),
            Some(utc(2026, 10, 26, 7, 0))
        );
        assert_eq!(
            w.active_at(utc(2026, 10, 25, 1, 30)),
            Some(utc(2026, 10, 26, 7, 0))
        );
        assert_eq!(
            w.active_at(utc(2026, 10, 26, 6, 59)),
            Some(utc(2026, 10, 26, 7, 0))
        );
        assert_eq!(w.active_at(utc(2026, 10, 26, 7, 0)), None);
    }

    #[test]
    fn duration_window_lasts_exactly_its_duration_across_dst() {
        // 64 hours from Friday 16:00: Monday 08:00 in an ordinary week, but an hour later on the
        // wall clock after spring forward and an hour earlier after fall back.
        let w = by_duration("0 16 * * FRI", Duration::from_secs(64 * 3600));
        assert_eq!(
            w.active_at(bxl(2026, 11, 23, 7, 59)),
            Some(bxl(2026, 11, 23, 8, 0))
        );

        let opened = utc(2026, 3, 27, 15, 0);
        let closes = opened + TimeDelta::hours(64);
        assert_eq!(closes, bxl(2026, 3, 30, 9, 0));
        assert_eq!(w.active_at(opened), Some(closes));
        assert_eq!(w.active_at(bxl(2026, 3, 30, 8, 30)), Some(closes));
        assert_eq!(w.active_at(closes), None);

        let opened = utc(2026, 10, 23, 14, 0);
        let closes = opened + TimeDelta::hours(64);
        assert_eq!(closes, bxl(2026, 10, 26, 7, 0));
        assert_eq!(w.active_at(bxl(2026, 10, 26, 6, 59)), Some(closes));
        assert_eq!(w.active_at(bxl(2026, 10, 26, 7, 0)), None);
    }

    #[test]
    fn duration_window_over_the_changed_hour() {
        // Two hours from 01:30 local on the night of each change: exactly 2h of real time.
        let w = by_duration("30 1 * * SUN", Duration::from_secs(2 * 3600));
        let spring = utc(2026, 3, 29, 0, 30); // 01:30 CET
        assert_eq!(w.active_at(spring), Some(utc(2026, 3, 29, 2, 30)));
        assert_eq!(w.active_at(utc(2026, 3, 29, 2, 30)), None);
        let fall = utc(2026, 10, 24, 23, 30); // 01:30 CEST
        assert_eq!(w.active_at(fall), Some(utc(2026, 10, 25, 1, 30)));
        assert_eq!(
            w.active_at(utc(2026, 10, 25, 1, 29)),
            Some(utc(2026, 10, 25, 1, 30))
        );
    }

    #[test]
    fn a_start_in_the_skipped_hour_still_happens_that_day() {
        // 02:30 does not exist on 29 March 2026 in Brussels; croner moves it forward rather
        // than dropping the window for that week.
        let w = by_duration("30 2 * * SUN", Duration::from_secs(3600));
        let next = w.next_start(utc(2026, 3, 28, 12, 0)).unwrap();
        assert!(
            next > utc(2026, 3, 29, 0, 59) && next <= utc(2026, 3, 29, 1, 30),
            "{next}"
        );
        assert!(w.active_at(next).is_some());
    }

    #[test]
    fn overlapping_duration_windows_merge() {
        // Every hour for 90 minutes: never open between 09:00 and the last start + 90m.
        let w = by_duration("0 9-11 * * *", Duration::from_secs(90 * 60));
        assert_eq!(
            w.active_at(bxl(2026, 11, 20, 9, 10)),
            Some(bxl(2026, 11, 20, 12, 30))
        );
        assert_eq!(w.active_at(bxl(2026, 11, 20, 12, 30)), None);
    }

    #[test]
    fn fixed_windows() {
        let w = FreezeWindow {
            name: "release".into(),
            kind: FreezeKind::Fixed {
                from: utc(2026, 12, 24, 0, 0),
                until: utc(2026, 12, 27, 0, 0),
            },
        };
        assert_eq!(w.active_at(utc(2026, 12, 23, 23, 59)), None);
        assert_eq!(
            w.active_at(utc(2026, 12, 24, 0, 0)),
            Some(utc(2026, 12, 27, 0, 0))
        );
        assert_eq!(w.active_at(utc(2026, 12, 27, 0, 0)), None);
        assert_eq!(
            w.next_start(utc(2026, 12, 1, 0, 0)),
            Some(utc(2026, 12, 24, 0, 0))
        );
        assert_eq!(w.next_start(utc(2026, 12, 24, 0, 0)), None);
    }

    #[test]
    fn crontabs_are_five_fields() {
        assert!(parse_crontab("0 16 * * FRI").is_ok());
        assert!(parse_crontab("0 9 * * 1-5").is_ok());
        assert!(parse_crontab("@weekly").is_ok());
        let six = parse_crontab("0 0 16 * * FRI").unwrap_err();
        assert!(six.contains("seconds"), "{six}");
        let bad = parse_crontab("0 25 * * *").unwrap_err();
        assert!(bad.contains("not a valid crontab"), "{bad}");
        assert!(parse_crontab("0 16 * *").unwrap_err().contains("4 fields"));
    }

    #[test]
    fn one_to_five_is_monday_to_friday() {
        let w = by_duration("0 12 * * 1-5", Duration::from_secs(3600));
        // Saturday 21 November 2026 → next is Monday 23 November.
        assert_eq!(
            w.next_start(bxl(2026, 11, 21, 0, 0)),
            Some(bxl(2026, 11, 23, 12, 0))
        );
    }
}
