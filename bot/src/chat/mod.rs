//! The chat boundary: what the bot hears ([`ChatEvent`]) and what it can say ([`ChatOut`]).
//!
//! Invariant: adapters translate platform events into these types at once, and the engine
//! knows nothing of any platform. Adapters live side by side in this module: only
//! `chat::console` knows the console; only `chat::slack` imports slack-morphism, and later
//! only `chat::discord` serenity. Adapters may import the engine; the engine imports no adapter.
//!
//! Channels are named `platform:id` (`slack:C0OPS`, `discord:1234`), and the console's is
//! `console`: a channel belongs to one adapter, the one of its platform. The engine holds one
//! [`ChatOut`], a [`hub::Hub`] that routes each channel to its platform's adapter through that
//! adapter's [`outbox::Outbox`], which keeps the platform's limits (length, edit rate) and
//! retries, so no adapter has to and no deploy waits for chat.

pub mod console;
pub mod discord;
pub mod hub;
pub mod memory;
pub mod mentions;
pub mod outbox;
pub mod slack;

use async_trait::async_trait;
use std::time::Duration;

/// A platform's id of a message (`m3` in the console, a `ts` in Slack, a snowflake in
/// Discord). Opaque to the engine.
pub type MsgId = String;

/// Someone's account on a platform, as the adapter saw it. Only `platform` and `id` identify
/// the account; `display` is what the platform shows and never grants anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `console`, `slack`, `discord`, … (lowercase).
    pub platform: String,
    /// The platform's id of the account (`U012ABC` on Slack); the user name in the console.
    pub id: String,
    /// The name the platform shows (a Slack display name can be changed by its owner).
    pub display: String,
    /// The platform groups (`discord-role:<id>`, `slack-group:S0…`) the account is in, as the
    /// platform told with this event; `None` when it did not say (a Discord DM carries no
    /// member data). `Some` replaces what the engine knew of this account's platform groups.
    pub groups: Option<Vec<String>>,
}

impl Account {
    /// A console user: the console stands in for every platform, so its users are people
    /// named directly (`/as carol`).
    pub fn console(name: &str) -> Account {
        Account {
            platform: CONSOLE.to_owned(),
            id: name.to_owned(),
            display: name.to_owned(),
            groups: None,
        }
    }

    /// An account on `platform` shown as `display`, whose platform groups were not told.
    pub fn new(platform: &str, id: &str, display: &str) -> Account {
        Account {
            platform: platform.to_owned(),
            id: id.to_owned(),
            display: display.to_owned(),
            groups: None,
        }
    }

    /// `platform:id` (`slack:U0CAROL`), or just the name for a console user.
    pub fn key(&self) -> String {
        if self.platform == CONSOLE {
            self.id.clone()
        } else {
            format!("{}:{}", self.platform, self.id)
        }
    }
}

/// The console's platform name, and its one channel.
pub const CONSOLE: &str = "console";

/// Where the bot says something: a channel, and the thread in it when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conversation {
    pub channel: String,
    pub thread: Option<MsgId>,
    /// The invocation this conversation answers, when the command came as one (a Slack or
    /// Discord slash command): the adapter's own handle (who typed it, the interaction's token),
    /// opaque to the engine, which never stores it. With it, [`ChatOut::refuse`] shows a refusal
    /// to the person who typed the command only.
    pub invocation: Option<String>,
}

impl Conversation {
    /// The channel itself, not a thread in it.
    pub fn channel(channel: &str) -> Conversation {
        Conversation {
            channel: channel.to_owned(),
            thread: None,
            invocation: None,
        }
    }

    /// A thread of `channel` (the channel itself when `thread` is `None`).
    pub fn thread(channel: &str, thread: Option<MsgId>) -> Conversation {
        Conversation {
            channel: channel.to_owned(),
            thread,
            invocation: None,
        }
    }

    /// The same place without the invocation: where later messages (a deploy's status, its
    /// output) go.
    pub fn place(&self) -> Conversation {
        Conversation::thread(&self.channel, self.thread.clone())
    }
}

impl From<&str> for Conversation {
    fn from(channel: &str) -> Conversation {
        Conversation::channel(channel)
    }
}

impl From<&String> for Conversation {
    fn from(channel: &String) -> Conversation {
        Conversation::channel(channel)
    }
}

impl From<&Conversation> for Conversation {
    fn from(c: &Conversation) -> Conversation {
        c.clone()
    }
}

/// A message someone posted where the bot can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel and, when it was posted in a thread, the thread: answers go there.
    pub place: Conversation,
    /// The platform's id of this message, when it has one.
    pub id: Option<MsgId>,
    /// The platform's id of this delivery (Slack's `event_id`, …): a delivery seen twice is
    /// handled once. `None` when the platform never redelivers (the console).
    pub delivery: Option<String>,
    pub from: Account,
    pub text: String,
    /// A direct message (or the console): the prefix is optional.
    pub direct: bool,
    /// Posted by a bot (deckhand itself included): never obeyed.
    pub from_bot: bool,
}

