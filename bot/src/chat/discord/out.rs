//! What the engine says, sent to Discord: [`DiscordOut`], a [`ChatOut`] over serenity's `Http`.
//!
//! - Every message goes out with `allowed_mentions: {parse: []}`: text deckhand repeats (a
//!   reason, a ref, a name) never pings `@everyone`, a role or a person.
//! - An answer to a slash command edits its deferred response the first time, and is a
//!   followup after; a refusal is an ephemeral followup (the deferred "thinking…" response is
//!   deleted first, since Discord makes the first followup of a deferred response replace it,
//!   visible to all).
//! - A post "in the thread of" a message starts a public thread from that message once and
//!   posts there; where a thread cannot be started (a DM, no permission) it replies to the
//!   message instead.

use super::events::{APPROVE_BUTTON, DENY_BUTTON};
use super::{CALL_TIMEOUT, LIMITS, PLATFORM};
use crate::chat::mentions::Mentions;
use crate::chat::{ChatError, ChatOut, Conversation, Limits, MsgId};
use async_trait::async_trait;
use serenity::all::{
    AutoArchiveDuration, Builder, ButtonStyle, ChannelId, CreateActionRow, CreateAllowedMentions,
    CreateButton, CreateInteractionResponseFollowup, CreateMessage, CreateThread,
    EditInteractionResponse, EditMessage, Http, HttpError, MessageId, ReactionType,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// How many threads, moved messages and answered invocations are remembered: far more than
/// the deploys and commands of a day; the oldest are forgotten first.
const REMEMBERED: usize = 2_000;

/// A map that forgets its oldest entries beyond [`REMEMBERED`].
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Eq + Hash + Clone, V: Clone> Bounded<K, V> {
    fn new() -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&self, k: &K) -> Option<V> {
        self.map.get(k).cloned()
    }

    fn insert(&mut self, k: K, v: V) {
        if self.map.insert(k.clone(), v).is_none() {
            self.order.push_back(k);
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

/// Where the output "thread" of a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadOf {
    /// The thread started from the message (a channel of its own).
    Thread(ChannelId),
    /// Replies to the message: no thread could be started from it.
    Replies,
}

/// Posts and edits in Discord with the bot token.
pub struct DiscordOut {
    http: Arc<Http>,
    bot_user: u64,
    /// The threads started from messages (by the message's id).
    threads: tokio::sync::Mutex<Bounded<MessageId, ThreadOf>>,
    /// Messages posted in a thread: their channel is the thread's, not the one the engine names.
    moved: Mutex<Bounded<MessageId, ChannelId>>,
    /// The invocations whose deferred response was used (by the first answer or a refusal).
    answered: Mutex<(HashSet<String>, VecDeque<String>)>,
    /// What the messages deckhand posted are about (`#1 api@main → staging`): the name of a
    /// thread started from one.
    titles: Mutex<Bounded<MessageId, String>>,
    /// The people with a Discord account, shown as `<@id>` (never pinging: see the module).
    people: Arc<Mentions>,
}

/// What a slash command's answer is sent through: the interaction's id and token.
struct Invocation<'a> {
    id: &'a str,
    token: &'a str,
}

fn invocation(to: &Conversation) -> Option<Invocation<'_>> {
    let (id, token) = to.invocation.as_deref()?.split_once(':')?;
    Some(Invocation { id, token })
}

/// A thread's name from the message it starts from: the deploy's label the message starts
/// with (`#1 api@main → staging`, four words, the last maybe ending in `:`), within Discord's
/// 100 characters; `deploy output` for a message about no deploy.
fn title(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let is_label = line
        .strip_prefix('#')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    if !is_label {
        return "deploy output".to_owned();
    }
    let mut words = Vec::new();
    for word in line.split_whitespace().take(4) {
        match word.strip_suffix(':') {
            Some(last) => {
                words.push(last);
                break;
            }
            None => words.push(word),
        }
    }
    words.join(" ").chars().take(90).collect()
}

/// Nobody is pinged by what deckhand says.
fn no_pings() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// The Approve and Deny buttons of an approval request.
fn buttons() -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(APPROVE_BUTTON)
            .label("Approve")
            .style(ButtonStyle::Success),
        CreateButton::new(DENY_BUTTON)
            .label("Deny")
            .style(ButtonStyle::Danger),
    ])]
}

