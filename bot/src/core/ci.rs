//! The CI gate's verdict on a commit, from what GitHub reported: the combined status's
//! statuses and the check runs. Pure: the engine asks GitHub, this decides.

/// Where one status or check run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    Success,
    Pending,
    Failure,
}

/// One status context or check run, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub state: CheckState,
    /// Where to read about it (the status's `target_url`, the run's `html_url`).
    pub url: Option<String>,
}

impl CheckState {
    /// A commit status's `state`: `success`, `pending`, `failure`, `error`.
    pub fn of_status(state: &str) -> CheckState {
        match state {
            "success" => CheckState::Success,
            "pending" => CheckState::Pending,
            _ => CheckState::Failure,
        }
    }

    /// A check run's `status` and `conclusion`. `neutral` and `skipped` pass, as on GitHub's
    /// own merge box; anything else that completed fails (`cancelled`, `timed_out`, …).
    pub fn of_run(status: &str, conclusion: Option<&str>) -> CheckState {
        if status != "completed" {
            return CheckState::Pending;
        }
        match conclusion {
            Some("success" | "neutral" | "skipped") => CheckState::Success,
            None => CheckState::Pending,
            Some(_) => CheckState::Failure,
        }
    }
}

/// What the gate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check that counts passed (`checked` of them; 0 when the commit has none and no
    /// check is required).
    Green { checked: usize },
    /// Some have not finished (or, when required, not reported yet): their names.
    Pending(Vec<String>),
    /// Some failed: their names and links.
    Red(Vec<(String, Option<String>)>),
}

/// The verdict on `checks`. With `required` empty every check counts; otherwise only those
/// named, and a required check that has not reported at all is pending (CI may not have
/// started it yet). A name reported twice counts once, by its first report (GitHub lists the
/// newest first).
pub fn verdict(checks: &[Check], required: &[String]) -> Verdict {
    let mut seen: Vec<&Check> = Vec::new();
    for c in checks {
        if !seen.iter().any(|s| s.name == c.name) {
            seen.push(c);
        }
    }
    let counted: Vec<&Check> = if required.is_empty() {
        seen
    } else {
        seen.into_iter()
            .filter(|c| required.contains(&c.name))
            .collect()
    };
    let red: Vec<(String, Option<String>)> = counted
        .iter()
        .filter(|c| c.state == CheckState::Failure)
        .map(|c| (c.name.clone(), c.url.clone()))
        .collect();
    if !red.is_empty() {
        return Verdict::Red(red);
    }
    let mut pending: Vec<String> = counted
        .iter()
        .filter(|c| c.state == CheckState::Pending)
        .map(|c| c.name.clone())
        .collect();
    pending.extend(
        required
            .iter()
            .filter(|r| !counted.iter().any(|c| &&c.name == r))
            .map(|r| format!("{r} (not reported yet)")),
    );
    if !pending.is_empty() {
        return Verdict::Pending(pending);
    }
    Verdict::Green {
        checked: counted.len(),
    }
}

/// "ci/build (https://…), lint": failing checks with their links, for a refusal.
pub fn describe_failing(red: &[(String, Option<String>)]) -> String {
    red.iter()
        .map(|(name, url)| match url {
            Some(u) => format!("{name} ({u})"),
            None => name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, state: CheckState) -> Check {
        Check {
            name: name.into(),
            state,
            url: Some(format!("https://ci/{name}")),
        }
    }

    #[test]
    fn all_checks_count_when_none_is_required() {
        use CheckState::*;
        assert_eq!(
            verdict(&[c("build", Success), c("lint", Success)], &[]),
            Verdict::Green { checked: 2 }
        );
        assert_eq!(
            verdict(&[c("build", Success), c("lint", Pending)], &[]),
            Verdict::Pending(vec!["lint".into()])
        );
        assert_eq!(
            verdict(&[c("build", Failure), c("lint", Pending)], &[]),
            Verdict::Red(vec![("build".into(), Some("https://ci/build".into()))])
        );
        assert_eq!(verdict(&[], &[]), Verdict::Green { checked: 0 });
    }

    #[test]
    fn only_required_checks_count_and_missing_ones_wait() {
        use CheckState::*;
        let req = vec!["build".to_owned()];
        assert_eq!(
            verdict(&[c("build", Success), c("flaky", Failure)], &req),
            Verdict::Green { checked: 1 }
        );
        assert_eq!(
            verdict(&[c("flaky", Success)], &req),
            Verdict::Pending(vec!["build (not reported yet)".into()])
        );
    }

    #[test]
    fn the_newest_report_of_a_name_wins() {
        use CheckState::*;
        assert_eq!(
            verdict(&[c("build", Success), c("build", Failure)], &[]),
            Verdict::Green { checked: 1 }
        );
    }

    #[test]
    fn states_from_github_words() {
        assert_eq!(CheckState::of_status("error"), CheckState::Failure);
        assert_eq!(CheckState::of_run("in_progress", None), CheckState::Pending);
        assert_eq!(
            CheckState::of_run("completed", Some("skipped")),
            CheckState::Success
        );
        assert_eq!(
            CheckState::of_run("completed", Some("timed_out")),
            CheckState::Failure
        );
    }
}
