//! Who deckhand is on GitHub: a token (`GITHUB_TOKEN`, or the trimmed content of the file
//! `GITHUB_TOKEN_FILE` names) or a GitHub App (id, private key file, installation id, from
//! `[github]` or `GITHUB_APP_*`). Read once at start-up; never shown (`Debug` hides the secret).

use crate::core::model::GithubSettings;
use std::fmt;
use std::path::PathBuf;

#[derive(Clone)]
pub enum Credentials {
    Token(String),
    App {
        app_id: u64,
        /// The PEM text of the App's private key.
        private_key: String,
        installation_id: u64,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Credentials::Token(<hidden>)"),
            Credentials::App {
                app_id,
                installation_id,
                ..
            } => write!(
                f,
                "Credentials::App {{ app_id: {app_id}, installation_id: {installation_id}, private_key: <hidden> }}"
            ),
        }
    }
}

/// What is missing or wrong in the environment, in words for `deckhand check` and start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Credentials {
    /// From the process environment and `[github]`.
    pub fn from_env(settings: &GithubSettings) -> Result<Option<Credentials>, Missing> {
        Self::from_lookup(
            settings,
            |k| std::env::var(k).ok(),
            |p| std::fs::read_to_string(p),
        )
    }

    /// `None` when nothing is set at all. A token wins over an App; an App needs all three of
    /// its values, and the error names those that are missing.
    pub fn from_lookup(
        settings: &GithubSettings,
        var: impl Fn(&str) -> Option<String>,
        read: impl Fn(&PathBuf) -> std::io::Result<String>,
    ) -> Result<Option<Credentials>, Missing> {
        let var = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(token) = var("GITHUB_TOKEN") {
            return Ok(Some(Credentials::Token(token)));
        }
        if let Some(path) = var("GITHUB_TOKEN_FILE") {
            let path = PathBuf::from(path);
            let token = read(&path).map_err(|e| {
                Missing(format!(
                    "GITHUB_TOKEN_FILE names {}, which cannot be read ({e})",
                    path.display()
                ))
            })?;
            let token = token.trim();
            if token.is_empty() {
                return Err(Missing(format!(
                    "GITHUB_TOKEN_FILE names {}, which is empty",
                    path.display()
                )));
            }
            return Ok(Some(Credentials::Token(token.to_owned())));
        }
        let number = |key: &str, configured: Option<u64>| -> Result<Option<u64>, Missing> {
            match configured {
                Some(n) => Ok(Some(n)),
                None => var(key)
                    .map(|v| {
                        v.parse::<u64>()
                            .map_err(|_| Missing(format!("{key} `{v}` is not a number")))
                    })
                    .transpose(),
            }
        };
        let app_id = number("GITHUB_APP_ID", settings.app_id)?;
        let installation_id = number("GITHUB_APP_INSTALLATION_ID", settings.installation_id)?;
        let key_file = settings
            .private_key_file
            .clone()
            .or_else(|| var("GITHUB_APP_PRIVATE_KEY_FILE").map(PathBuf::from));
        match (app_id, key_file, installation_id) {
            (None, None, None) => Ok(None),
            (Some(app_id), Some(key_file), Some(installation_id)) => {
                let private_key = read(&key_file).map_err(|e| {
                    Missing(format!(
                        "the GitHub App's private key file {} cannot be read ({e})",
                        key_file.display()
                    ))
                })?;
                Ok(Some(Credentials::App {
                    app_id,
                    private_key,
                    installation_id,
                }))
            }
            (a, k, i) => {
                let mut missing = Vec::new();
                if a.is_none() {
                    missing.push("the app id (`app_id` in [github] or GITHUB_APP_ID)");
                }
                if k.is_none() {
                    missing.push(
                        "the private key file (`private_key_file` in [github] or GITHUB_APP_PRIVATE_KEY_FILE)",
                    );
                }
                if i.is_none() {
                    missing.push(
                        "the installation id (`installation_id` in [github] or GITHUB_APP_INSTALLATION_ID)",
                    );
                }
                Err(Missing(format!(
                    "a GitHub App is partly configured: missing {}",
                    missing.join(" and ")
                )))
            }
        }
    }

    /// How `deckhand check` says what is in use (never the secret).
    pub fn describe(&self) -> String {
        match self {
            Credentials::Token(_) => "a token (GITHUB_TOKEN or GITHUB_TOKEN_FILE)".to_owned(),
            Credentials::App {
                app_id,
                installation_id,
                ..
            } => format!("the GitHub App {app_id}, installation {installation_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn no_files(_: &PathBuf) -> std::io::Result<String> {
        Err(std::io::Error::other("no such file"))
    }

    #[test]
    fn a_token_is_used_and_never_shown() {
        let c = Credentials::from_lookup(
            &GithubSettings::default(),
            lookup(&[("GITHUB_TOKEN", " ghp_secret \n")]),
            no_files,
        )
        .unwrap()
        .unwrap();
        assert!(matches!(&c, Credentials::Token(t) if t == "ghp_secret"));
        assert!(!format!("{c:?}").contains("ghp_secret"));
    }

    #[test]
    fn a_token_file_is_read_and_trimmed() {
        let c = Credentials::from_lookup(
            &GithubSettings::default(),
            lookup(&[("GITHUB_TOKEN_FILE", "/run/secrets/gh")]),
            |_| Ok("ghp_file\n".to_owned()),
        )
        .unwrap()
        .unwrap();
        assert!(matches!(&c, Credentials::Token(t) if t == "ghp_file"));
    }

    #[test]
    fn nothing_set_is_none_and_half_an_app_names_what_is_missing() {
        assert!(
            Credentials::from_lookup(&GithubSettings::default(), lookup(&[]), no_files)
                .unwrap()
                .is_none()
        );
        let settings = GithubSettings {
            app_id: Some(12),
            ..Default::default()
        };
        let err = Credentials::from_lookup(&settings, lookup(&[]), no_files).unwrap_err();
        assert!(err.0.contains("private key file"), "{err}");
        assert!(err.0.contains("installation id"), "{err}");
        assert!(!err.0.contains("app id"), "{err}");
    }

    #[test]
    fn an_app_takes_its_values_from_config_or_env() {
        let settings = GithubSettings {
            app_id: Some(12),
            ..Default::default()
        };
        let c = Credentials::from_lookup(
            &settings,
            lookup(&[
                ("GITHUB_APP_PRIVATE_KEY_FILE", "/k.pem"),
                ("GITHUB_APP_INSTALLATION_ID", "34"),
            ]),
            |_| Ok("-----BEGIN PRIVATE KEY-----".to_owned()),
        )
        .unwrap()
        .unwrap();
        assert!(matches!(
            c,
            Credentials::App {
                app_id: 12,
                installation_id: 34,
                ..
            }
        ));
        assert!(!format!("{c:?}").contains("BEGIN"));
    }
}
