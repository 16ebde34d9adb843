//! Test helpers that read like a chat: `bot.say("alice", "deploy api to staging")`.
//! Everything is real: the shipped example configuration, a SQLite file, local processes, and
//! the console adapter printing the console protocol into a buffer we can read.
#![allow(dead_code)]

pub mod serve;
pub mod sshd;

use deckhand::chat::ChatEvent;
use deckhand::chat::console::{CHANNEL, ConsoleOut};
use deckhand::chat::{Account, ChatOut, Conversation, Message, Reaction};
use deckhand::config::Config;
use deckhand::engine::{Bot, Clock};
use deckhand::exec::Router;
use deckhand::store::Store;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The repository root (the tests run from `bot/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn example_config() -> PathBuf {
    repo().join("config/deckhand.toml")
}

/// A copy of the example configuration under `dir/example`, with `tail` appended to the
/// recipe of `app`; returns the config file's path.
pub fn example_with_recipe_tail(dir: &Path, app: &str, tail: &str) -> PathBuf {
    example_edited(dir, app, tail, |c| c)
}

/// Like [`example_with_recipe_tail`], with the config file's text passed through `edit`.
pub fn example_edited(
    dir: &Path,
    app: &str,
    tail: &str,
    edit: impl Fn(String) -> String,
) -> PathBuf {
    let root = dir.join("example");
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::create_dir_all(root.join("deploy.d")).unwrap();
    let config = std::fs::read_to_string(example_config()).unwrap();
    std::fs::write(root.join("config/deckhand.toml"), edit(config)).unwrap();
    for entry in std::fs::read_dir(repo().join("deploy.d")).unwrap() {
        let entry = entry.unwrap();
        let mut text = std::fs::read_to_string(entry.path()).unwrap();
        if entry.file_name().to_string_lossy() == format!("{app}.toml") {
            text.push('\n');
            text.push_str(tail);
        }
        std::fs::write(root.join("deploy.d").join(entry.file_name()), text).unwrap();
    }
    root.join("config/deckhand.toml")
}

/// A clock started at `now` (RFC 3339), running on in real time.
pub fn clock(now: &str) -> Clock {
    Clock::starting_at(chrono::DateTime::parse_from_rfc3339(now).unwrap().to_utc())
}

/// The real bot on the configuration at `config`, its log and local hosts in `data`, speaking
/// through `chat`; with its store.
pub async fn start_bot(
    config: &Path,
    data: &Path,
    chat: Arc<dyn ChatOut>,
    clock: Clock,
) -> (Bot, Store) {
    start_bot_with_github(config, data, chat, clock, None).await
}

/// [`start_bot`] with a GitHub client (the real one, pointed at a fake: `tests/github.rs`).
pub async fn start_bot_with_github(
    config: &Path,
    data: &Path,
    chat: Arc<dyn ChatOut>,
    clock: Clock,
    github: Option<Arc<dyn deckhand::github::GitHub>>,
) -> (Bot, Store) {
    let config = Arc::new(Config::load(config).expect("the config loads"));
    let store = Store::open(&data.join("deckhand.db")).await.unwrap();
    let exec = Arc::new(Router::new(data, &config.ssh).unwrap());
    let bot = Bot::start_with_github(config, store.clone(), chat, exec, clock, github)
        .await
        .unwrap();
    (bot, store)
}

/// `carol` is the console user carol; `slack:U0CAROL` that Slack account (the console stands in
/// for every platform).
pub fn account(user: &str) -> Account {
    match user.split_once(':') {
        Some((platform, id)) => Account::new(platform, id, user),
        None => Account::console(user),
    }
}

/// A message `user` typed in `channel` (a direct message when `direct`).
pub fn message(channel: &str, user: &str, text: &str, direct: bool) -> Message {
    Message {
        place: Conversation::channel(channel),
        id: None,
        delivery: None,
        from: account(user),
        text: text.into(),
        direct,
        from_bot: false,
    }
}

#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

pub struct TestBot {
    pub bot: Bot,
    pub store: Store,
    pub data: tempfile::TempDir,
    buf: SharedBuf,
    out: Arc<ConsoleOut>,
}

impl TestBot {
    /// The shipped example, a fresh data directory, the clock started on an ordinary Monday
    /// morning (no freeze window), running on in real time.
    pub async fn new() -> Self {
        Self::at("2026-11-23T10:00:00Z").await
    }

    /// The shipped example with the clock started at `now` (RFC 3339).
    pub async fn at(now: &str) -> Self {
        Self::with(example_config(), tempfile::tempdir().unwrap(), clock(now)).await
    }

    pub async fn with(config: PathBuf, data: tempfile::TempDir, clock: Clock) -> Self {
        Self::with_github(config, data, clock, None).await
    }

    /// [`TestBot::with`] and a GitHub client.
    pub async fn with_github(
        config: PathBuf,
        data: tempfile::TempDir,
        clock: Clock,
        github: Option<Arc<dyn deckhand::github::GitHub>>,
    ) -> Self {
        let buf = SharedBuf::default();
        let out = Arc::new(ConsoleOut::new(Box::new(buf.clone())));
        let (bot, store) =
            start_bot_with_github(&config, data.path(), out.clone(), clock, github).await;
        Self {
            bot,
            store,
            data,
            buf,
            out,
        }
    }

    /// `user` types `text` in the console channel; returns what the bot printed in answer
    /// (before any deploy it started goes on in the background).
    pub async fn say(&self, user: &str, text: &str) -> String {
        let before = self.buf.text().len();
        self.bot
            .handle(ChatEvent::Message(message(CHANNEL, user, text, true)))
            .await;
        self.buf.text()[before..].to_owned()
    }

    /// A message in a channel (prefix or mention needed).
    pub async fn say_in_channel(&self, user: &str, text: &str) -> String {
        let before = self.buf.text().len();
        self.bot
            .handle(ChatEvent::Message(message("ops", user, text, false)))
            .await;
        self.buf.text()[before..].to_owned()
    }

    /// Any chat event; returns what the bot printed in answer.
    pub async fn handle(&self, event: ChatEvent) -> String {
        let before = self.buf.text().len();
        self.bot.handle(event).await;
        self.buf.text()[before..].to_owned()
    }

    pub async fn react(&self, user: &str, msg: &str, emoji: &str) -> String {
        self.reaction(user, msg, emoji, true, false).await
    }

    pub async fn unreact(&self, user: &str, msg: &str, emoji: &str) -> String {
        self.reaction(user, msg, emoji, false, false).await
    }

    pub async fn react_as_bot(&self, user: &str, msg: &str, emoji: &str) -> String {
        self.reaction(user, msg, emoji, true, true).await
    }

    async fn reaction(
        &self,
        user: &str,
        msg: &str,
        emoji: &str,
        added: bool,
        from_bot: bool,
    ) -> String {
        let before = self.buf.text().len();
        let r = Reaction {
            channel: CHANNEL.into(),
            from: account(user),
            message: msg.into(),
            emoji: emoji.into(),
            from_bot,
            delivery: None,
        };
        self.bot
            .handle(if added {
                ChatEvent::ReactionAdded(r)
            } else {
                ChatEvent::ReactionRemoved(r)
            })
            .await;
        self.buf.text()[before..].to_owned()
    }

    /// The state of deploy `id` in the log.
    pub async fn state(&self, id: i64) -> deckhand::core::lifecycle::DeployState {
        self.store
            .deploy(id)
            .await
            .unwrap()
            .expect("the deploy exists")
            .state
    }

    /// Waits until nothing runs or waits, and the log holds every line.
    pub async fn wait(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            self.bot.wait_idle().await;
            self.bot.flush_log().await;
        })
        .await
        .expect("deploys finished within a minute");
    }

    /// Everything the bot printed so far, in the console protocol.
    pub fn transcript(&self) -> String {
        self.buf.text()
    }

    /// A file in a local host's directory, if it exists.
    pub fn host_file(&self, app: &str, env: &str, host: &str, file: &str) -> Option<String> {
        std::fs::read_to_string(self.host_dir(app, env, host).join(file)).ok()
    }

    pub fn host_dir(&self, app: &str, env: &str, host: &str) -> PathBuf {
        self.data
            .path()
            .join("hosts")
            .join(app)
            .join(env)
            .join(host)
    }

    pub fn knows_message(&self, id: &str) -> bool {
        self.out.knows(id)
    }
}

/// The processes of this machine that belong to deploy `id` of a bot whose hosts live under
/// `root` (its data directory for local hosts, an sshd fixture's directory for SSH hosts, both
/// on this machine): those whose environment says `DECKHAND_DEPLOY_ID=<id>` and whose working
/// directory is under `root`. Waits up to `patience` for them to go; the PIDs still there then.
pub fn leftover_processes(root: &Path, id: i64, patience: std::time::Duration) -> Vec<u32> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let found = processes_of_deploy(root, id);
        if found.is_empty() || std::time::Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn processes_of_deploy(root: &Path, id: i64) -> Vec<u32> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let want = format!("DECKHAND_DEPLOY_ID={id}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc is readable") {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        // A zombie has no environment left: it runs nothing.
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        if !vars.contains(&want.as_bytes()) {
            continue;
        }
        let under_root = std::fs::read_link(entry.path().join("cwd"))
            .map(|cwd| cwd.starts_with(&root))
            .unwrap_or(false);
        if under_root {
            found.push(pid);
        }
    }
    found
}

/// Runs the real `deckhand` binary from the repository root with `args`, its data directory
/// `data` and `stdin` as its input, as a script would.
pub fn deckhand(args: &[&str], stdin: &str, data: &std::path::Path) -> std::process::Output {
    deckhand_with(args, &[], stdin.as_bytes(), data)
}

/// Like [`deckhand`], with environment variables `env` set and `stdin` as raw bytes (which
/// need not be UTF-8). Its stdout and stderr are pipes, never a terminal.
pub fn deckhand_with(
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &[u8],
    data: &std::path::Path,
) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .args(args)
        .current_dir(repo())
        .env("DECKHAND_DATA", data)
        .env_remove("DECKHAND_NOW")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}
