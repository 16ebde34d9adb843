//! Closest-match suggestions: "I don't know the command `deplyo`. Did you mean `deploy`?" and,
//! in the bot, the same for app and env names ("Did you mean `prod`?").

/// The candidate closest to `word`, compared case-insensitively, or `None` when nothing is close
/// enough to be a likely typo. Returns the candidate as given (so it can be shown as configured).
///
/// Close enough means a Damerau-Levenshtein distance (a swap of two neighbours counts as one
/// edit) within a budget that grows with the word: 1 edit up to 3 characters, 2 up to 7, 3 beyond.
/// A word of at least 3 characters that starts a candidate also counts (`stat` → `status`). Among
/// equally distant candidates the one closest in length wins (`lockz` → `locks`, not `lock`),
/// then the one listed first, so callers order candidates by preference.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let len = word.chars().count();
    if len == 0 {
        return None;
    }
    candidates
        .into_iter()
        .filter_map(|cand| {
            let lower = cand.to_lowercase();
            let distance = strsim::damerau_levenshtein(&word, &lower);
            let starts = len >= 3 && lower.starts_with(&word);
            let len_gap = lower.chars().count().abs_diff(len);
            (distance <= budget(len) || starts).then_some(((distance, len_gap), cand))
        })
        .min_by_key(|&(key, _)| key)
        .map(|(_, cand)| cand)
}

/// How many edits a word of `len` characters may be away from a suggestion. Short words get
/// fewer, or every two-letter word would "mean" some command.
fn budget(len: usize) -> usize {
    match len {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMANDS: [&str; 12] = [
        "deploy", "rollback", "cancel", "approve", "deny", "status", "live", "history", "search",
        "lock", "locks", "help",
    ];

    #[test]
    fn typos_find_their_word_and_noise_finds_nothing() {
        let table: &[(&str, Option<&str>)] = &[
            ("deplyo", Some("deploy")),
            ("stauts", Some("status")),
            ("hepl", Some("help")),
            ("DEPLOI", Some("deploy")),
            ("rolback", Some("rollback")),
            ("aprove", Some("approve")),
            ("stat", Some("status")),
            ("lock", Some("lock")),
            ("lockz", Some("locks")),
            ("xyzzy", None),
            ("banana", None),
            ("hi", None),
            ("", None),
        ];
        for &(word, want) in table {
            assert_eq!(closest(word, COMMANDS), want, "closest({word:?})");
        }
    }

    #[test]
    fn suggests_names_as_configured() {
        let envs = ["staging", "Prod", "dev"];
        assert_eq!(closest("prdo", envs), Some("Prod"));
        assert_eq!(closest("stagin", envs), Some("staging"));
        assert_eq!(closest("qa", envs), None);
        assert_eq!(closest("api", ["app", "web"]), Some("app"));
        assert_eq!(closest("x", std::iter::empty()), None);
    }

    #[test]
    fn ties_go_to_the_same_length_then_the_first_candidate() {
        assert_eq!(closest("lok", ["lock", "log"]), Some("log"));
        assert_eq!(closest("lok", ["log", "lot"]), Some("log"));
        assert_eq!(closest("lok", ["lot", "log"]), Some("lot"));
    }
}
