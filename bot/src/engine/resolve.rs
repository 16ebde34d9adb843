//! Checks names a user typed against the configuration, with the closest match when there is
//! no such thing ("I don't know the env `prdo`. Did you mean `prod`?").

use crate::config::{Config, Recipe, RecipeEnv};
use crate::core::names::{AppName, EnvName};
use crate::core::suggest;

/// "I don't know the {what} `{name}`. Did you mean `x`?" or, with no close match, the list.
pub fn unknown<'a>(
    what: &str,
    name: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    match suggest::closest(name, known.clone()) {
        Some(s) => format!("I don't know the {what} `{name}`. Did you mean `{s}`?"),
        None => {
            let list: Vec<&str> = known.into_iter().collect();
            if list.is_empty() {
                format!("I don't know the {what} `{name}`.")
            } else {
                format!(
                    "I don't know the {what} `{name}`. Known: {}.",
                    list.join(", ")
                )
            }
        }
    }
}

pub fn app<'c>(config: &'c Config, name: &AppName) -> Result<&'c Recipe, String> {
    config.app(name).ok_or_else(|| {
        unknown(
            "app",
            name.as_str(),
            config.apps.iter().map(|r| r.app.as_str()),
        )
    })
}

/// An env the configuration declares.
pub fn env(config: &Config, name: &EnvName) -> Result<(), String> {
    match config.env(name) {
        Some(_) => Ok(()),
        None => Err(unknown(
            "env",
            name.as_str(),
            config.envs.iter().map(|(e, _)| e.as_str()),
        )),
    }
}

/// An env this app is deployed to.
pub fn app_env<'r>(
    config: &Config,
    recipe: &'r Recipe,
    name: &EnvName,
) -> Result<&'r RecipeEnv, String> {
    if let Some(e) = recipe.env(name) {
        return Ok(e);
    }
    let envs: Vec<&str> = recipe.envs.iter().map(|(e, _)| e.as_str()).collect();
    if config.env(name).is_some() {
        return Err(format!(
            "{} is not deployed to {name}: its recipe has {}.",
            recipe.app,
            envs.join(", ")
        ));
    }
    Err(unknown("env", name.as_str(), envs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_get_the_closest_or_the_list() {
        assert_eq!(
            unknown("env", "prdo", ["staging", "prod"]),
            "I don't know the env `prdo`. Did you mean `prod`?"
        );
        assert_eq!(
            unknown("app", "zzzzzz", ["api", "web"]),
            "I don't know the app `zzzzzz`. Known: api, web."
        );
    }
}
