//! The chat boundary: what the bot hears ([`ChatEvent`]) and what it can say ([`ChatOut`]).
//!
//! Invariant: adapters translate platform events into these types at once, and the engine
//! knows nothing of any platform. Only `chat::console` knows the console; later only
//! `chat::slack` will import slack-morphism and only `chat::discord` serenity.

pub mod console;

use async_trait::async_trait;

/// A platform's id of a message the bot posted (`m3` in the console, a `ts` in Slack, a
/// snowflake in Discord). Opaque to the engine.
pub type MsgId = String;

/// Something that happened in chat that the bot may care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    Message {
        channel: String,
        user: String,
        text: String,
        /// A direct message (or the console): the prefix is optional.
        direct: bool,
        /// Posted by a bot (deckhand itself included): never obeyed.
        from_bot: bool,
    },
    ReactionAdded(Reaction),
    ReactionRemoved(Reaction),
}

/// A reaction on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub channel: String,
    pub user: String,
    pub message: MsgId,
    /// A shortcode without colons (`white_check_mark`) or the emoji itself (`✅`).
    pub emoji: String,
    pub from_bot: bool,
}

/// What the bot can do in chat. Errors are the platform's; the engine logs them and goes on,
/// since a chat hiccup must never stop a deploy half-way.
#[async_trait]
pub trait ChatOut: Send + Sync {
    /// Posts a new message in a channel.
    async fn post(&self, channel: &str, text: &str) -> anyhow::Result<MsgId>;
    /// Replaces the text of a message the bot posted.
    async fn edit(&self, channel: &str, msg: &MsgId, text: &str) -> anyhow::Result<()>;
    /// Posts a reply in the thread under `parent`.
    async fn reply(&self, channel: &str, parent: &MsgId, text: &str) -> anyhow::Result<MsgId>;
}
