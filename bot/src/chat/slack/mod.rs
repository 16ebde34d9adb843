//! The Slack adapter, over Socket Mode or the Events API over HTTP ([`http`]) (docs: README
//! "Slack").
//!
//! Invariant: this module (with its child [`http`]) is the only one that imports slack-morphism,
//! and it translates at once: a Slack event becomes a [`ChatEvent`] inside the Socket Mode
//! listener's callback or the HTTP handler, which only hand it to a channel (the envelope is
//! acknowledged when the callback returns; the HTTP request answered once it is queued), and
//! what the engine says goes out through [`SlackOut`], a [`ChatOut`]. No slack-morphism type
//! leaves this module.
//!
//! - Channels are `slack:<channel id>` on deckhand's side; accounts `slack:<user id>`, named
//!   by `users.info` ([`people`]); people of `[people]` are shown as `<@U…>` mentions.
//! - The delivery id of a message is its channel and `ts`: Socket Mode may deliver one event on
//!   two connections, Slack retries, and a mention arrives both as `message` and `app_mention`;
//!   the engine handles a delivery once. Other events' is their `event_id`.
//! - Slash commands ([`commands`]) are messages typed to the bot; their refusals are ephemeral.
//! - The user groups `[groups]` names (`slack-group:S0…`) are listed at start and every
//!   [`people::GROUPS_REFRESH`], and handed to the engine as [`ChatEvent::Members`].
//! - An approval request ([`ChatOut::post_request`]) has Approve and Deny buttons and the
//!   bot's own ✅/❌ as hints; a click (a `block_actions` interaction) becomes the
//!   `ReactionAdded` of ✅ or ❌ it stands for, so the engine's approval rules apply as they are.
//!   The bot's own reactions are dropped.
//! - Reconnecting is slack-morphism's: each of its (two, by default) WebSocket connections is
//!   opened with `apps.connections.open`; one that closes, is asked to disconnect by Slack, or
//!   stops answering pings (5 missed, one every 15 s) is replaced by a new one; a failed
//!   connection attempt is retried every 30 s.
//! - Tokens are kept in slack-morphism's token type, whose `Debug` shows only their length;
//!   they are never logged nor printed.

pub mod commands;
pub mod http;
pub mod people;

use crate::secrets::{self, Missing};

use super::{
    Account, ChatError, ChatEvent, ChatOut, Conversation, Limits, Message, MsgId, Reaction,
    mentions,
};
use async_trait::async_trait;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The platform's name, and the prefix of its channels (`slack:C0OPS`).
pub const PLATFORM: &str = "slack";

/// Slack's own Web API base; `SLACK_API_URL` replaces it.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// What deckhand asks of Slack. Slack takes messages up to 40,000 characters, but a status
/// message or a thread batch longer than ~3,000 is unreadable there (and the Block Kit section of
/// an approval request holds 3,000): the outbox cuts at 3,000 with a pointer to `status`
/// and `search`. `chat.update` is a Tier 3 method (~50 a minute per workspace); one edit a
/// second per message keeps a few deploys at once under it, and a 429 is waited out anyway.
pub const LIMITS: Limits = Limits {
    max_chars: 3_000,
    edits: 1,
    per: Duration::from_secs(1),
};

/// How long a Web API call may take: one with no answer by then is `Unavailable`, so a hung
/// connection never holds a message's writer (the outbox retries; an edit is idempotent, a post
/// that did get through may then show twice).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// `call`, or `Unavailable` when Slack did not answer within [`CALL_TIMEOUT`].
async fn answered<T>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, SlackClientError>>,
) -> Result<T, ChatError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(chat_error),
        Err(_) => Err(ChatError::Unavailable(anyhow::anyhow!(
            "Slack: no answer to {what} within {CALL_TIMEOUT:?}"
        ))),
    }
}

type Connector = SlackClientHyperConnector<HttpsConnector<HttpConnector>>;

/// How Slack's events reach deckhand.
#[derive(Clone)]
pub enum Transport {
    /// Socket Mode, with the app-level token (`SLACK_APP_TOKEN`, `xapp-…`).
    SocketMode { app_token: String },
    /// The Events API over HTTP on `[http] listen`, requests signed with
    /// `SLACK_SIGNING_SECRET` ([`http`]).
    Http { signing_secret: String },
}

