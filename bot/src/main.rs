//! `deckhand`: the command line (docs/console.md). Only wiring: each subcommand builds what it
//! needs from the library and runs it.

use anyhow::Context;
use clap::{Parser, Subcommand};
use deckhand::chat::console::{self, ConsoleOut};
use deckhand::chat::discord;
use deckhand::chat::hub::Hub;
use deckhand::chat::slack;
use deckhand::config::Config;
use deckhand::core::parse;
use deckhand::datadir::DataDir;
use deckhand::engine::{Bot, Clock};
use deckhand::exec::Router;
use deckhand::github;
use deckhand::store::Store;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "deckhand", version, about = "ChatOps deployment bot")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The bot in the terminal: each line is a chat message (no chat account needed).
    Console {
        /// Configuration file [default: ./config/deckhand.toml, else the embedded example]
        #[arg(long)]
        config: Option<PathBuf>,
        /// Who is typing (change it later with `/as <user>`).
        #[arg(long, default_value = "alice")]
        user: String,
        /// Start the bot's clock at this time (RFC 3339), then run on in real time.
        #[arg(long, env = "DECKHAND_NOW")]
        now: Option<String>,
        /// Directory for the deploy log and the local hosts.
        #[arg(long, env = "DECKHAND_DATA", default_value = ".deckhand")]
        data: PathBuf,
    },
    /// Every chat adapter enabled in the configuration, side by side in one engine: Slack when
    /// it has a `[slack]` table (SLACK_BOT_TOKEN, and SLACK_APP_TOKEN for Socket Mode or
    /// SLACK_SIGNING_SECRET for the Events API on `[http] listen`), Discord when it has a
    /// `[discord]` table (DISCORD_TOKEN, DISCORD_APPLICATION_ID, DISCORD_GUILD_ID).
    Serve {
        /// Configuration file [default: ./config/deckhand.toml, else the embedded example]
        #[arg(long)]
        config: Option<PathBuf>,
        /// Directory for the deploy log and the local hosts.
        #[arg(long, env = "DECKHAND_DATA", default_value = ".deckhand")]
        data: PathBuf,
    },
    /// Validate the configuration and every recipe.
    Check {
        /// Configuration file [default: ./config/deckhand.toml, else the embedded example]
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the embedded example is written when there is no configuration file (the
        /// same directory `console` and `serve` use).
        #[arg(long, env = "DECKHAND_DATA", default_value = ".deckhand")]
        data: PathBuf,
    },
    /// Print how the bot understands one message, as JSON.
    Parse {
        /// The message, as typed in a direct message (it may start with `-`:
        /// `deckhand parse "--emergency x"`).
        #[arg(allow_hyphen_values = true)]
        message: String,
    },
}

