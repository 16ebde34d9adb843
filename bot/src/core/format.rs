//! How times, durations and deploy labels read in chat. Pure: the time is an argument.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// `1.4s`, `42s`, `3m 05s`, `2h 10m`: short enough for a status line.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if ms < 60_000 {
        format!("{}s", d.as_secs())
    } else if ms < 3_600_000 {
        format!("{}m {:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{}h {:02}m", d.as_secs() / 3600, (d.as_secs() % 3600) / 60)
    }
}

/// `2026-11-23 19:02 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `Mon 30 Nov 08:00 CET (07:00 UTC)`: in the env's zone, and in UTC for everyone else.
pub fn time_in(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    let local = t.with_timezone(&tz);
    if tz == chrono_tz::UTC {
        return local.format("%a %d %b %H:%M UTC").to_string();
    }
    format!(
        "{} ({} UTC)",
        local.format("%a %d %b %H:%M %Z"),
        t.format("%H:%M")
    )
}

/// `5m ago`, `just now`, `3d ago`, relative to `now`.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    match secs {
        s if s < 10 => "just now".into(),
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

/// `#12 api@v1.4.2 → prod` (with `/host` when the deploy is limited to a host).
pub fn deploy_label(id: i64, app: &str, version: &str, env: &str, host: Option<&str>) -> String {
    match host {
        Some(h) => format!("#{id} {app}@{version} → {env}/{h}"),
        None => format!("#{id} {app}@{version} → {env}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_short() {
        assert_eq!(duration(Duration::from_millis(42)), "42ms");
        assert_eq!(duration(Duration::from_millis(1400)), "1.4s");
        assert_eq!(duration(Duration::from_secs(42)), "42s");
        assert_eq!(duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(duration(Duration::from_secs(7800)), "2h 10m");
    }

    #[test]
    fn relative_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T19:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(ago(now - chrono::Duration::minutes(5), now), "5m ago");
        assert_eq!(ago(now, now), "just now");
        assert_eq!(time(now), "2026-11-23 19:00 UTC");
        assert_eq!(
            time_in(now, chrono_tz::Europe::Brussels),
            "Mon 23 Nov 20:00 CET (19:00 UTC)"
        );
        assert_eq!(
            deploy_label(3, "api", "v1", "prod", Some("api-1")),
            "#3 api@v1 → prod/api-1"
        );
    }
}