/// The secrets and the address of the Web API (from the environment: `SLACK_BOT_TOKEN`,
/// `SLACK_APP_TOKEN` or `SLACK_SIGNING_SECRET`, `SLACK_API_URL`). Its `Debug` hides the
/// secrets.
#[derive(Clone)]
pub struct Secrets {
    pub bot_token: String,
    pub transport: Transport,
    /// The Web API base, without a trailing `/` (`https://slack.com/api`).
    pub api_url: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Transport::SocketMode { .. } => "Socket Mode (app token <hidden>)",
            Transport::Http { .. } => "HTTP (signing secret <hidden>)",
        };
        f.debug_struct("Secrets")
            .field("bot_token", &"<hidden>")
            .field("transport", &transport)
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl Secrets {
    /// The secrets from the environment (each `NAME` or a file named by `NAME_FILE`, see
    /// [`crate::secrets`]), or what is missing. `SLACK_APP_TOKEN` chooses Socket Mode; without
    /// it, `SLACK_SIGNING_SECRET` chooses the Events API over HTTP; with neither,
    /// `SLACK_APP_TOKEN` is named missing.
    pub fn from_env() -> Result<Secrets, Vec<Missing>> {
        let bot = secrets::read("SLACK_BOT_TOKEN");
        let transport = match (
            secrets::read("SLACK_APP_TOKEN"),
            secrets::read("SLACK_SIGNING_SECRET"),
        ) {
            (Ok(app_token), _) => Ok(Transport::SocketMode { app_token }),
            (Err(Missing::Unset(_)), Ok(signing_secret)) => Ok(Transport::Http { signing_secret }),
            (Err(app), _) => Err(app),
        };
        match (bot, transport) {
            (Ok(bot_token), Ok(transport)) => Ok(Secrets {
                bot_token,
                transport,
                api_url: std::env::var("SLACK_API_URL")
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .map_or_else(
                        || DEFAULT_API_URL.to_owned(),
                        |u| u.trim().trim_end_matches('/').to_owned(),
                    ),
            }),
            (bot, transport) => Err([bot.err(), transport.err()].into_iter().flatten().collect()),
        }
    }
}

/// A connected Slack: the client, the tokens, and who the bot is there.
pub struct Slack {
    client: Arc<SlackClient<Connector>>,
    bot_token: SlackApiToken,
    /// Display names and user groups.
    directory: Arc<people::Directory>,
    /// The people with a Slack account, for mentions.
    mentions: Arc<mentions::Mentions>,
    /// The user groups the configuration names (`S0…`).
    groups: Vec<String>,
    /// Socket Mode's app-level token; `None` over HTTP.
    app_token: Option<SlackApiToken>,
    /// The Events API's signing secret; `None` over Socket Mode.
    signing_secret: Option<String>,
    /// The bot's own user id (`auth.test`).
    bot_user: String,
}

/// Why Slack could not be joined: Slack's error code when it gave one (`invalid_auth`).
fn describe(err: &SlackClientError) -> String {
    match err {
        SlackClientError::ApiError(e) => e.code.clone(),
        SlackClientError::HttpError(e) => format!("HTTP {}", e.status_code),
        SlackClientError::RateLimitError(_) => "rate limited (HTTP 429)".to_owned(),
        SlackClientError::HttpProtocolError(e) => format!(
            "could not reach the Web API: {}",
            e.cause
                .as_ref()
                .map_or_else(|| "no cause given".to_owned(), |c| c.to_string())
        ),
        other => other.to_string(),
    }
}

