//! Reactions, matched by Slack shortcode and by Unicode alike: `white_check_mark`, `:+1:`,
//! `✅`, `👍🏽` and Slack's `+1::skin-tone-4` all reduce to one canonical emoji. The table is
//! the `emojis` crate's (gemoji shortcodes), not a hand-made one.

use emojis::SkinTone;

/// The canonical form of a reaction: the emoji itself in its default skin tone, or, for a
/// name no emoji has (a workspace's custom emoji), the name in lower case without colons.
pub fn canonical(raw: &str) -> String {
    let name = raw.trim().trim_matches(':');
    // Slack writes skin tones as a suffix: `+1::skin-tone-4`.
    let name = name.split("::skin-tone-").next().unwrap_or(name);
    let found = emojis::get(name).or_else(|| emojis::get_by_shortcode(&name.to_ascii_lowercase()));
    match found {
        Some(e) => match e.skin_tone() {
            Some(tone) if tone != SkinTone::Default => e
                .with_skin_tone(SkinTone::Default)
                .unwrap_or(e)
                .as_str()
                .to_owned(),
            _ => e.as_str().to_owned(),
        },
        None => name.to_ascii_lowercase(),
    }
}

/// Whether a reaction is one of the configured ones (each given as a shortcode or an emoji).
pub fn is_one_of(reaction: &str, configured: &[String]) -> bool {
    let r = canonical(reaction);
    configured.iter().any(|c| canonical(c) == r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcodes_and_unicode_meet() {
        assert_eq!(canonical("white_check_mark"), "✅");
        assert_eq!(canonical(":white_check_mark:"), "✅");
        assert_eq!(canonical("✅"), "✅");
        assert_eq!(canonical("+1"), canonical("thumbsup"));
        assert_eq!(canonical("👍🏽"), "👍");
        assert_eq!(canonical("+1::skin-tone-4"), "👍");
        assert_eq!(canonical("x"), "❌");
        assert_eq!(canonical("-1"), "👎");
        assert_eq!(canonical("Ship-It"), "ship-it");
    }

    #[test]
    fn configured_lists_match_either_form() {
        let approve = vec!["white_check_mark".to_owned(), "+1".to_owned()];
        assert!(is_one_of("✅", &approve));
        assert!(is_one_of("👍🏿", &approve));
        assert!(!is_one_of("x", &approve));
        assert!(!is_one_of("tada", &approve));
    }
}