fn main() -> ExitCode {
    deckhand::exec::health::init_tls();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; a log file or a pipe gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    match cli.command {
        Cmd::Parse { message } => parse_command(&message),
        Cmd::Check { config, data } => check(config, &data),
        Cmd::Serve { config, data } => serve(config, data),
        Cmd::Console {
            config,
            user,
            now,
            data,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let result = runtime.block_on(run_console(config, user, now, data));
            // The console's stdin is read on a blocking thread that may never return: do not
            // wait for it.
            runtime.shutdown_background();
            match result {
                Ok(code) => code,
                Err(err) => {
                    eprintln!("deckhand: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn parse_command(message: &str) -> ExitCode {
    let parsed = parse::parse_direct(message);
    print_out(&parse::to_json(&parsed).to_string());
    match parsed {
        parse::Parsed::Command(_) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

fn check(config: Option<PathBuf>, data: &Path) -> ExitCode {
    let path = match config_path(config, data) {
        Ok(p) => p,
        Err(err) => {
            eprintln!("deckhand: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match Config::load(&path) {
        Ok(cfg) => {
            print_out(&deckhand::config::summary(&cfg, chrono::Utc::now()));
            // The secrets are not the file's, but `serve` needs them: say which are missing
            // here (the file is still valid, so this is no error).
            if cfg.slack.is_some() {
                print_out(&match slack::Secrets::from_env() {
                    Ok(s) => match s.transport {
                        slack::Transport::SocketMode { .. } => {
                            "slack: Socket Mode (SLACK_BOT_TOKEN and SLACK_APP_TOKEN are set)"
                                .to_owned()
                        }
                        slack::Transport::Http { .. } => format!(
                            "slack: Events API over HTTP on {} (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set)",
                            cfg.http.listen
                        ),
                    },
                    Err(missing) => format!(
                        "slack: [slack] is configured, but {} not set in this environment: `deckhand serve` needs {}",
                        deckhand::secrets::listed(&missing),
                        if missing.len() == 1 { "it" } else { "them" },
                    ),
                });
            }
            if cfg.discord.is_some() {
                print_out(&match discord::Secrets::from_env() {
                    Ok(s) => format!(
                        "discord: DISCORD_TOKEN, DISCORD_APPLICATION_ID and DISCORD_GUILD_ID are set (slash commands in {} guild{}; REST at {})",
                        s.guilds.len(),
                        if s.guilds.len() == 1 { "" } else { "s" },
                        s.proxy_url.as_deref().unwrap_or(discord::DEFAULT_API_URL),
                    ),
                    Err(missing) => format!(
                        "discord: [discord] is configured, but {} not set (or unreadable) in this environment: `deckhand serve` needs {}",
                        deckhand::secrets::listed(&missing),
                        if missing.len() == 1 { "it" } else { "them" },
                    ),
                });
            }
            if let Some(line) = github_check(&cfg) {
                print_out(&line);
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// The apps whose recipe names a GitHub repository.
fn github_apps(config: &Config) -> Vec<String> {
    config
        .apps
        .iter()
        .filter(|r| r.repo.is_some())
        .map(|r| {
            format!(
                "{} ({})",
                r.app,
                r.repo.as_ref().map(|x| x.to_string()).unwrap_or_default()
            )
        })
        .collect()
}

/// `deckhand check`'s line on GitHub: which credentials are in use, or what is missing.
fn github_check(config: &Config) -> Option<String> {
    let apps = github_apps(config);
    if apps.is_empty() {
        return None;
    }
    Some(match github::Credentials::from_env(&config.github) {
        Ok(Some(c)) => format!("github: {} use {}", apps.join(", "), c.describe()),
        Ok(None) => format!(
            "github: {} name a repository, but no GitHub credentials are set: set GITHUB_TOKEN (or GITHUB_TOKEN_FILE), or a GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_FILE, GITHUB_APP_INSTALLATION_ID); until then their deploys are refused",
            apps.join(", ")
        ),
        Err(missing) => format!("github: {}: {missing}", apps.join(", ")),
    })
}

/// The GitHub client, when a recipe names a repository and credentials are set. Without
/// credentials deckhand runs, and says why it refuses those apps' deploys.
fn github_client(config: &Config) -> anyhow::Result<Option<Arc<dyn github::GitHub>>> {
    let apps = github_apps(config);
    if apps.is_empty() {
        return Ok(None);
    }
    match github::Credentials::from_env(&config.github) {
        Ok(Some(creds)) => {
            let client = github::Client::new(&creds, github::Options::from_env())
                .context("setting up the GitHub client")?;
            Ok(Some(Arc::new(client)))
        }
        Ok(None) => {
            eprintln!("deckhand: {}", github_check(config).unwrap_or_default());
            Ok(None)
        }
        Err(missing) => anyhow::bail!("GitHub: {missing}"),
    }
}

fn serve(config: Option<PathBuf>, data: PathBuf) -> ExitCode {
    let path = match config_path(config, &data) {
        Ok(p) => p,
        Err(err) => {
            eprintln!("deckhand: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    if config.slack.is_none() && config.discord.is_none() {
        eprintln!(
            "deckhand serve: no chat adapter is configured: add a `[slack]` table to {} (with SLACK_BOT_TOKEN and SLACK_APP_TOKEN in the environment) or a `[discord]` table (with DISCORD_TOKEN, DISCORD_APPLICATION_ID and DISCORD_GUILD_ID), or both. Use `deckhand console` to drive the bot from the terminal.",
            path.display()
        );
        return ExitCode::from(2);
    }
    let slack_secrets = match config.slack.as_ref().map(|_| slack::Secrets::from_env()) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(missing)) => {
            eprintln!(
                "deckhand serve: [slack] is configured but {} not set in the environment (the bot token `xoxb-…`, and the app-level token `xapp-…` with connections:write for Socket Mode or SLACK_SIGNING_SECRET for the Events API over HTTP; each may instead be in a file named by <NAME>_FILE; see README \"Slack\").",
                deckhand::secrets::listed(&missing),
            );
            return ExitCode::FAILURE;
        }
    };
    let discord_secrets = match config
        .discord
        .as_ref()
        .map(|_| discord::Secrets::from_env())
    {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(missing)) => {
            eprintln!(
                "deckhand serve: [discord] is configured but {} not set (or unreadable) in the environment (each may also be given as a file with <NAME>_FILE; see README \"Discord\").",
                deckhand::secrets::listed(&missing),
            );
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(run_serve(config, slack_secrets, discord_secrets, data));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("deckhand serve: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The bot in Slack, Discord or both (one engine, one queue) until a signal stops it.
async fn run_serve(
    config: Config,
    slack_secrets: Option<slack::Secrets>,
    discord_secrets: Option<discord::Secrets>,
    data: PathBuf,
) -> anyhow::Result<ExitCode> {
    // Taken first, before anything in the directory is written, and held until the process
    // ends.
    let _claim = DataDir::claim(&data)?;
    let grace = config.bot.shutdown_grace;
    let http = config.http.listen;
    // Events of every platform wait here for the engine, in the order they came; a full queue
    // holds Slack's acknowledgement and Discord's gateway reader back.
    let (events_tx, mut events) = tokio::sync::mpsc::channel(1024);
    let slack = match &slack_secrets {
        Some(s) => Some(slack::Slack::connect(s, &config).await?),
        None => None,
    };
    let mut discord = match &discord_secrets {
        Some(s) => {
            let catalog = discord::Catalog {
                apps: config
                    .apps
                    .iter()
                    .map(|r| r.app.as_str().to_owned())
                    .collect(),
                envs: config
                    .envs
                    .iter()
                    .map(|(e, _)| e.as_str().to_owned())
                    .collect(),
            };
            Some(discord::Discord::connect(s, catalog, events_tx.clone()).await?)
        }
        None => None,
    };
    let store = Store::open(&data.join("deckhand.db"))
        .await
        .with_context(|| format!("opening the deploy log in {}", data.display()))?;
    let exec = Arc::new(
        Router::new(&data, &config.ssh)
            .context("creating the directory for SSH control sockets")?,
    );
    let mut hub = Hub::new();
    if let Some(slack) = &slack {
        hub = hub.with(slack::PLATFORM, Arc::new(slack.out()));
    }
    if let Some(discord) = &discord {
        hub = hub.with(discord::PLATFORM, Arc::new(discord.out(&config.people)));
    }
    let github = github_client(&config)?;
    let bot = Bot::start_with_github(
        Arc::new(config),
        store,
        Arc::new(hub),
        exec,
        Clock::real(),
        github,
    )
    .await?;
    let slack_listener = match &slack {
        Some(slack) => {
            let listener = slack.listen(events_tx.clone(), http).await?;
            eprintln!(
                "deckhand serve: in Slack as <@{}> {} (data in {}).",
                slack.bot_user(),
                listener.describe(),
                data.display()
            );
            Some(listener)
        }
        None => None,
    };
    let discord_listener = match &mut discord {
        Some(discord) => {
            let listener = discord.start()?;
            eprintln!(
                "deckhand serve: in Discord as <@{}> {} (data in {}).",
                discord.bot_user(),
                listener.describe(),
                data.display()
            );
            Some(listener)
        }
        None => None,
    };
    drop(events_tx);
    let mut signals = Signals::new()?;
    // One event at a time, in the order the platforms sent them: the engine answers at once and
    // runs deploys in the background.
    let pump = async {
        while let Some(event) = events.recv().await {
            bot.handle(event).await;
        }
    };
    // The gateway connection ending for good ends the process (a supervisor restarts it, and
    // the operator sees why), rather than a bot that no longer hears Discord.
    let discord_ended = async {
        match &discord_listener {
            Some(l) => l.ended().await,
            None => std::future::pending().await,
        }
    };
    let code = tokio::select! {
        () = pump => ExitCode::FAILURE,
        why = discord_ended => {
            eprintln!("deckhand serve: {why}: stopping.");
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                if let Some(l) = &slack_listener {
                    l.shutdown().await;
                }
            })
            .await;
            bot.shutdown(grace).await;
            ExitCode::FAILURE
        }
        first = signals.next() => {
            // No event is taken once stopping; what Slack did not get acknowledged it sends again.
            let listeners = async {
                if let Some(l) = &slack_listener {
                    l.shutdown().await;
                }
                if let Some(l) = &discord_listener {
                    l.shutdown().await;
                }
            };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), listeners).await;
            stop(&bot, grace, first, &mut signals).await
        }
    };
    Ok(code)
}

async fn run_console(
    config: Option<PathBuf>,
    user: String,
    now: Option<String>,
    data: PathBuf,
) -> anyhow::Result<ExitCode> {
    let clock = match now {
        Some(t) => Clock::starting_at(
            chrono::DateTime::parse_from_rfc3339(&t)
                .with_context(|| {
                    format!("--now {t:?} is not an RFC 3339 time like 2026-11-27T18:00:00+01:00")
                })?
                .to_utc(),
        ),
        None => Clock::real(),
    };
    // Taken first, before anything in the directory is written, and held until the process
    // ends.
    let _claim = DataDir::claim(&data)?;
    let path = config_path(config, &data)?;
    let config = Config::load(&path).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let grace = config.bot.shutdown_grace;
    let store = Store::open(&data.join("deckhand.db"))
        .await
        .with_context(|| format!("opening the deploy log in {}", data.display()))?;
    let out = Arc::new(ConsoleOut::stdout());
    let exec = Arc::new(
        Router::new(&data, &config.ssh)
            .context("creating the directory for SSH control sockets")?,
    );
    // The bot speaks through a hub, as it will with several platforms. The console declares
    // no limits, so its outbox passes everything through in order: the protocol is unchanged.
    let chat = Arc::new(Hub::new().with(deckhand::chat::CONSOLE, out.clone()));
    let github = github_client(&config)?;
    let bot = Bot::start_with_github(Arc::new(config), store, chat, exec, clock, github).await?;
    if std::io::stdin().is_terminal() {
        // For a person at a terminal only: a script reading stdout sees just the protocol.
        eprintln!(
            "deckhand console: you are {user} in #console (data in {}). Type `help`, or `deploy api@v1.2.0 to staging`; /as <user>, /react <msg> <emoji>, /wait, /quit.",
            data.display()
        );
    }
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut signals = Signals::new()?;
    tokio::select! {
        done = console::run(&bot, &out, stdin, &user) => done.map(|()| ExitCode::SUCCESS),
        first = signals.next() => Ok(stop(&bot, grace, first, &mut signals).await),
    }
}

/// SIGTERM and SIGINT, as they come.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
        })
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// After a first signal: a graceful stop (exit 0), or a stop at once on a second (exit 1).
/// See docs/reliability.md.
async fn stop(
    bot: &Bot,
    grace: std::time::Duration,
    first: &str,
    signals: &mut Signals,
) -> ExitCode {
    eprintln!(
        "deckhand: {first} received: stopping. No new command or deploy is taken; running deploys get {} to finish. Send it again to stop at once.",
        deckhand::core::format::duration(grace)
    );
    tokio::select! {
        () = bot.shutdown(grace) => {
            eprintln!("deckhand: stopped.");
            ExitCode::SUCCESS
        }
        second = signals.next() => {
            bot.abort().await;
            eprintln!("deckhand: {second} received again: stopped at once; deploys in flight are recorded as interrupted and their hosts are checked at the next start.");
            ExitCode::FAILURE
        }
    }
}

/// `--config`, else `./config/deckhand.toml`, else the example embedded in the binary,
/// written under the data directory so its recipes resolve like files.
fn config_path(given: Option<PathBuf>, data: &Path) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let local = PathBuf::from("config/deckhand.toml");
    if local.exists() {
        return Ok(local);
    }
    deckhand::config::example::write_to(&data.join("example")).with_context(|| {
        format!(
            "writing the embedded example configuration under {}",
            data.display()
        )
    })
}

/// Prints a command's answer. A reader that went away (`deckhand check | head`) is not an
/// error worth a panic: the answer was for it alone.
fn print_out(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