impl Slack {
    /// Builds the client and checks the bot token with `auth.test`; fails naming Slack's
    /// error (`invalid_auth`, `account_inactive`, …). `config` gives the people to mention and
    /// the user groups to list.
    pub async fn connect(
        secrets: &Secrets,
        config: &crate::config::Config,
    ) -> anyhow::Result<Slack> {
        // Plain http is accepted for a test server or a local proxy (`SLACK_API_URL`);
        // slack-morphism's own connector is https-only.
        let tls = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => b,
            Err(err) => {
                tracing::warn!(
                    "no system root certificates ({err}): only a plain-http SLACK_API_URL will work"
                );
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
            }
        };
        let connector =
            SlackClientHyperConnector::with_connector(tls.https_or_http().enable_http1().build())
                .with_slack_api_url(&secrets.api_url);
        let client = Arc::new(SlackClient::new(connector));
        let bot_token = SlackApiToken::new(secrets.bot_token.clone().into());
        let app_token = match &secrets.transport {
            Transport::SocketMode { app_token } => {
                Some(SlackApiToken::new(app_token.clone().into()))
            }
            Transport::Http { .. } => None,
        };
        let signing_secret = match &secrets.transport {
            Transport::SocketMode { .. } => None,
            Transport::Http { signing_secret } => Some(signing_secret.clone()),
        };
        let me = client
            .open_session(&bot_token)
            .auth_test()
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "Slack refused the bot token (auth.test): {}",
                    describe(&err)
                )
            })?;
        Ok(Slack {
            directory: Arc::new(people::Directory::new(client.clone(), bot_token.clone())),
            mentions: Arc::new(mentions::of(&config.people, PLATFORM)),
            groups: config
                .platform_group_entries()
                .into_iter()
                .filter_map(|g| g.strip_prefix(GROUP_PREFIX))
                .map(str::to_owned)
                .collect(),
            client,
            bot_token,
            app_token,
            signing_secret,
            bot_user: me.user_id.to_string(),
        })
    }

    /// The bot's own Slack user id.
    pub fn bot_user(&self) -> &str {
        &self.bot_user
    }

    /// What the engine says, sent to Slack.
    pub fn out(&self) -> SlackOut {
        SlackOut {
            client: self.client.clone(),
            token: self.bot_token.clone(),
            bot_user: self.bot_user.clone(),
            mentions: self.mentions.clone(),
        }
    }

    /// Starts taking events, over the transport the secrets chose: Socket Mode's connections,
    /// or the Events API's HTTP listener on `http` (`[http] listen`): events, slash commands
    /// and button clicks either way. Every event deckhand cares about is translated, its
    /// account named, and sent to `events` (over Socket Mode a full channel holds the
    /// acknowledgement back, so Slack redelivers rather than deckhand losing it; over HTTP it
    /// is answered 503, and Slack sends it again). The configured user groups are listed now
    /// and every [`people::GROUPS_REFRESH`].
    pub async fn listen(
        &self,
        events: mpsc::Sender<ChatEvent>,
        http: std::net::SocketAddr,
    ) -> anyhow::Result<Listener> {
        let refresher = (!self.groups.is_empty()).then(|| {
            tokio::spawn(refresh_groups(
                self.directory.clone(),
                self.groups.clone(),
                events.clone(),
            ))
        });
        let state = ListenerState {
            events,
            bot_user: self.bot_user.clone(),
            directory: self.directory.clone(),
        };
        if let Some(secret) = &self.signing_secret {
            let server = http::serve(http, secret, state).await?;
            return Ok(Listener(Transports::Http(server), refresher));
        }
        let Some(app_token) = &self.app_token else {
            anyhow::bail!("Slack Socket Mode needs an app-level token (SLACK_APP_TOKEN)");
        };
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_push_events(on_push_event)
            .with_interaction_events(on_interaction)
            .with_command_events(on_command);
        let environment = Arc::new(
            SlackClientEventsListenerEnvironment::new(self.client.clone())
                .with_error_handler(on_error)
                .with_user_state(state),
        );
        let listener = SlackClientSocketModeListener::new(
            &SlackClientSocketModeConfig::new(),
            environment,
            callbacks,
        );
        listener
            .listen_for(app_token)
            .await
            .map_err(|err| anyhow::anyhow!("Slack Socket Mode: {}", describe(&err)))?;
        listener.start().await;
        Ok(Listener(Transports::SocketMode(listener), refresher))
    }
}

/// The prefix of a user group entry in `[groups]`.
const GROUP_PREFIX: &str = "slack-group:";

/// Lists the members of each user group now and every [`people::GROUPS_REFRESH`], for the
/// engine; ends when the engine stops taking events. A group Slack will not list keeps what
/// was known of it (a warning names Slack's error).
async fn refresh_groups(
    directory: Arc<people::Directory>,
    groups: Vec<String>,
    events: mpsc::Sender<ChatEvent>,
) {
    let mut every = tokio::time::interval(people::GROUPS_REFRESH);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        for group in &groups {
            match directory.members(group).await {
                Ok(users) => {
                    let accounts = users.iter().map(|u| account(u)).collect();
                    let event = ChatEvent::Members {
                        group: format!("{GROUP_PREFIX}{group}"),
                        accounts,
                    };
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
                Err(err) => tracing::warn!(
                    "Slack: could not list the members of user group {group} ({err:#}; is the usergroups:read scope granted?); its members stay as last known"
                ),
            }
        }
    }
}

/// The running transport (Socket Mode's connections or the Events API's HTTP listener), and
/// the task listing user groups.
pub struct Listener(Transports, Option<tokio::task::JoinHandle<()>>);

enum Transports {
    SocketMode(SlackClientSocketModeListener<Connector>),
    Http(http::Server),
}

impl Listener {
    /// Stops taking events: the connections are closed, or the HTTP listener stops accepting.
    pub async fn shutdown(&self) {
        if let Some(refresher) = &self.1 {
            refresher.abort();
        }
        match &self.0 {
            Transports::SocketMode(listener) => listener.shutdown().await,
            Transports::Http(server) => server.shutdown(),
        }
    }

