//! The Discord adapter, over serenity's gateway and REST client (docs: README "Discord").
//!
//! Invariant: this directory is the only one that imports serenity, and it translates at once:
//! a gateway dispatch becomes a [`ChatEvent`] inside serenity's event handler ([`events`]),
//! which only hands it to a channel (after acknowledging an interaction, which Discord wants
//! within 3 seconds) through [`order`], which puts a burst back in Discord's order, and what the engine says goes out through [`DiscordOut`] ([`out`]), a
//! [`ChatOut`] holding serenity's `Http`. No serenity type leaves this directory.
//!
//! - Channels are `discord:<channel id>` (a thread is a channel of its own on Discord);
//!   accounts `discord:<user id>`, with the member's roles as `discord-role:<id>` groups when
//!   Discord sent member data (guilds), `None` in DMs.
//! - Delivery ids: a message's id, `interaction:<id>` for a slash command or a button click,
//!   `react:<msg>:<user>:<emoji>` for a reaction (see [`events`]): a dispatch that a resumed
//!   gateway session replays is handled once.
//! - Slash commands `/deploy` and `/deckhand` ([`commands`]) are registered for the configured
//!   guilds at start (a bulk overwrite), deferred at once, and answered by editing the deferred
//!   response; refusals are ephemeral followups.
//! - An approval request has Approve and Deny buttons and the bot's own ✅/❌ as hints; a
//!   click becomes the `ReactionAdded` of ✅ or ❌ it stands for.
//! - The token is kept in [`Secrets`], whose `Debug` hides it; serenity keeps its own copy in
//!   a `SecretString`. Neither is logged nor printed.

pub mod commands;
pub mod events;
mod order;
pub mod out;

pub use out::DiscordOut;

use super::{ChatEvent, Limits};
use crate::secrets::{self, Missing};
use serenity::all::{
    ApplicationId, ChannelId, Client, GatewayIntents, GuildId, Http, HttpBuilder, ShardManager,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The platform's name, and the prefix of its channels (`discord:1234`).
pub const PLATFORM: &str = "discord";

/// Discord's own REST base, used when `DISCORD_PROXY_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://discord.com";

/// What Discord accepts: 2,000 characters a message (the outbox cuts longer text with a pointer
/// to `status` and `search`). Discord allows about 5 edits per 5 s in one channel; one edit of
/// a message every 2 s leaves room for a second deploy's status in the same channel, and
/// serenity's rate limiter (on in production) waits out the rest.
pub const LIMITS: Limits = Limits {
    max_chars: 2_000,
    edits: 1,
    per: Duration::from_secs(2),
};

/// How long a REST call may take: one with no answer by then is `Unavailable`, so a hung
/// connection never holds a message's writer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// The gateway intents deckhand needs, and no more: messages in guilds and DMs with their
/// content (MESSAGE_CONTENT is privileged: it is switched on in the developer portal), and
/// reactions in both. Interactions need no intent.
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::GUILD_MESSAGE_REACTIONS
        | GatewayIntents::DIRECT_MESSAGE_REACTIONS
}

/// The secrets and the REST base (`DISCORD_TOKEN`, `DISCORD_APPLICATION_ID`,
/// `DISCORD_GUILD_ID`, `DISCORD_PROXY_URL`, each from the environment or from the file named by
/// `<NAME>_FILE`). Its `Debug` hides the token.
#[derive(Clone)]
pub struct Secrets {
    pub token: String,
    pub application_id: u64,
    /// The guilds whose slash commands deckhand registers (one or more).
    pub guilds: Vec<u64>,
    /// A Discord-compatible REST base (a test server, an HTTP proxy), without a trailing `/`;
    /// `None` for Discord's own.
    pub proxy_url: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("token", &"<hidden>")
            .field("application_id", &self.application_id)
            .field("guilds", &self.guilds)
            .field("proxy_url", &self.proxy_url)
            .finish()
    }
}

