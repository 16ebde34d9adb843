//! deckhand's slash commands: `/deploy` with typed options (app and env autocompleted from the
//! configuration) and `/deckhand <any command>`, and how an invocation becomes the text the
//! engine parses.
//!
//! Invariant: an option's value never adds words to the command. A name (app, ref, env) is
//! one word of the characters names are made of, or the command is refused here; a reason is
//! quoted and may hold no quote. The engine's parser then checks the names as for any message.

use super::Catalog;
use serenity::all::{
    AutocompleteChoice, CommandData, CommandDataOptionValue, CommandOptionType, CreateCommand,
    CreateCommandOption,
};

/// `/deploy`'s name.
pub const DEPLOY: &str = "deploy";
/// `/deckhand`'s name: its one option is any command, as typed in a DM.
pub const DECKHAND: &str = "deckhand";

/// The commands registered in each configured guild (a bulk overwrite: older definitions go).
pub fn definitions() -> Vec<CreateCommand> {
    vec![
        CreateCommand::new(DEPLOY)
            .description("Deploy an app to an env")
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "app", "The app to deploy")
                    .required(true)
                    .set_autocomplete(true),
            )
            .add_option(CreateCommandOption::new(
                CommandOptionType::String,
                "ref",
                "A branch, tag or commit (the app's default branch when left out)",
            ))
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "env",
                    "Where to deploy (the default env when left out)",
                )
                .set_autocomplete(true),
            )
            .add_option(CreateCommandOption::new(
                CommandOptionType::String,
                "host",
                "One host of the env only",
            ))
            .add_option(CreateCommandOption::new(
                CommandOptionType::String,
                "task",
                "A task of the recipe other than `deploy` (e.g. migrate)",
            ))
            .add_option(CreateCommandOption::new(
                CommandOptionType::Boolean,
                "dry-run",
                "Show what would run, run nothing",
            ))
            .add_option(CreateCommandOption::new(
                CommandOptionType::String,
                "emergency",
                "Why it cannot wait: skips freezes and approvals as the policy allows",
            )),
        CreateCommand::new(DECKHAND)
            .description("Any deckhand command, as typed in a direct message")
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "command",
                    "e.g. status, history api, lock prod \"db migration\"",
                )
                .required(true),
            ),
    ]
}

/// An option's value as deckhand's adapter reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Flag(bool),
}

/// The options of an invocation, by name (serenity's shape, read once).
pub fn options(data: &CommandData) -> Vec<(String, Value)> {
    data.options
        .iter()
        .filter_map(|o| {
            let value = match &o.value {
                CommandDataOptionValue::String(s) => Value::Text(s.clone()),
                CommandDataOptionValue::Autocomplete { value, .. } => Value::Text(value.clone()),
                CommandDataOptionValue::Boolean(b) => Value::Flag(*b),
                _ => return None,
            };
            Some((o.name.clone(), value))
        })
        .collect()
}

/// Whether `value` is one word names are made of (`api`, `v1.2.0`, `release/2026-12`, `a1b2c3`):
/// nothing a parser would read as a flag, a quote, a separator or a second word.
fn is_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 200
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | '+'))
}

/// The command text of an invocation of `name` with `options`, or what to tell its asker (the
/// command is then not run).
pub fn text(name: &str, options: &[(String, Value)]) -> Result<String, String> {
    let get = |key: &str| {
        options.iter().find_map(|(k, v)| match v {
            Value::Text(t) if k == key => Some(t.trim().to_owned()),
            _ => None,
        })
    };
    let flag = |key: &str| {
        options
            .iter()
            .any(|(k, v)| k == key && *v == Value::Flag(true))
    };
    match name {
        DECKHAND => match get("command") {
            Some(command) if !command.is_empty() => Ok(command),
            _ => Err("Type a command after `/deckhand`, e.g. `/deckhand status`.".to_owned()),
        },
        DEPLOY => {
            let name_of = |key: &str, what: &str| -> Result<Option<String>, String> {
                match get(key) {
                    None => Ok(None),
                    Some(v) if is_name(&v) => Ok(Some(v)),
                    Some(v) => Err(format!(
                        "`{}` is not {what}: one word of letters, digits, `.`, `_`, `-`, `/` or `+`.",
                        v.replace('`', "'").chars().take(60).collect::<String>()
                    )),
                }
            };
            let Some(app) = name_of("app", "an app name")? else {
                return Err("Say which app: `/deploy app: api`.".to_owned());
            };
            let mut text = match name_of("task", "a task name")? {
                Some(task) => format!("deploy:{task} {app}"),
                None => format!("deploy {app}"),
            };
            if let Some(git_ref) = name_of("ref", "a git ref")? {
                text.push('@');
                text.push_str(&git_ref);
            }
            match (
                name_of("env", "an env name")?,
                name_of("host", "a host name")?,
            ) {
                (Some(env), Some(host)) => text.push_str(&format!(" to {env}/{host}")),
                (Some(env), None) => text.push_str(&format!(" to {env}")),
                (None, Some(_)) => {
                    return Err("A host is one of an env's: give the env too.".to_owned());
                }
                (None, None) => {}
            }
            if flag("dry-run") {
                text.push_str(" --dry-run");
            }
            if let Some(reason) = get("emergency") {
                if reason.contains(['"', '\n', '\r']) {
                    return Err("The emergency reason may not hold `\"` or a line break: say it in one line, without quotes.".to_owned());
                }
                text.push_str(&format!(" --emergency \"{reason}\""));
            }
            Ok(text)
        }
        other => Err(format!(
            "deckhand does not know `/{}`: its commands are `/deploy` and `/deckhand`.",
            other.replace('`', "'")
        )),
    }
}