    /// How events arrive, for the start-up line: `over Socket Mode`, or the Events API's URL.
    pub fn describe(&self) -> String {
        match &self.0 {
            Transports::SocketMode(_) => "over Socket Mode".to_owned(),
            Transports::Http(server) => format!(
                "over the Events API at http://{}{}",
                server.local_addr(),
                http::EVENTS_PATH
            ),
        }
    }
}

/// What the transports need to hand events over: kept in the Socket Mode listener's user
/// state (its callbacks are plain `fn`s), or held by the HTTP handler.
#[derive(Clone)]
struct ListenerState {
    events: mpsc::Sender<ChatEvent>,
    bot_user: String,
    directory: Arc<people::Directory>,
}

impl ListenerState {
    /// `event` with its account named by Slack ([`people::Directory`]).
    async fn named(&self, event: ChatEvent) -> ChatEvent {
        match event {
            ChatEvent::Message(mut m) => {
                m.from = self.directory.named(m.from).await;
                ChatEvent::Message(m)
            }
            ChatEvent::ReactionAdded(mut r) => {
                r.from = self.directory.named(r.from).await;
                ChatEvent::ReactionAdded(r)
            }
            ChatEvent::ReactionRemoved(mut r) => {
                r.from = self.directory.named(r.from).await;
                ChatEvent::ReactionRemoved(r)
            }
            other => other,
        }
    }

    /// Names the event's account and hands it to the engine, waiting while its queue is full.
    async fn hand_over(&self, event: ChatEvent) -> UserCallbackResult<()> {
        let event = self.named(event).await;
        // Only handed over: the engine handles it in its own task.
        self.events.send(event).await?;
        Ok(())
    }
}

/// The listener's state, out of slack-morphism's user state.
async fn listener_state(state: &SlackClientEventsUserState) -> Option<ListenerState> {
    state
        .read()
        .await
        .get_user_state::<ListenerState>()
        .cloned()
}

async fn on_push_event(
    event: SlackPushEventCallback,
    _client: Arc<SlackClient<Connector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let Some(state) = listener_state(&state).await else {
        return Ok(());
    };
    match translate(&event, &state.bot_user) {
        Some(ev) => state.hand_over(ev).await,
        None => Ok(()),
    }
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackClient<Connector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let Some(state) = listener_state(&state).await else {
        return Ok(());
    };
    match click(&event) {
        Some(ev) => state.hand_over(ev).await,
        None => Ok(()),
    }
}

/// A slash command: handed to the engine, then acknowledged with no message of its own (the
/// engine's answer is posted in the channel, a refusal to the asker only).
async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackClient<Connector>>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    if let Some(state) = listener_state(&state).await {
        state.hand_over(commands::translate(&event)).await?;
    }
    // slack-morphism acknowledges an error with an empty envelope: the bare acknowledgement
    // Slack takes as "received, nothing to show".
    Err(Box::new(BareAck))
}

/// Not a failure: how [`on_command`] asks for a bare acknowledgement (see [`on_error`]).
#[derive(Debug)]
struct BareAck;

impl std::fmt::Display for BareAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("acknowledged with no message")
    }
}

impl std::error::Error for BareAck {}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackClient<Connector>>,
    _state: SlackClientEventsUserState,
) -> HttpStatusCode {
    if !err.is::<BareAck>() {
        tracing::warn!("Slack Socket Mode: {err}");
    }
    HttpStatusCode::OK
}

/// A Slack account, shown by its id until [`people::Directory`] names it.
fn account(user: &str) -> Account {
    Account::new(PLATFORM, user, user)
}

/// A Slack event as deckhand's, or `None` for what deckhand ignores: other bots' and its own
/// messages, edits, deletions and other message subtypes, reactions on files, other events.
fn translate(event: &SlackPushEventCallback, bot_user: &str) -> Option<ChatEvent> {
    let delivery = Some(event.event_id.to_string());
    match &event.event {
        SlackEventCallbackBody::AppMention(m) => {
            let user = m.user.to_string();
            if user == bot_user || m.edited.is_some() {
                return None;
            }
            typed(
                m.channel.as_ref(),
                &m.origin,
                &user,
                m.content.text.as_deref()?,
                false,
            )
        }
        SlackEventCallbackBody::Message(m) => {
            // A subtype is an edit, a deletion, a join, a bot's post…: only what a person
            // typed is a command (a reply also sent to the channel included).
            if m.subtype
                .as_ref()
                .is_some_and(|t| *t != SlackMessageEventType::ThreadBroadcast)
                || m.sender.bot_id.is_some()
            {
                return None;
            }
            let user = m.sender.user.as_ref()?.to_string();
            if user == bot_user {
                return None;
            }
            let channel = m.origin.channel.as_ref()?.to_string();
            let direct = m.origin.channel_type.as_ref().is_some_and(|t| t.0 == "im");
            typed(
                &channel,
                &m.origin,
                &user,
                m.content.as_ref()?.text.as_deref()?,
                direct,
            )
        }
        SlackEventCallbackBody::ReactionAdded(r) => {
            reaction(&r.user, &r.reaction, &r.item, bot_user, delivery)
                .map(ChatEvent::ReactionAdded)
        }
        SlackEventCallbackBody::ReactionRemoved(r) => {
            reaction(&r.user, &r.reaction, &r.item, bot_user, delivery)
                .map(ChatEvent::ReactionRemoved)
        }
        _ => None,
    }
}

