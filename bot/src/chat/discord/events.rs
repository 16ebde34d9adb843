//! What Discord's gateway says, as deckhand's [`ChatEvent`]s: serenity's event handler, and
//! the translations it applies at once.
//!
//! The handler only hands events to the engine's channel, except for interactions, which
//! Discord wants acknowledged within 3 seconds: a slash command is deferred (type 5) before it
//! is handed over (the engine's first answer then edits the deferred response), a button click
//! acknowledged (type 6), an autocomplete answered from the configuration's names, and a slash
//! command whose options cannot make a command is refused ephemerally here.

use super::commands;
use super::order::{self, Orderer};
use super::{Catalog, PLATFORM, channel_name};
use crate::chat::{Account, ChatEvent, Conversation, Message, Reaction};
use serenity::all::{
    ComponentInteraction, Context, CreateAutocompleteResponse, CreateInteractionResponse,
    CreateInteractionResponseMessage, EventHandler, Interaction, MessageType, ReactionType, Ready,
    ResumedEvent, RoleId, User,
};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// The `custom_id` of the Approve button on an approval request.
pub const APPROVE_BUTTON: &str = "deckhand_approve";
/// The `custom_id` of the Deny button.
pub const DENY_BUTTON: &str = "deckhand_deny";
/// The reactions the bot adds to its approval requests as hints, and what a click on Approve or
/// Deny stands for: the shipped `approve_with` / `deny_with` start with these.
pub const APPROVE_EMOJI: &str = "white_check_mark";
pub const DENY_EMOJI: &str = "x";

/// An interaction's handle as [`Conversation::invocation`] carries it: `<id>:<token>`.
pub fn invocation(id: u64, token: &str) -> String {
    format!("{id}:{token}")
}

/// serenity's event handler: translates, acknowledges interactions, hands over.
pub struct Handler {
    /// Events go to the engine through it, back in Discord's order.
    order: Orderer,
    bot_user: u64,
    catalog: Catalog,
    reactions: Mutex<Generations>,
}

/// How many times each (message, user, emoji) reaction was removed and added in this process:
/// part of a reaction's delivery id, so that a replayed dispatch counts once while taking a
/// reaction back and giving it again counts again.
#[derive(Default)]
struct Generations {
    removed: HashMap<String, u32>,
    added: HashMap<String, u32>,
}

/// Reactions remembered at most: beyond, the counts start over (a re-given reaction on an old
/// message may then be taken for one already seen).
const GENERATIONS: usize = 10_000;

impl Generations {
    /// The delivery id of a reaction `key` added (`added`) or removed.
    fn delivery(&mut self, key: &str, added: bool) -> String {
        if self.removed.len() + self.added.len() > GENERATIONS {
            self.removed.clear();
            self.added.clear();
        }
        let (this, other, verb) = if added {
            (&mut self.added, &self.removed, "react")
        } else {
            (&mut self.removed, &self.added, "unreact")
        };
        // An add's generation is how many removals came before it (and the other way round):
        // the same dispatch twice gets the same id.
        let generation = other.get(key).copied().unwrap_or(0);
        *this.entry(key.to_owned()).or_default() += 1;
        if generation == 0 {
            format!("{verb}:{key}")
        } else {
            format!("{verb}:{key}:{generation}")
        }
    }
}

impl Handler {
    pub fn new(events: mpsc::Sender<ChatEvent>, bot_user: u64, catalog: Catalog) -> Handler {
        Handler {
            order: Orderer::start(events),
            bot_user,
            catalog,
            reactions: Mutex::default(),
        }
    }

    /// Hands `event` over, to reach the engine in the order of `key` (a snowflake).
    fn send(&self, key: u64, event: ChatEvent) {
        // Only handed over: the engine handles it in its own task.
        self.order.send(key, event);
    }