/// Something that happened in chat that the bot may care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    Message(Message),
    ReactionAdded(Reaction),
    ReactionRemoved(Reaction),
    /// The members of a platform group (`slack-group:S0…`), as the platform listed them: they
    /// replace what the engine knew of that group. Adapters send it for the groups the
    /// configuration names ([`crate::core::people::GROUP_PLATFORMS`]) when they learn them.
    Members {
        group: String,
        accounts: Vec<Account>,
    },
}

/// A reaction on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub channel: String,
    pub from: Account,
    pub message: MsgId,
    /// A shortcode without colons (`white_check_mark`) or the emoji itself (`✅`).
    pub emoji: String,
    pub from_bot: bool,
    /// As [`Message::delivery`].
    pub delivery: Option<String>,
}

/// What a platform accepts from the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest message, in characters.
    pub max_chars: usize,
    /// At most `edits` edits of one message per `per`.
    pub edits: u32,
    pub per: Duration,
}

impl Limits {
    /// No limit worth pacing for (the console). An adapter declaring no edit limit is called
    /// in its caller's task, in order with its posts (see [`outbox::Outbox`]), so it must
    /// answer at once: the console does, writing to a local stream.
    pub const NONE: Limits = Limits {
        max_chars: usize::MAX,
        edits: u32::MAX,
        per: Duration::from_secs(1),
    };

    /// Whether edits of one message must be spaced out (any edit limit but "none").
    pub fn paces_edits(&self) -> bool {
        self.edits != u32::MAX
    }
}

/// Why the platform did not take a post or an edit.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Too many requests: try again after the platform's `Retry-After`, when it gave one.
    #[error("rate limited by the platform{}", retry_after.map(|d| format!(" (retry after {d:?})")).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// The platform failed or could not be reached (5xx, network): worth trying again.
    #[error("the platform is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Refused for good (unknown channel, no permission, malformed): trying again is no use.
    #[error("the platform refused it")]
    Refused(#[source] anyhow::Error),
}

/// What the bot can do in chat. A failure is the platform's; the engine logs it and goes on,
/// since a chat hiccup must never stop or slow a deploy.
#[async_trait]
pub trait ChatOut: Send + Sync {
    /// What this platform accepts (message length, edit rate).
    fn limits(&self) -> Limits {
        Limits::NONE
    }

    /// What the platform of `channel` accepts: the same as [`ChatOut::limits`] for one adapter;
    /// a hub answers for the adapter the channel belongs to.
    fn limits_for(&self, _channel: &str) -> Limits {
        self.limits()
    }

    /// How people address the bot on this platform besides its configured name (`deckhand`,
    /// `@deckhand`): Slack's `<@U0BOT>`, Discord's `<@123…>`. A message that starts with one
    /// is addressed to the bot in a channel.
    fn mentions(&self) -> Vec<String> {
        Vec::new()
    }

    /// Posts a new message in a channel, or in a thread of it.
    async fn post(&self, to: &Conversation, text: &str) -> Result<MsgId, ChatError>;

    /// Posts the approval request of deploy #`deploy`: an adapter may add controls for it
    /// (Slack's Approve/Deny buttons and ✅/❌ hints), whose use comes back as a
    /// [`ChatEvent::ReactionAdded`] on the returned message. By default, a plain [`post`].
    ///
    /// [`post`]: ChatOut::post
    async fn post_request(
        &self,
        to: &Conversation,
        text: &str,
        deploy: i64,
    ) -> Result<MsgId, ChatError> {
        let _ = deploy;
        self.post(to, text).await
    }

    /// Says why deckhand will not do what was asked. Where the command came as an invocation
    /// ([`Conversation::invocation`], a slash command) an adapter shows it to its asker only
    /// (Slack's ephemeral messages); by default, and everywhere else, a plain [`post`]. Returns
    /// the message's id when it is a message others see.
    ///
    /// [`post`]: ChatOut::post
    async fn refuse(&self, to: &Conversation, text: &str) -> Result<Option<MsgId>, ChatError> {
        self.post(to, text).await.map(Some)
    }

    /// Replaces the text of a message the bot posted.
    async fn edit(&self, channel: &str, msg: &MsgId, text: &str) -> Result<(), ChatError>;

    /// Replaces the text of deploy #`deploy`'s approval request while it still waits for
    /// approvals: an adapter keeps the controls it added in [`post_request`] (Slack's
    /// buttons). By default a plain [`edit`]; a settled request is edited with [`edit`], which
    /// removes them.
    ///
    /// [`post_request`]: ChatOut::post_request
    /// [`edit`]: ChatOut::edit
    async fn edit_request(
        &self,
        channel: &str,
        msg: &MsgId,
        text: &str,
        deploy: i64,
    ) -> Result<(), ChatError> {
        let _ = deploy;
        self.edit(channel, msg, text).await
    }

    /// Returns once everything handed over so far was delivered (or given up on).
    async fn flush(&self) {}
}