/// A message someone typed. Its delivery id is its channel and `ts`: the same message as a
/// `message` and an `app_mention` event, or sent twice, is one delivery.
fn typed(
    channel: &str,
    origin: &SlackMessageOrigin,
    user: &str,
    text: &str,
    direct: bool,
) -> Option<ChatEvent> {
    Some(ChatEvent::Message(Message {
        place: Conversation::thread(
            &format!("{PLATFORM}:{channel}"),
            origin.thread_ts.as_ref().map(|t| t.to_string()),
        ),
        id: Some(origin.ts.to_string()),
        delivery: Some(format!("message:{channel}:{}", origin.ts)),
        from: account(user),
        text: unescape(text),
        direct,
        from_bot: false,
    }))
}

fn reaction(
    user: &SlackUserId,
    name: &SlackReactionName,
    item: &SlackReactionsItem,
    bot_user: &str,
    delivery: Option<String>,
) -> Option<Reaction> {
    let SlackReactionsItem::Message(msg) = item else {
        return None;
    };
    let user = user.to_string();
    if user == bot_user {
        // The bot's own ✅/❌ hints on its requests: never a vote, and nothing to explain.
        return None;
    }
    Some(Reaction {
        channel: format!("{PLATFORM}:{}", msg.origin.channel.as_ref()?),
        from_bot: false,
        from: account(&user),
        message: msg.origin.ts.to_string(),
        // `+1::skin-tone-4` as Slack writes it: `core::emoji` folds the tone.
        emoji: name.to_string(),
        delivery,
    })
}

/// The `action_id` of the Approve button on an approval request.
pub const APPROVE_ACTION: &str = "deckhand_approve";
/// The `action_id` of the Deny button.
pub const DENY_ACTION: &str = "deckhand_deny";
/// The reactions the bot adds to its approval requests as hints, and what a click on
/// Approve or Deny stands for: the shipped `approve_with` / `deny_with` start with these.
pub const APPROVE_EMOJI: &str = "white_check_mark";
pub const DENY_EMOJI: &str = "x";

/// A click on an approval request's Approve or Deny button, as the reaction it stands for
/// (`None` for any other interaction). Its delivery id is the click's `action_ts` and the
/// user, so a click delivered on both connections counts once.
fn click(event: &SlackInteractionEvent) -> Option<ChatEvent> {
    let SlackInteractionEvent::BlockActions(e) = event else {
        return None;
    };
    let SlackInteractionActionContainer::Message(container) = &e.container else {
        return None;
    };
    let user = e.user.as_ref()?.id.to_string();
    let channel = container
        .channel_id
        .as_ref()
        .or(e.channel.as_ref().map(|c| &c.id))?
        .to_string();
    let action = e.actions.as_ref()?.first()?;
    let emoji = match action.action_id.to_string().as_str() {
        APPROVE_ACTION => APPROVE_EMOJI,
        DENY_ACTION => DENY_EMOJI,
        _ => return None,
    };
    let at = action
        .action_ts
        .as_ref()
        .map_or_else(|| e.trigger_id.to_string(), |t| t.to_string());
    Some(ChatEvent::ReactionAdded(Reaction {
        channel: format!("{PLATFORM}:{channel}"),
        from: account(&user),
        message: container.message_ts.to_string(),
        emoji: emoji.to_owned(),
        from_bot: false,
        delivery: Some(format!("click:{at}:{user}")),
    }))
}

