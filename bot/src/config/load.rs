//! Reading the configuration file and every recipe, collecting the problems of all files before
//! giving up, so one `deckhand check` run shows everything to fix.

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::check::Checker;
use crate::config::config_file::{CheckedConfig, check_config, normalize, recipes_dir};
use crate::config::diagnostic::{ConfigErrors, Diagnostic, Source, whole_file};
use crate::config::raw::{RawConfig, RawRecipe};
use crate::config::recipe_file::check_recipe;
use crate::core::model::Config;
use crate::core::names::{AppName, EnvName};
use crate::core::recipe::Recipe;

impl Config {
    /// Loads and checks `path` and the recipes in its recipes directory (`[bot] recipes`,
    /// relative to the config file; default `deploy.d` next to it). Every error of every file
    /// is returned, sorted by file and position.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let path = normalize(path);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let text = fs::read_to_string(&path).map_err(|e| {
            ConfigErrors(vec![whole_file(
                &path,
                format!("cannot read the configuration file: {e}"),
            )])
        })?;
        let src = Source::new(&path, text);
        let mut diags = Vec::new();

        let (checked, recipes, recipes_known) = match toml::from_str::<RawConfig>(&src.text) {
            Ok(raw) => {
                let mut c = Checker::new(&src);
                let checked = check_config(&mut c, raw, &dir);
                diags.append(&mut c.diags);
                let recipes = checked.recipes.clone();
                (Some(checked), recipes, true)
            }
            Err(e) => {
                diags.push(src.toml_error(&e));
                // Still check the recipes: find their directory if the file is at least TOML.
                let (recipes, known) = fallback_recipes_dir(&src.text, &dir);
                (None, recipes, known)
            }
        };

        let env_names: Option<&[EnvName]> = checked
            .as_ref()
            .map(|c| c.env_names.as_slice())
            .filter(|names| !names.is_empty());
        let files = recipe_files(&recipes, recipes_known, &src, checked.as_ref(), &mut diags);
        let mut apps = Vec::new();
        for file in files {
            if let Some(recipe) = load_recipe(&file, env_names, &mut diags) {
                apps.push(recipe);
            }
        }

        if diags.is_empty()
            && let Some(c) = checked
            && let (Some(bot), Some(envs), Some(ssh)) = (c.bot, c.envs, c.ssh)
        {
            apps.sort_by(|a, b| a.app.cmp(&b.app));
            return Ok(Config {
                bot,
                groups: c.groups,
                people: c.people,
                platform_groups: Default::default(),
                envs,
                apps,
                ssh,
                slack: c.slack,
                discord: c.discord,
                http: c.http,
                github: c.github,
                path,
            });
        }
        if diags.is_empty() {
            // Every check that refuses a value also says why; this only guards against a
            // check that forgot to, so an invalid file is never silently half-loaded.
            diags.push(src.whole("this configuration is incomplete (an unreported problem)"));
        }
        diags.sort();
        diags.dedup();
        Err(ConfigErrors(diags))
    }
}

/// `bot.recipes` from a file that does not match the expected shape; `false` when the file is
/// not TOML at all and the directory is a guess (then a missing directory is not reported).
fn fallback_recipes_dir(text: &str, dir: &Path) -> (PathBuf, bool) {
    match toml::from_str::<toml::Table>(text) {
        Ok(table) => {
            let named = table
                .get("bot")
                .and_then(|b| b.get("recipes"))
                .and_then(toml::Value::as_str);
            (recipes_dir(named, dir), true)
        }
        Err(_) => (recipes_dir(None, dir), false),
    }
}

/// The `*.toml` files of the recipes directory, sorted. Hidden files (editor backups) and other
/// extensions (a README) are skipped.
fn recipe_files(
    dir: &Path,
    known: bool,
    src: &Source,
    checked: Option<&CheckedConfig>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<PathBuf> {
    let at = |message: String| match checked.and_then(|c| c.recipes_at.as_ref()) {
        Some(r) => src.at(r.span(), message),
        None => src.whole(message),
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            if known {
                diags.push(at(format!(
                    "cannot read the recipes directory `{}`: {e}; set `recipes` in [bot] to the \
                     directory that holds <app>.toml files (relative to this file)",
                    dir.display()
                )));
            }
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && name.ends_with(".toml") && p.is_file()
        })
        .collect();
    files.sort();
    if files.is_empty() && known {
        diags.push(at(format!(
            "no recipes in `{}`: add one file per app, e.g. `{}`",
            dir.display(),
            dir.join("api.toml").display()
        )));
    }
    files
}

fn load_recipe(
    path: &Path,
    env_names: Option<&[EnvName]>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Recipe> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(whole_file(path, format!("cannot read this recipe: {e}")));
            return None;
        }
    };
    let src = Source::new(path, text);
    let app = app_name(path, diags);
    let raw = match toml::from_str::<RawRecipe>(&src.text) {
        Ok(raw) => raw,
        Err(e) => {
            diags.push(src.toml_error(&e));
            return None;
        }
    };
    let mut c = Checker::new(&src);
    let recipe = check_recipe(&mut c, app.clone(), raw, env_names, path);
    if recipe.is_none() && c.diags.is_empty() && app.is_some() {
        // Same guard as for the config file: a refused recipe always comes with a reason.
        c.error_whole("this recipe is incomplete (an unreported problem)");
    }
    diags.append(&mut c.diags);
    recipe
}

/// The app a recipe deploys is its file name: `deploy.d/api.toml` is `api`.
fn app_name(path: &Path, diags: &mut Vec<Diagnostic>) -> Option<AppName> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    match AppName::parse(stem) {
        Ok(app) if app.as_str() == stem => Some(app),
        Ok(app) => {
            diags.push(whole_file(
                path,
                format!("app names are lower case: rename this file to `{app}.toml`"),
            ));
            None
        }
        Err(e) => {
            diags.push(whole_file(
                path,
                format!("the file name gives the app's name, and {e}; rename the file"),
            ));
            None
        }
    }
}