impl Secrets {
    /// The secrets from the environment (or files), or what is missing or wrong, each naming
    /// its variable.
    pub fn from_env() -> Result<Secrets, Vec<Missing>> {
        let mut missing = Vec::new();
        let mut get =
            |name: &'static str| secrets::read(name).map_err(|why| missing.push(why)).ok();
        let token = get("DISCORD_TOKEN");
        let application = get("DISCORD_APPLICATION_ID");
        let guilds = get("DISCORD_GUILD_ID");
        let application_id = application.and_then(|a| match a.parse::<u64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                missing.push(Missing::Invalid(
                    "DISCORD_APPLICATION_ID",
                    "it is the application's id, a number",
                ));
                None
            }
        });
        let guilds = guilds.and_then(|g| match parse_ids(&g) {
            Some(ids) => Some(ids),
            None => {
                missing.push(Missing::Invalid(
                    "DISCORD_GUILD_ID",
                    "one or more guild ids, numbers separated by commas",
                ));
                None
            }
        });
        let proxy_url = match secrets::optional("DISCORD_PROXY_URL") {
            Ok(Some(p)) if !(p.starts_with("http://") || p.starts_with("https://")) => {
                missing.push(Missing::Invalid(
                    "DISCORD_PROXY_URL",
                    "a REST base such as http://127.0.0.1:8081",
                ));
                None
            }
            Ok(p) => p.map(|p| p.trim_end_matches('/').to_owned()),
            Err(unreadable) => {
                missing.push(unreadable);
                None
            }
        };
        match (token, application_id, guilds) {
            (Some(token), Some(application_id), Some(guilds)) if missing.is_empty() => {
                Ok(Secrets {
                    token,
                    application_id,
                    guilds,
                    proxy_url,
                })
            }
            _ => Err(missing),
        }
    }
}

/// `1, 2,3` as ids; `None` when one is not a number or there is none.
fn parse_ids(text: &str) -> Option<Vec<u64>> {
    let ids: Option<Vec<u64>> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().ok().filter(|id| *id > 0))
        .collect();
    ids.filter(|ids| !ids.is_empty())
}

/// The names `/deploy` offers as it is typed: the configured apps and envs.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub apps: Vec<String>,
    pub envs: Vec<String>,
}

/// serenity's client over `secrets`: through `DISCORD_PROXY_URL` when set (with serenity's
/// rate limiter off, since it would call Discord itself, and no system proxy), else to Discord
/// with its rate limiter on.
fn rest_client(secrets: &Secrets) -> anyhow::Result<Http> {
    let mut builder =
        HttpBuilder::new(&secrets.token).application_id(ApplicationId::new(secrets.application_id));
    if let Some(proxy) = &secrets.proxy_url {
        let client = reqwest012::Client::builder()
            .use_rustls_tls()
            .no_proxy()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|err| anyhow::anyhow!("building the HTTP client for Discord: {err}"))?;
        builder = builder
            .client(client)
            .proxy(proxy.clone())
            .ratelimiter_disabled(true);
    }
    Ok(builder.build())
}

/// A connected Discord: serenity's client (started by [`Discord::start`]) and who the bot is.
pub struct Discord {
    client: Option<Client>,
    http: Arc<Http>,
    bot_user: u64,
    gateway: String,
    registered: Vec<u64>,
}

impl Discord {
    /// Checks the token (`GET /users/@me`, failing with Discord's error named), finds the
    /// gateway (failing rather than letting serenity fall back to Discord's own), registers the
    /// slash commands in each guild (a failure is logged: prefix commands still work), and
    /// builds the client whose handler sends every event deckhand cares about to `events`.
    pub async fn connect(
        secrets: &Secrets,
        catalog: Catalog,
        events: mpsc::Sender<ChatEvent>,
    ) -> anyhow::Result<Discord> {
        let http = rest_client(secrets)?;
        let me = http.get_current_user().await.map_err(|err| {
            // A refusal is the token's; anything else (no network, a 5xx) is not.
            let refused = matches!(
                &err,
                serenity::Error::Http(serenity::all::HttpError::UnsuccessfulRequest(e))
                    if e.status_code.is_client_error()
            );
            anyhow::anyhow!(
                "{} (GET /users/@me): {}",
                if refused {
                    "Discord refused the bot token"
                } else {
                    "could not check the bot token with Discord"
                },
                out::describe(&err)
            )
        })?;
        let gateway = http.get_gateway().await.map_err(|err| {
            anyhow::anyhow!(
                "Discord did not say where its gateway is (GET /gateway): {}",
                out::describe(&err)
            )
        })?;
        let mut registered = Vec::new();
        let definitions = commands::definitions();
        for guild in &secrets.guilds {
            match http
                .create_guild_commands(GuildId::new(*guild), &definitions)
                .await
            {
                Ok(_) => registered.push(*guild),
                Err(err) => tracing::warn!(
                    "could not register the slash commands in the Discord guild {guild} (is deckhand invited there with the applications.commands scope?): {}",
                    out::describe(&err)
                ),
            }
        }
        let handler = events::Handler::new(events, me.id.get(), catalog);
        let client = serenity::all::ClientBuilder::new_with_http(rest_client(secrets)?, intents())
            .event_handler(handler)
            .await
            .map_err(|err| anyhow::anyhow!("Discord client: {err}"))?;
        Ok(Discord {
            http: client.http.clone(),
            client: Some(client),
            bot_user: me.id.get(),
            gateway: gateway.url,
            registered,
        })
    }