/// The Block Kit of an approval request: the text, then Approve and Deny buttons.
/// `shown` is Slack text already ([`SlackOut::text`]).
fn request_blocks(shown: &str, deploy: i64) -> Vec<SlackBlock> {
    let button = |label: &str, action: &str, style| {
        SlackActionBlockElement::from(
            SlackBlockButtonElement::new(label.into())
                .with_action_id(SlackActionId::new(action.to_owned()))
                .with_value(format!("#{deploy}"))
                .with_style(style),
        )
    };
    vec![
        SlackSectionBlock::new()
            .with_text(SlackBlockText::from(SlackBlockMarkDownText::new(
                shown.to_owned(),
            )))
            .into(),
        SlackActionsBlock::new(vec![
            button("Approve", APPROVE_ACTION, SlackBlockButtonStyle::Primary),
            button("Deny", DENY_ACTION, SlackBlockButtonStyle::Danger),
        ])
        .into(),
    ]
}

/// Posts and edits in Slack (`chat.postMessage`, `chat.update`) with the bot token.
pub struct SlackOut {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
    bot_user: String,
    mentions: Arc<mentions::Mentions>,
}

impl SlackOut {
    /// What deckhand says, as Slack text: markup characters escaped, people mentioned.
    fn text(&self, text: &str) -> String {
        mentions::mention(&escape(text), &self.mentions)
    }
}

/// Slack's id of a `slack:C…` channel.
fn channel_id(channel: &str) -> Result<SlackChannelId, ChatError> {
    channel
        .strip_prefix("slack:")
        .filter(|id| !id.is_empty())
        .map(|id| SlackChannelId::new(id.to_owned()))
        .ok_or_else(|| ChatError::Refused(anyhow::anyhow!("`{channel}` is not a Slack channel")))
}

/// Slack sends what people typed with `&`, `<` and `>` escaped (its markup, `<@U…>`, is
/// not): `deny #1 <reason> & more` arrives as `deny #1 &lt;reason&gt; &amp; more`.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Slack reads `&`, `<` and `>` as markup (`<@U…>`, `<!here>`): what deckhand says is text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack's errors that trying again may cure.
const TRANSIENT: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
];

fn chat_error(err: SlackClientError) -> ChatError {
    match err {
        SlackClientError::RateLimitError(e) => ChatError::RateLimited {
            retry_after: e.retry_after,
        },
        SlackClientError::ApiError(e) if TRANSIENT.contains(&e.code.as_str()) => {
            ChatError::Unavailable(anyhow::anyhow!("Slack: {}", e.code))
        }
        SlackClientError::ApiError(e) => ChatError::Refused(anyhow::anyhow!("Slack: {}", e.code)),
        SlackClientError::HttpError(e) if e.status_code.is_server_error() => {
            ChatError::Unavailable(anyhow::anyhow!("Slack: HTTP {}", e.status_code))
        }
        SlackClientError::HttpError(e) => {
            ChatError::Refused(anyhow::anyhow!("Slack: HTTP {}", e.status_code))
        }
        // An answer that does not decode: sent again, it could be posted twice.
        SlackClientError::ProtocolError(e) => ChatError::Refused(anyhow::anyhow!(
            "Slack: an answer deckhand cannot read: {e}"
        )),
        other => ChatError::Unavailable(anyhow::anyhow!("Slack: {}", describe(&other))),
    }
}

#[async_trait]
impl ChatOut for SlackOut {
    fn limits(&self) -> Limits {
        LIMITS
    }

    fn mentions(&self) -> Vec<String> {
        vec![format!("<@{}>", self.bot_user)]
    }

    async fn post(&self, to: &Conversation, text: &str) -> Result<MsgId, ChatError> {
        let request = SlackApiChatPostMessageRequest::new(
            channel_id(&to.channel)?,
            SlackMessageContent::new().with_text(self.text(text)),
        )
        .opt_thread_ts(to.thread.clone().map(SlackTs::new));
        let session = self.client.open_session(&self.token);
        let answer = answered("chat.postMessage", session.chat_post_message(&request)).await?;
        Ok(answer.ts.to_string())
    }

    /// The request with Approve/Deny buttons (the text is also the notification's fallback),
    /// then the bot's own ✅ and ❌ as hints: a failed `reactions.add` is only logged.
    async fn post_request(
        &self,
        to: &Conversation,
        text: &str,
        deploy: i64,
    ) -> Result<MsgId, ChatError> {
        let channel = channel_id(&to.channel)?;
        let shown = self.text(text);
        let request = SlackApiChatPostMessageRequest::new(
            channel.clone(),
            SlackMessageContent::new()
                .with_blocks(request_blocks(&shown, deploy))
                .with_text(shown),
        )
        .opt_thread_ts(to.thread.clone().map(SlackTs::new));
        let session = self.client.open_session(&self.token);
        let answer = answered("chat.postMessage", session.chat_post_message(&request)).await?;
        for name in [APPROVE_EMOJI, DENY_EMOJI] {
            let hint = SlackApiReactionsAddRequest::new(
                channel.clone(),
                SlackReactionName::new(name.to_owned()),
                answer.ts.clone(),
            );
            if let Err(err) = answered("reactions.add", session.reactions_add(&hint)).await {
                tracing::warn!(
                    "could not add the hint :{name}: to #{deploy}'s request in {}: {err:#}",
                    to.channel
                );
            }
        }
        Ok(answer.ts.to_string())
    }