    async fn reaction(&self, r: &serenity::all::Reaction, added: bool) {
        let Some(mut reaction) = reaction(r, self.bot_user) else {
            return;
        };
        let key = format!(
            "{}:{}:{}",
            reaction.message, reaction.from.id, reaction.emoji
        );
        reaction.delivery = Some(
            self.reactions
                .lock()
                .expect("reactions lock")
                .delivery(&key, added),
        );
        // A reaction has no id: it takes its place by when it arrived.
        self.send(
            order::now_key(),
            if added {
                ChatEvent::ReactionAdded(reaction)
            } else {
                ChatEvent::ReactionRemoved(reaction)
            },
        );
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn message(&self, _ctx: Context, msg: serenity::all::Message) {
        if let Some(m) = message(&msg, self.bot_user) {
            self.send(msg.id.get(), ChatEvent::Message(m));
        }
    }

    async fn reaction_add(&self, _ctx: Context, r: serenity::all::Reaction) {
        self.reaction(&r, true).await;
    }

    async fn reaction_remove(&self, _ctx: Context, r: serenity::all::Reaction) {
        self.reaction(&r, false).await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) => {
                let options = commands::options(&cmd.data);
                let from = account(&cmd.user, cmd.member.as_ref().map(|m| &m.roles[..]));
                match commands::text(&cmd.data.name, &options) {
                    Ok(text) => {
                        let defer = CreateInteractionResponse::Defer(
                            CreateInteractionResponseMessage::new(),
                        );
                        if let Err(err) = cmd.create_response(&ctx.http, defer).await {
                            // Too late or refused: the engine's answer will fail the same way
                            // and be logged; the command is still run, as if typed.
                            tracing::warn!(
                                "Discord: could not defer /{}: {}",
                                cmd.data.name,
                                super::out::describe(&err)
                            );
                        }
                        self.send(
                            cmd.id.get(),
                            ChatEvent::Message(Message {
                                place: Conversation {
                                    channel: channel_name(cmd.channel_id),
                                    thread: None,
                                    invocation: Some(invocation(cmd.id.get(), &cmd.token)),
                                },
                                id: None,
                                delivery: Some(format!("interaction:{}", cmd.id)),
                                from,
                                text,
                                direct: true,
                                from_bot: false,
                            }),
                        );
                    }
                    Err(refusal) => {
                        let answer = CreateInteractionResponse::Message(
                            CreateInteractionResponseMessage::new()
                                .content(refusal)
                                .ephemeral(true)
                                .allowed_mentions(serenity::all::CreateAllowedMentions::new()),
                        );
                        if let Err(err) = cmd.create_response(&ctx.http, answer).await {
                            tracing::warn!(
                                "Discord: could not refuse /{}: {}",
                                cmd.data.name,
                                super::out::describe(&err)
                            );
                        }
                    }
                }
            }
            Interaction::Autocomplete(cmd) => {
                let Some(typing) = cmd.data.autocomplete() else {
                    return;
                };
                let names = commands::suggestions(&self.catalog, typing.name, typing.value);
                let answer = CreateInteractionResponse::Autocomplete(
                    CreateAutocompleteResponse::new().set_choices(commands::choices(names)),
                );
                if let Err(err) = cmd.create_response(&ctx.http, answer).await {
                    tracing::debug!(
                        "Discord: autocomplete not answered: {}",
                        super::out::describe(&err)
                    );
                }
            }
            Interaction::Component(click) => {
                let Some(event) = self::click(&click) else {
                    return;
                };
                // Acknowledged without a change: the engine edits the request itself.
                if let Err(err) = click
                    .create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
                    .await
                {
                    tracing::warn!(
                        "Discord: could not acknowledge a click: {}",
                        super::out::describe(&err)
                    );
                }
                self.send(click.id.get(), event);
            }
            _ => {}
        }
    }

    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(
            "Discord: connected as {} in {} guild(s)",
            ready.user.id,
            ready.guilds.len()
        );
    }

    async fn resume(&self, _ctx: Context, _: ResumedEvent) {
        tracing::info!("Discord: gateway session resumed");
    }
}

/// `discord-role:<id>` for each role.
fn groups(roles: &[RoleId]) -> Vec<String> {
    roles.iter().map(|r| format!("discord-role:{r}")).collect()
}

/// A Discord user as deckhand's account; `roles` when Discord sent member data (guilds).
fn account(user: &User, roles: Option<&[RoleId]>) -> Account {
    let display = user.global_name.as_deref().unwrap_or(&user.name);
    let mut account = Account::new(PLATFORM, &user.id.to_string(), display);
    account.groups = roles.map(groups);
    account
}

/// A message as deckhand's, or `None` for what deckhand ignores: bots' (itself included) and
/// webhooks' messages, and system messages (pins, joins, thread starts).
pub fn message(msg: &serenity::all::Message, bot_user: u64) -> Option<Message> {
    if msg.author.bot || msg.webhook_id.is_some() || msg.author.id.get() == bot_user {
        return None;
    }
    if !matches!(msg.kind, MessageType::Regular | MessageType::InlineReply) {
        return None;
    }
    let roles = msg.guild_id.and(msg.member.as_ref()).map(|m| &m.roles[..]);
    Some(Message {
        place: Conversation::channel(&channel_name(msg.channel_id)),
        id: Some(msg.id.to_string()),
        delivery: Some(msg.id.to_string()),
        from: account(&msg.author, roles),
        text: msg.content.clone(),
        direct: msg.guild_id.is_none(),
        from_bot: false,
    })
}