/// Discord's id of a `discord:<id>` channel.
pub fn channel_id(channel: &str) -> Result<ChannelId, ChatError> {
    channel
        .strip_prefix("discord:")
        .and_then(|id| id.parse::<u64>().ok())
        .filter(|id| *id > 0)
        .map(ChannelId::new)
        .ok_or_else(|| ChatError::Refused(anyhow::anyhow!("`{channel}` is not a Discord channel")))
}

fn message_id(msg: &str) -> Result<MessageId, ChatError> {
    msg.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .map(MessageId::new)
        .ok_or_else(|| ChatError::Refused(anyhow::anyhow!("`{msg}` is not a Discord message id")))
}

/// What went wrong, for an operator: Discord's status, message and code; never a URL (an
/// interaction's URL holds its token).
pub fn describe(err: &serenity::Error) -> String {
    match err {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(e)) => format!(
            "HTTP {}: {} (Discord code {})",
            e.status_code.as_u16(),
            e.error.message,
            e.error.code
        ),
        serenity::Error::Http(HttpError::Request(e)) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "the request failed"
            };
            let mut cause = String::new();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                cause = format!(": {s}");
                source = s.source();
            }
            format!("could not reach Discord's REST API ({what}{cause})")
        }
        other => other.to_string(),
    }
}

/// A serenity error as the outbox can act on it.
fn chat_error(err: serenity::Error) -> ChatError {
    let said = anyhow::anyhow!("Discord: {}", describe(&err));
    match &err {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(e)) => {
            if e.status_code.as_u16() == 429 {
                // With serenity's rate limiter on, it waits 429s out itself; this is a proxy's.
                ChatError::RateLimited { retry_after: None }
            } else if e.status_code.is_server_error() {
                ChatError::Unavailable(said)
            } else {
                ChatError::Refused(said)
            }
        }
        serenity::Error::Http(HttpError::Request(_)) => ChatError::Unavailable(said),
        // An answer that does not decode: sent again, it could be posted twice.
        _ => ChatError::Refused(said),
    }
}

/// `call`, or `Unavailable` when Discord did not answer within [`CALL_TIMEOUT`].
async fn answered<T>(
    what: &str,
    call: impl std::future::Future<Output = Result<T, serenity::Error>>,
) -> Result<T, ChatError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(chat_error),
        Err(_) => Err(ChatError::Unavailable(anyhow::anyhow!(
            "Discord: no answer to {what} within {CALL_TIMEOUT:?}"
        ))),
    }
}

impl DiscordOut {
    pub fn new(http: Arc<Http>, bot_user: u64, people: Mentions) -> DiscordOut {
        DiscordOut {
            people: Arc::new(people),
            http,
            bot_user,
            threads: tokio::sync::Mutex::new(Bounded::new()),
            moved: Mutex::new(Bounded::new()),
            answered: Mutex::default(),
            titles: Mutex::new(Bounded::new()),
        }
    }

    /// `text` with the people it names as `<@id>` mentions.
    fn shown(&self, text: &str) -> String {
        crate::chat::mentions::mention(text, &self.people)
    }

    /// The deferred response of `inv` is to be used again: the answer that used it did not get
    /// through, and its retry should replace the "thinking…" response rather than follow it.
    fn unmark(&self, inv: &Invocation<'_>) {
        self.answered
            .lock()
            .expect("answered lock")
            .0
            .remove(inv.id);
    }