    /// Where the command was a slash command, an ephemeral message to whoever typed it
    /// (`chat.postEphemeral`); elsewhere a post.
    async fn refuse(&self, to: &Conversation, text: &str) -> Result<Option<MsgId>, ChatError> {
        let Some(user) = &to.invocation else {
            return self.post(to, text).await.map(Some);
        };
        let request = SlackApiChatPostEphemeralRequest::new(
            channel_id(&to.channel)?,
            SlackUserId::new(user.clone()),
            SlackMessageContent::new().with_text(self.text(text)),
        )
        .opt_thread_ts(to.thread.clone().map(SlackTs::new));
        let session = self.client.open_session(&self.token);
        answered("chat.postEphemeral", session.chat_post_ephemeral(&request)).await?;
        Ok(None)
    }

    async fn edit(&self, channel: &str, msg: &MsgId, text: &str) -> Result<(), ChatError> {
        // An edit shows its text alone: `blocks: []` removes a request's section and buttons,
        // which would otherwise go on showing the old text (Slack keeps blocks not replaced).
        self.update(channel, msg, self.text(text), Vec::new()).await
    }

    /// A request still waiting keeps its Approve and Deny buttons.
    async fn edit_request(
        &self,
        channel: &str,
        msg: &MsgId,
        text: &str,
        deploy: i64,
    ) -> Result<(), ChatError> {
        let shown = self.text(text);
        let blocks = request_blocks(&shown, deploy);
        self.update(channel, msg, shown, blocks).await
    }
}