/// A reaction as deckhand's (its delivery id still unset), or `None` for the bot's own (its
/// hints) and a custom emoji Discord no longer names.
pub fn reaction(r: &serenity::all::Reaction, bot_user: u64) -> Option<Reaction> {
    let user = r.user_id?;
    if user.get() == bot_user {
        return None;
    }
    let emoji = match &r.emoji {
        // The emoji itself (`✅`): `core::emoji` matches it with the configured shortcodes.
        ReactionType::Unicode(e) => e.clone(),
        // A guild's own emoji, by its name (`shipit`), as `approve_with` may list it.
        ReactionType::Custom { name, .. } => name.clone()?,
        _ => return None,
    };
    let (from, from_bot) = match (&r.member, r.guild_id) {
        (Some(member), Some(_)) => (account(&member.user, Some(&member.roles)), member.user.bot),
        _ => (
            Account::new(PLATFORM, &user.to_string(), &user.to_string()),
            false,
        ),
    };
    Some(Reaction {
        channel: channel_name(r.channel_id),
        from,
        message: r.message_id.to_string(),
        emoji,
        from_bot,
        delivery: None,
    })
}

/// A click on an approval request's Approve or Deny button, as the reaction it stands for
/// (`None` for any other component). Its delivery id is the interaction's.
pub fn click(click: &ComponentInteraction) -> Option<ChatEvent> {
    let emoji = match click.data.custom_id.as_str() {
        APPROVE_BUTTON => APPROVE_EMOJI,
        DENY_BUTTON => DENY_EMOJI,
        _ => return None,
    };
    let user = click.member.as_ref().map_or(&click.user, |m| &m.user);
    Some(ChatEvent::ReactionAdded(Reaction {
        channel: channel_name(click.channel_id),
        from: account(user, click.member.as_ref().map(|m| &m.roles[..])),
        message: click.message.id.to_string(),
        emoji: emoji.to_owned(),
        from_bot: user.bot,
        delivery: Some(format!("interaction:{}", click.id)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(id: &str) -> serde_json::Value {
        json!({"id": id, "username": "alice", "global_name": "Alice", "discriminator": "0", "avatar": null})
    }

    #[test]
    fn a_guild_message_carries_the_members_roles() {
        let msg: serenity::all::Message = serde_json::from_value(json!({
            "id": "500", "channel_id": "10", "guild_id": "1", "author": user("200"),
            "member": {"roles": ["77", "78"], "joined_at": "2026-01-01T00:00:00Z", "deaf": false, "mute": false, "flags": 0},
            "content": "!deploy api", "timestamp": "2026-12-03T10:00:00Z", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": 0,
        }))
        .unwrap();
        let m = message(&msg, 999).expect("translated");
        assert_eq!(m.place, Conversation::channel("discord:10"));
        assert_eq!(m.from.key(), "discord:200");
        assert_eq!(m.from.display, "Alice");
        assert_eq!(
            m.from.groups,
            Some(vec![
                "discord-role:77".to_owned(),
                "discord-role:78".to_owned()
            ])
        );
        assert_eq!(m.delivery.as_deref(), Some("500"));
        assert!(!m.direct);
        assert!(message(&msg, 200).is_none(), "its own message");
    }

    #[test]
    fn a_reaction_in_a_dm_has_no_groups_and_a_custom_emoji_its_name() {
        let dm: serenity::all::Reaction = serde_json::from_value(json!({
            "user_id": "200", "channel_id": "11", "message_id": "600",
            "emoji": {"id": null, "name": "✅"}, "burst": false, "type": 0,
        }))
        .unwrap();
        let r = reaction(&dm, 999).expect("translated");
        assert_eq!(
            (r.channel.as_str(), r.message.as_str(), r.emoji.as_str()),
            ("discord:11", "600", "✅")
        );
        assert_eq!(r.from.key(), "discord:200");
        assert_eq!(r.from.groups, None);
        assert!(reaction(&dm, 200).is_none(), "the bot's own hint");
        let custom: serenity::all::Reaction = serde_json::from_value(json!({
            "user_id": "200", "channel_id": "10", "message_id": "600", "guild_id": "1",
            "member": {"user": user("200"), "roles": ["77"], "joined_at": "2026-01-01T00:00:00Z", "deaf": false, "mute": false, "flags": 0},
            "emoji": {"id": "800", "name": "shipit", "animated": false}, "burst": false, "type": 0,
        }))
        .unwrap();
        let r = reaction(&custom, 999).expect("translated");
        assert_eq!(r.emoji, "shipit");
        assert_eq!(r.from.groups, Some(vec!["discord-role:77".to_owned()]));
    }

    #[test]
    fn a_reaction_given_again_after_its_removal_is_a_new_delivery() {
        let mut g = Generations::default();
        let first = g.delivery("5:7:✅", true);
        assert_eq!(first, "react:5:7:✅");
        assert_eq!(g.delivery("5:7:✅", true), first, "a replayed dispatch");
        // Taken back, then given again: each a new delivery.
        assert_eq!(g.delivery("5:7:✅", false), "unreact:5:7:✅:2");
        assert_eq!(g.delivery("5:7:✅", true), "react:5:7:✅:1");
        assert_eq!(g.delivery("5:7:✅", false), "unreact:5:7:✅:3");
    }
}