    /// The bot's own user id.
    pub fn bot_user(&self) -> u64 {
        self.bot_user
    }

    /// What the engine says, sent to Discord.
    /// What the engine says, sent to Discord; `people` are shown as `<@id>` mentions.
    pub fn out(&self, people: &crate::core::people::People) -> DiscordOut {
        DiscordOut::new(
            self.http.clone(),
            self.bot_user,
            crate::chat::mentions::of(people, PLATFORM),
        )
    }

    /// Opens the gateway and keeps it open: serenity reconnects and resumes after a drop.
    pub fn start(&mut self) -> anyhow::Result<Listener> {
        let mut client = self
            .client
            .take()
            .ok_or_else(|| anyhow::anyhow!("the Discord client was already started"))?;
        let shards = client.shard_manager.clone();
        let task = tokio::spawn(async move {
            match client.start().await {
                // serenity retries what can be retried: what ends here is for good (a token
                // revoked since, an intent not enabled in the developer portal).
                Err(err) => format!(
                    "Discord's gateway ended the connection for good: {err}{}",
                    if err.to_string().to_lowercase().contains("intent") {
                        " (switch MESSAGE CONTENT INTENT on under Bot → Privileged Gateway Intents in the developer portal)"
                    } else {
                        ""
                    }
                ),
                Ok(()) => "Discord's gateway connection ended".to_owned(),
            }
        });
        Ok(Listener {
            shards,
            task: tokio::sync::Mutex::new(Some(task)),
            describe: format!(
                "over the gateway at {} (slash commands in {})",
                self.gateway,
                match self.registered.len() {
                    0 => "no guild".to_owned(),
                    1 => "1 guild".to_owned(),
                    n => format!("{n} guilds"),
                }
            ),
        })
    }
}

/// The running gateway connection.
pub struct Listener {
    shards: Arc<ShardManager>,
    /// The client's task; it ends with why the gateway connection ended.
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<String>>>,
    describe: String,
}

impl Listener {
    /// Stops taking events: the gateway connection is closed.
    pub async fn shutdown(&self) {
        self.shards.shutdown_all().await;
        if let Some(task) = self.task.lock().await.take() {
            task.abort();
        }
    }

    /// Returns once the gateway connection ended for good (serenity reconnects and resumes by
    /// itself before that), saying why; never, once [`Listener::shutdown`] ran.
    pub async fn ended(&self) -> String {
        let mut task = self.task.lock().await;
        let Some(handle) = task.as_mut() else {
            return std::future::pending().await;
        };
        let why = match handle.await {
            Ok(why) => why,
            Err(err) => format!("the Discord client's task failed: {err}"),
        };
        task.take();
        why
    }

    /// How events arrive, for the start-up line.
    pub fn describe(&self) -> &str {
        &self.describe
    }
}

/// `discord:<id>` for a Discord channel.
fn channel_name(id: ChannelId) -> String {
    format!("{PLATFORM}:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guild_ids_are_numbers_separated_by_commas() {
        assert_eq!(parse_ids("1, 2,3"), Some(vec![1, 2, 3]));
        assert_eq!(parse_ids("123"), Some(vec![123]));
        assert_eq!(parse_ids("12a"), None);
        assert_eq!(parse_ids(" , "), None);
    }

    #[test]
    fn secrets_debug_hides_the_token() {
        let s = Secrets {
            token: "MTIz.secret-token".into(),
            application_id: 1,
            guilds: vec![2],
            proxy_url: None,
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("<hidden>"));
    }
}
