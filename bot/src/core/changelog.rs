//! The changelog a request shows: the commits between what is live and what is asked for.
//! Pure rendering of what GitHub's compare answered.

use super::repo::short;

/// How many commits' first lines a changelog lists.
pub const NEWEST_SHOWN: usize = 5;

/// The commits between two SHAs, as deckhand needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commits {
    /// Commits in `base..head`.
    pub total: usize,
    /// Commits `head` lacks from `base` (a rollback's or a diverged branch's).
    pub behind: usize,
    /// The newest first, at most [`NEWEST_SHOWN`]: (sha, first line of the message, author).
    pub newest: Vec<(String, String, String)>,
    /// GitHub's page for the comparison.
    pub compare_url: String,
}

/// "3 new commits since abc1234 (live):" and the newest few, then the compare link. `going` is
/// the SHA asked for, `live` what runs now. A rollback (`rollback = true`) compares the other
/// way round (base = the version asked for, head = live), so its commits are what it takes away.
pub fn render(c: &Commits, live: &str, going: &str, rollback: bool) -> String {
    let (live, going) = (short(live), short(going));
    let mut out = if c.total == 0 && c.behind == 0 {
        return format!("Changes: none ({going} is what runs now).");
    } else if rollback {
        format!(
            "Takes away {} commit{} (live {live} → {going}):",
            c.total,
            plural(c.total)
        )
    } else if c.behind > 0 && c.total == 0 {
        format!(
            "Goes back {} commit{} (live {live} → {going}): nothing new.",
            c.behind,
            plural(c.behind)
        )
    } else {
        format!(
            "Changes: {} new commit{} since live {live}:",
            c.total,
            plural(c.total)
        )
    };
    for (sha, line, author) in &c.newest {
        out.push_str(&format!("\n• {} {} — {author}", short(sha), one_line(line)));
    }
    if c.total > c.newest.len() {
        out.push_str(&format!("\n• … and {} more", c.total - c.newest.len()));
    }
    if c.behind > 0 && !rollback && c.total > 0 {
        out.push_str(&format!(
            "\n(and {} live commit{} it does not contain)",
            c.behind,
            plural(c.behind)
        ));
    }
    out.push_str(&format!("\nCompare: {}", c.compare_url));
    out
}

/// A commit's first line, cut to 72 characters, so one message cannot flood a request.
pub fn one_line(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default().trim();
    if first.chars().count() > 72 {
        let cut: String = first.chars().take(71).collect();
        format!("{cut}…")
    } else {
        first.to_owned()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commits(total: usize) -> Commits {
        Commits {
            total,
            behind: 0,
            newest: (0..total.min(NEWEST_SHOWN))
                .map(|i| {
                    (
                        format!("{i}{}", "a".repeat(39)),
                        format!("change {i}\n\nbody"),
                        "alice".into(),
                    )
                })
                .collect(),
            compare_url: "https://github.com/acme/api/compare/a...b".into(),
        }
    }

    #[test]
    fn a_deploy_lists_the_newest_commits_and_the_rest_by_count() {
        let text = render(&commits(7), &"1".repeat(40), &"2".repeat(40), false);
        assert_eq!(
            text,
            "Changes: 7 new commits since live 1111111:\n\
             • 0aaaaaa change 0 — alice\n• 1aaaaaa change 1 — alice\n• 2aaaaaa change 2 — alice\n\
             • 3aaaaaa change 3 — alice\n• 4aaaaaa change 4 — alice\n• … and 2 more\n\
             Compare: https://github.com/acme/api/compare/a...b"
        );
    }

    #[test]
    fn a_rollback_says_what_it_takes_away() {
        let text = render(&commits(1), &"1".repeat(40), &"2".repeat(40), true);
        assert!(
            text.starts_with("Takes away 1 commit (live 1111111 → 2222222):"),
            "{text}"
        );
    }

    #[test]
    fn nothing_between_says_so_and_long_lines_are_cut() {
        let none = Commits {
            total: 0,
            behind: 0,
            newest: vec![],
            compare_url: String::new(),
        };
        assert_eq!(
            render(&none, "abc", "abc", false),
            "Changes: none (abc is what runs now)."
        );
        assert_eq!(one_line(&"x".repeat(100)).chars().count(), 72);
    }
}
