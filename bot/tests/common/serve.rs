//! The real `deckhand serve` binary as the chat tests run it: the shipped example (without
//! prod's weekend freeze, since the bot runs on the real clock), a fresh data directory, only
//! the chat variables the test gives, and its stderr in a file shown when the test fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Every chat variable deckhand reads, removed from a child's environment before the test's
/// own are set.
pub const CHAT_VARS: &[&str] = &[
    "SLACK_BOT_TOKEN",
    "SLACK_BOT_TOKEN_FILE",
    "SLACK_APP_TOKEN",
    "SLACK_APP_TOKEN_FILE",
    "SLACK_SIGNING_SECRET",
    "SLACK_SIGNING_SECRET_FILE",
    "SLACK_API_URL",
    "DISCORD_TOKEN",
    "DISCORD_TOKEN_FILE",
    "DISCORD_APPLICATION_ID",
    "DISCORD_APPLICATION_ID_FILE",
    "DISCORD_GUILD_ID",
    "DISCORD_GUILD_ID_FILE",
    "DISCORD_PROXY_URL",
    "DISCORD_PROXY_URL_FILE",
];

/// The shipped example with `edit` applied and `table` (`[slack]`, `[discord]`) appended,
/// without prod's weekend freeze; `tail` appended to api's recipe.
pub fn example(dir: &Path, table: &str, tail: &str, edit: impl Fn(String) -> String) -> PathBuf {
    super::example_edited(dir, "api", tail, |text| {
        let weekend = "[[envs.prod.freeze]]\nname = \"weekend\"\nstart = \"0 16 * * FRI\"   # Friday 16:00 …\nend = \"0 8 * * MON\"      # … to Monday 08:00\ntimezone = \"Europe/Brussels\"\n";
        assert!(text.contains(weekend), "the example's weekend freeze moved");
        format!("{}\n{table}\n", edit(text.replace(weekend, "")))
    })
}

/// A running `deckhand serve`; its stderr goes to a file, shown when the test fails.
pub struct Serve {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- deckhand serve's stderr ---\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// `deckhand serve` on `config` with `env` (and no other chat variable), a fresh data
/// directory under `dir`, logging at the most verbose level.
pub fn spawn(dir: &Path, config: &Path, env: &[(&str, String)]) -> Serve {
    let log = dir.join("serve.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deckhand"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .arg("--data")
        .arg(dir.join("data"));
    for var in CHAT_VARS {
        cmd.env_remove(var);
    }
    let child = cmd
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "trace")
        .env_remove("DECKHAND_DATA")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Serve {
        child: Some(child),
        log,
    }
}

impl Serve {
    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id().unwrap()
    }
}

/// Stops the bot with SIGTERM; returns its exit status and what it wrote on stderr.
pub async fn terminate(bot: Serve) -> (std::process::ExitStatus, String) {
    let pid = nix::unistd::Pid::from_raw(bot.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    finish(bot).await
}

/// Waits (at most 30 s) for the bot to end; its exit status and what it wrote on stderr.
pub async fn finish(mut bot: Serve) -> (std::process::ExitStatus, String) {
    let status = tokio::time::timeout(Duration::from_secs(30), bot.child.take().unwrap().wait())
        .await
        .expect("deckhand serve ends")
        .unwrap();
    (status, std::fs::read_to_string(&bot.log).unwrap())
}
