//! The shipped example configuration, embedded in the binary so that `deckhand console` works
//! from any directory with no flags (docs/console.md). The files are the repository's own
//! `config/deckhand.toml` and `deploy.d/*.toml`, so the embedded copy can never drift from them.

use std::io;
use std::path::{Path, PathBuf};

/// `config/deckhand.toml` as shipped.
pub const CONFIG: &str = include_str!("../../../config/deckhand.toml");

/// `deploy.d/<file>` as shipped.
pub const RECIPES: [(&str, &str); 2] = [
    ("api.toml", include_str!("../../../deploy.d/api.toml")),
    ("web.toml", include_str!("../../../deploy.d/web.toml")),
];

/// Writes the example as `<dir>/config/deckhand.toml` and `<dir>/deploy.d/*.toml` (the same
/// layout as the repository, so `recipes = "../deploy.d"` resolves) and returns the config
/// file's path. Existing copies are overwritten, so the files always match this binary.
pub fn write_to(dir: &Path) -> io::Result<PathBuf> {
    let config_dir = dir.join("config");
    let recipes_dir = dir.join("deploy.d");
    std::fs::create_dir_all(&config_dir)?;
    std::fs::create_dir_all(&recipes_dir)?;
    let config = config_dir.join("deckhand.toml");
    std::fs::write(&config, CONFIG)?;
    for (name, text) in RECIPES {
        std::fs::write(recipes_dir.join(name), text)?;
    }
    Ok(config)
}