/// What to offer while `option` is typed as `typed`: the configured names that start with it
/// (case-insensitive), then those that contain it; at most 25, as Discord allows.
pub fn suggestions(catalog: &Catalog, option: &str, typed: &str) -> Vec<String> {
    let names = match option {
        "app" => &catalog.apps,
        "env" => &catalog.envs,
        _ => return Vec::new(),
    };
    let typed = typed.trim().to_lowercase();
    let starts = names
        .iter()
        .filter(|n| n.to_lowercase().starts_with(&typed));
    let contains = names.iter().filter(|n| {
        let n = n.to_lowercase();
        !n.starts_with(&typed) && n.contains(&typed)
    });
    starts.chain(contains).take(25).cloned().collect()
}

/// The suggestions as Discord's choices.
pub fn choices(names: Vec<String>) -> Vec<AutocompleteChoice> {
    names
        .into_iter()
        .map(|n| AutocompleteChoice::new(n.clone(), n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: &str) -> (String, Value) {
        (k.to_owned(), Value::Text(v.to_owned()))
    }

    #[test]
    fn deploy_options_become_one_command() {
        assert_eq!(
            text(DEPLOY, &[t("app", "api"), t("env", "prod")]),
            Ok("deploy api to prod".to_owned())
        );
        assert_eq!(
            text(
                DEPLOY,
                &[
                    t("app", "api"),
                    t("ref", "release/v2"),
                    t("env", "staging"),
                    ("dry-run".to_owned(), Value::Flag(true)),
                    t("emergency", "payments are down"),
                ]
            ),
            Ok(
                "deploy api@release/v2 to staging --dry-run --emergency \"payments are down\""
                    .to_owned()
            )
        );
        assert_eq!(
            text(DEPLOY, &[t("app", "web")]),
            Ok("deploy web".to_owned())
        );
        assert_eq!(
            text(
                DEPLOY,
                &[
                    t("app", "api"),
                    t("env", "prod"),
                    t("host", "api-1"),
                    t("task", "migrate")
                ]
            ),
            Ok("deploy:migrate api to prod/api-1".to_owned())
        );
        assert!(text(DEPLOY, &[t("app", "api"), t("host", "api-1")]).is_err());
    }

    #[test]
    fn an_option_cannot_add_words() {
        for bad in [
            "api to prod",
            "api;rm",
            "$(reboot)",
            "`id`",
            "--emergency",
            "api\nlock prod",
            "\"api\"",
        ] {
            assert!(text(DEPLOY, &[t("app", bad)]).is_err(), "{bad:?}");
            assert!(
                text(DEPLOY, &[t("app", "api"), t("env", bad)]).is_err(),
                "{bad:?}"
            );
            assert!(
                text(DEPLOY, &[t("app", "api"), t("ref", bad)]).is_err(),
                "{bad:?}"
            );
            assert!(
                text(DEPLOY, &[t("app", "api"), t("env", "prod"), t("host", bad)]).is_err(),
                "{bad:?}"
            );
            assert!(
                text(DEPLOY, &[t("app", "api"), t("task", bad)]).is_err(),
                "{bad:?}"
            );
        }
        assert!(
            text(
                DEPLOY,
                &[t("app", "api"), t("emergency", "a\" --dry-run \"")]
            )
            .is_err()
        );
        assert!(text(DEPLOY, &[]).is_err());
    }

    #[test]
    fn deckhand_passes_its_command_as_typed() {
        assert_eq!(
            text(DECKHAND, &[t("command", " status api ")]),
            Ok("status api".to_owned())
        );
        assert!(text(DECKHAND, &[]).is_err());
        assert!(text("other", &[]).is_err());
    }

    #[test]
    fn suggestions_start_with_what_was_typed() {
        let c = Catalog {
            apps: vec!["api".into(), "web".into(), "worker".into(), "rapid".into()],
            envs: vec!["staging".into(), "prod".into()],
        };
        assert_eq!(suggestions(&c, "app", "w"), ["web", "worker"]);
        assert_eq!(suggestions(&c, "app", "AP"), ["api", "rapid"]);
        assert_eq!(suggestions(&c, "env", ""), ["staging", "prod"]);
        assert!(suggestions(&c, "ref", "x").is_empty());
        assert_eq!(definitions().len(), 2);
    }
}