    /// Whether the deferred response of `inv` is still to be used; marks it used.
    fn first_answer(&self, inv: &Invocation<'_>) -> bool {
        let mut answered = self.answered.lock().expect("answered lock");
        let (set, order) = &mut *answered;
        if !set.insert(inv.id.to_owned()) {
            return false;
        }
        order.push_back(inv.id.to_owned());
        while order.len() > REMEMBERED {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }

    /// The thread of `msg` in `channel`: started once, or replies when Discord refuses.
    async fn thread_of(&self, channel: ChannelId, msg: MessageId) -> Result<ThreadOf, ChatError> {
        let mut threads = self.threads.lock().await;
        if let Some(known) = threads.get(&msg) {
            return Ok(known);
        }
        // Discord shows a thread's name over its messages: what the message is about.
        let name = self
            .titles
            .lock()
            .expect("titles lock")
            .get(&msg)
            .unwrap_or_else(|| "deploy output".to_owned());
        let start = CreateThread::new(name).auto_archive_duration(AutoArchiveDuration::OneDay);
        let found = match answered(
            "starting a thread",
            start.execute(&self.http, (channel, Some(msg))),
        )
        .await
        {
            Ok(thread) => ThreadOf::Thread(thread.id),
            // No threads here (a DM, a missing permission, a thread already): reply instead.
            Err(ChatError::Refused(err)) => {
                tracing::info!(
                    "no thread from message {msg} in {PLATFORM}:{channel} ({err:#}): replying to it instead"
                );
                ThreadOf::Replies
            }
            Err(other) => return Err(other),
        };
        threads.insert(msg, found);
        Ok(found)
    }

    /// Posts `text` (with `components`) where `to` says; returns the message's channel and id.
    async fn send(
        &self,
        to: &Conversation,
        text: &str,
        components: Vec<CreateActionRow>,
    ) -> Result<(ChannelId, MessageId), ChatError> {
        let (channel, id) = self.deliver(to, text, components).await?;
        self.titles
            .lock()
            .expect("titles lock")
            .insert(id, title(text));
        Ok((channel, id))
    }

    async fn deliver(
        &self,
        to: &Conversation,
        text: &str,
        components: Vec<CreateActionRow>,
    ) -> Result<(ChannelId, MessageId), ChatError> {
        let channel = channel_id(&to.channel)?;
        if let Some(inv) = invocation(to)
            && to.thread.is_none()
        {
            if self.first_answer(&inv) {
                let edit = EditInteractionResponse::new()
                    .content(text)
                    .components(components.clone())
                    .allowed_mentions(no_pings());
                match answered(
                    "the slash command's answer",
                    edit.execute(&self.http, inv.token),
                )
                .await
                {
                    Ok(m) => return Ok((m.channel_id, m.id)),
                    // An expired or unknown interaction: the answer is posted plainly below.
                    Err(ChatError::Refused(err)) => tracing::info!(
                        "could not answer the slash command {} in place ({err:#}): posting in the channel",
                        inv.id
                    ),
                    Err(other) => {
                        self.unmark(&inv);
                        return Err(other);
                    }
                }
            } else {
                let followup = CreateInteractionResponseFollowup::new()
                    .content(text)
                    .components(components.clone())
                    .allowed_mentions(no_pings());
                match answered(
                    "a followup",
                    followup.execute(&self.http, (None, inv.token)),
                )
                .await
                {
                    Ok(m) => return Ok((m.channel_id, m.id)),
                    Err(ChatError::Refused(err)) => tracing::info!(
                        "could not follow the slash command {} up ({err:#}): posting in the channel",
                        inv.id
                    ),
                    Err(other) => return Err(other),
                }
            }
        }
        let mut message = CreateMessage::new()
            .content(text)
            .components(components)
            .allowed_mentions(no_pings());
        let mut target = channel;
        if let Some(parent) = &to.thread {
            let parent = message_id(parent)?;
            match self.thread_of(channel, parent).await? {
                ThreadOf::Thread(thread) => target = thread,
                ThreadOf::Replies => message = message.reference_message((channel, parent)),
            }
        }
        let m = answered(
            "posting a message",
            message.execute(&self.http, (target, None)),
        )
        .await?;
        if target != channel {
            self.moved.lock().expect("moved lock").insert(m.id, target);
        }
        Ok((target, m.id))
    }

    /// Replaces a message's text and components.
    async fn replace(
        &self,
        channel: &str,
        msg: &MsgId,
        text: &str,
        components: Vec<CreateActionRow>,
    ) -> Result<(), ChatError> {
        let msg = message_id(msg)?;
        let channel = self
            .moved
            .lock()
            .expect("moved lock")
            .get(&msg)
            .map_or_else(|| channel_id(channel), Ok)?;
        let edit = EditMessage::new()
            .content(text)
            .components(components)
            .allowed_mentions(no_pings());
        answered(
            "editing a message",
            edit.execute(&self.http, (channel, msg, None)),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ChatOut for DiscordOut {
    fn limits(&self) -> Limits {
        LIMITS
    }

    fn mentions(&self) -> Vec<String> {
        vec![
            format!("<@{}>", self.bot_user),
            format!("<@!{}>", self.bot_user),
        ]
    }

    async fn post(&self, to: &Conversation, text: &str) -> Result<MsgId, ChatError> {
        let (_, id) = self.send(to, &self.shown(text), Vec::new()).await?;
        Ok(id.to_string())
    }

    /// The request with Approve/Deny buttons, then the bot's own ✅ and ❌ as hints: a failed
    /// reaction is only logged.
    async fn post_request(
        &self,
        to: &Conversation,
        text: &str,
        deploy: i64,
    ) -> Result<MsgId, ChatError> {
        let (channel, id) = self.send(to, &self.shown(text), buttons()).await?;
        for hint in ["✅", "❌"] {
            let emoji = ReactionType::Unicode(hint.to_owned());
            if let Err(err) = answered(
                "adding a reaction",
                self.http.create_reaction(channel, id, &emoji),
            )
            .await
            {
                tracing::warn!(
                    "could not add the hint {hint} to #{deploy}'s request in {}: {err:#}",
                    to.channel
                );
            }
        }
        Ok(id.to_string())
    }

    /// To the asker only where the command was a slash command; else a plain post.
    async fn refuse(&self, to: &Conversation, text: &str) -> Result<Option<MsgId>, ChatError> {
        let Some(inv) = invocation(to) else {
            return self.post(to, text).await.map(Some);
        };
        let text = &self.shown(text);
        if self.first_answer(&inv)
            && let Err(err) = answered(
                "removing the deferred answer",
                self.http.delete_original_interaction_response(inv.token),
            )
            .await
        {
            tracing::info!(
                "could not remove the slash command {}'s deferred answer: {err:#}",
                inv.id
            );
        }
        let followup = CreateInteractionResponseFollowup::new()
            .content(text)
            .ephemeral(true)
            .allowed_mentions(no_pings());
        match answered("a refusal", followup.execute(&self.http, (None, inv.token))).await {
            Ok(_) => Ok(None),
            // The interaction expired: the refusal is still said, in the open.
            Err(ChatError::Refused(err)) => {
                tracing::info!(
                    "could not refuse the slash command {} privately ({err:#}): posting in the channel",
                    inv.id
                );
                self.post(&to.place(), text).await.map(Some)
            }
            Err(other) => Err(other),
        }
    }

    /// An edit shows its text alone: `components: []` removes a request's buttons.
    async fn edit(&self, channel: &str, msg: &MsgId, text: &str) -> Result<(), ChatError> {
        self.replace(channel, msg, &self.shown(text), Vec::new())
            .await
    }

    /// A pending request keeps its buttons.
    async fn edit_request(
        &self,
        channel: &str,
        msg: &MsgId,
        text: &str,
        _deploy: i64,
    ) -> Result<(), ChatError> {
        self.replace(channel, msg, &self.shown(text), buttons())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_and_messages_are_snowflakes() {
        assert_eq!(channel_id("discord:42").unwrap(), ChannelId::new(42));
        assert!(matches!(channel_id("slack:C0"), Err(ChatError::Refused(_))));
        assert!(matches!(
            channel_id("discord:x"),
            Err(ChatError::Refused(_))
        ));
        assert!(message_id("1.2").is_err());
    }

    #[test]
    fn a_request_has_approve_and_deny() {
        let rows = serde_json::to_value(buttons()).unwrap();
        let b = &rows[0]["components"];
        assert_eq!(rows[0]["type"], 1);
        assert_eq!(b[0]["custom_id"], APPROVE_BUTTON);
        assert_eq!(b[0]["label"], "Approve");
        assert_eq!(b[1]["custom_id"], DENY_BUTTON);
        assert_eq!(b[1]["style"], 4);
    }

    #[test]
    fn a_thread_is_named_for_its_message() {
        assert_eq!(
            title("#1 api@main → staging: starting (requested by alice)\nbuild …"),
            "#1 api@main → staging"
        );
        assert_eq!(
            title("#12 api@v2 → prod requested by alice needs 1 approval"),
            "#12 api@v2 → prod"
        );
        assert_eq!(title("#3 web: queued"), "#3 web");
        assert_eq!(title(""), "deploy output");
        assert_eq!(title("Nothing is running"), "deploy output");
        assert!(title(&format!("#1 {}", "x".repeat(300))).chars().count() <= 90);
    }

    #[test]
    fn nobody_is_pinged() {
        let m = serde_json::to_value(no_pings()).unwrap();
        assert_eq!(m["parse"], serde_json::json!([]), "{m}");
    }

    #[test]
    fn the_oldest_are_forgotten() {
        let mut b = Bounded::new();
        for i in 0..=REMEMBERED {
            b.insert(i, i);
        }
        assert_eq!(b.get(&0), None);
        assert_eq!(b.get(&REMEMBERED), Some(REMEMBERED));
    }
}