impl SlackOut {
    /// `chat.update` of the bot's message `msg` to `shown` (Slack text) and `blocks`.
    async fn update(
        &self,
        channel: &str,
        msg: &MsgId,
        shown: String,
        blocks: Vec<SlackBlock>,
    ) -> Result<(), ChatError> {
        let request = SlackApiChatUpdateRequest::new(
            channel_id(channel)?,
            SlackMessageContent::new()
                .with_text(shown)
                .with_blocks(blocks),
            SlackTs::new(msg.clone()),
        );
        let session = self.client.open_session(&self.token);
        answered("chat.update", session.chat_update(&request)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(event: serde_json::Value) -> SlackPushEventCallback {
        serde_json::from_value(serde_json::json!({
            "team_id": "T0", "api_app_id": "A0", "event_id": "Ev1", "event_time": 1,
            "type": "event_callback", "event": event,
        }))
        .unwrap()
    }

    #[test]
    fn a_message_in_a_thread_becomes_a_chat_message() {
        let ev = push(serde_json::json!({
            "type": "message", "channel": "C0OPS", "user": "U0ALICE", "text": "!status",
            "ts": "2.0", "thread_ts": "1.0", "channel_type": "channel",
        }));
        let Some(ChatEvent::Message(m)) = translate(&ev, "U0BOT") else {
            panic!("not translated: {ev:?}");
        };
        assert_eq!(m.place.channel, "slack:C0OPS");
        assert_eq!(m.place.thread.as_deref(), Some("1.0"));
        assert_eq!(m.id.as_deref(), Some("2.0"));
        assert_eq!(m.delivery.as_deref(), Some("message:C0OPS:2.0"));
        assert_eq!(m.from.key(), "slack:U0ALICE");
        assert!(!m.direct);
    }

    #[test]
    fn a_direct_message_needs_no_prefix() {
        let ev = push(serde_json::json!({
            "type": "message", "channel": "D0ALICE", "user": "U0ALICE", "text": "status",
            "ts": "2.0", "channel_type": "im",
        }));
        let Some(ChatEvent::Message(m)) = translate(&ev, "U0BOT") else {
            panic!("not translated");
        };
        assert!(m.direct);
        assert_eq!(m.place, Conversation::channel("slack:D0ALICE"));
    }

    #[test]
    fn edits_bots_and_the_bot_itself_are_ignored() {
        let edited = push(serde_json::json!({
            "type": "message", "subtype": "message_changed", "channel": "C0OPS", "ts": "2.0",
            "message": {"type": "message", "user": "U0ALICE", "text": "!deploy api", "ts": "1.0"},
        }));
        assert_eq!(translate(&edited, "U0BOT"), None);
        let own = push(serde_json::json!({
            "type": "message", "channel": "C0OPS", "user": "U0BOT", "text": "!deploy", "ts": "3.0",
        }));
        assert_eq!(translate(&own, "U0BOT"), None);
        let bot = push(serde_json::json!({
            "type": "message", "channel": "C0OPS", "user": "U0OTHER", "bot_id": "B1",
            "text": "!deploy", "ts": "3.0",
        }));
        assert_eq!(translate(&bot, "U0BOT"), None);
    }

    #[test]
    fn a_reaction_names_the_message_it_is_on() {
        let ev = push(serde_json::json!({
            "type": "reaction_added", "user": "U0CAROL", "reaction": "+1::skin-tone-2",
            "item": {"type": "message", "channel": "C0OPS", "ts": "5.0"}, "event_ts": "6.0",
        }));
        let Some(ChatEvent::ReactionAdded(r)) = translate(&ev, "U0BOT") else {
            panic!("not translated");
        };
        assert_eq!(
            (r.channel.as_str(), r.message.as_str(), r.emoji.as_str()),
            ("slack:C0OPS", "5.0", "+1::skin-tone-2")
        );
        assert!(!r.from_bot);
    }

    #[test]
    fn the_bots_own_reactions_are_dropped() {
        let ev = push(serde_json::json!({
            "type": "reaction_added", "user": "U0BOT", "reaction": "white_check_mark",
            "item": {"type": "message", "channel": "C0OPS", "ts": "5.0"}, "event_ts": "6.0",
        }));
        assert_eq!(translate(&ev, "U0BOT"), None);
    }

    fn block_actions(action_id: &str) -> SlackInteractionEvent {
        serde_json::from_value(serde_json::json!({
            "type": "block_actions",
            "user": {"id": "U0CAROL", "username": "carol", "name": "carol", "team_id": "T0"},
            "api_app_id": "A0", "token": "t", "trigger_id": "1.2.abc",
            "container": {"type": "message", "message_ts": "5.0", "channel_id": "C0OPS", "is_ephemeral": false},
            "team": {"id": "T0", "domain": "fake"},
            "channel": {"id": "C0OPS", "name": "ops"},
            "response_url": "https://hooks.slack.com/actions/T0/1/x",
            "actions": [{
                "action_id": action_id, "block_id": "b1", "value": "#1", "style": "primary",
                "type": "button", "action_ts": "7.0",
                "text": {"type": "plain_text", "text": "Approve", "emoji": true},
            }],
        }))
        .unwrap()
    }

    #[test]
    fn a_click_is_the_reaction_it_stands_for() {
        let Some(ChatEvent::ReactionAdded(r)) = click(&block_actions(APPROVE_ACTION)) else {
            panic!("not translated");
        };
        assert_eq!(r.channel, "slack:C0OPS");
        assert_eq!(r.from.key(), "slack:U0CAROL");
        assert_eq!(
            (r.message.as_str(), r.emoji.as_str()),
            ("5.0", "white_check_mark")
        );
        assert!(!r.from_bot);
        assert_eq!(r.delivery.as_deref(), Some("click:7.0:U0CAROL"));
        let Some(ChatEvent::ReactionAdded(r)) = click(&block_actions(DENY_ACTION)) else {
            panic!("not translated");
        };
        assert_eq!(r.emoji, "x");
        assert_eq!(click(&block_actions("someone_elses")), None);
    }

    #[test]
    fn a_request_has_its_text_and_two_buttons() {
        let blocks = serde_json::to_value(request_blocks(&escape("#3 a <b>"), 3)).unwrap();
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(blocks[0]["text"]["text"], "#3 a &lt;b&gt;");
        let buttons = &blocks[1]["elements"];
        assert_eq!(blocks[1]["type"], "actions");
        assert_eq!(buttons[0]["action_id"], APPROVE_ACTION);
        assert_eq!(buttons[0]["style"], "primary");
        assert_eq!(buttons[0]["value"], "#3");
        assert_eq!(buttons[1]["action_id"], DENY_ACTION);
        assert_eq!(buttons[1]["style"], "danger");
    }

    #[test]
    fn text_is_escaped_both_ways_and_channels_need_their_prefix() {
        assert_eq!(escape("a <b> & c"), "a &lt;b&gt; &amp; c");
        assert_eq!(unescape("a &lt;b&gt; &amp;lt; c"), "a <b> &lt; c");
        assert!(channel_id("slack:C0OPS").is_ok());
        assert!(matches!(channel_id("console"), Err(ChatError::Refused(_))));
    }
}
