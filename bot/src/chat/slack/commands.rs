//! Slack's slash commands, `/deploy <args>` and `/deckhand <any command>`, as the messages
//! they stand for (docs: README "Slack").
//!
//! Invariants:
//! - A slash command is a command typed to the bot: no prefix is needed, and its text goes
//!   through the same parser as any message (so nothing in it reaches a shell unquoted).
//! - Its answers go to the channel it was typed in, for everyone; its refusals to its asker
//!   only: the conversation carries the asker's user id as its invocation, and
//!   [`super::SlackOut::refuse`] posts an ephemeral message to them.
//! - Each invocation is handled once: its delivery id is its `trigger_id`, unique per use.

use super::{PLATFORM, account, unescape};
use crate::chat::{ChatEvent, Conversation, Message};
use slack_morphism::prelude::*;

/// The command that passes its text on as it is: `/deckhand deploy api to prod`.
pub const DECKHAND: &str = "/deckhand";

/// The message a slash command stands for: `/deploy api to prod` is `deploy api to prod`,
/// `/deckhand <text>` is `<text>`, and any other command the app was given (`/rollback`) is
/// its name and its text.
pub fn translate(event: &SlackCommandEvent) -> ChatEvent {
    let name = event.command.to_string();
    let args = unescape(event.text.as_deref().unwrap_or_default().trim());
    let text = if name == DECKHAND {
        args
    } else {
        format!("{} {args}", name.trim_start_matches('/'))
            .trim_end()
            .to_owned()
    };
    let user = event.user_id.to_string();
    ChatEvent::Message(Message {
        place: Conversation {
            channel: format!("{PLATFORM}:{}", event.channel_id),
            thread: None,
            invocation: Some(user.clone()),
        },
        id: None,
        delivery: Some(format!("command:{}", event.trigger_id)),
        from: account(&user),
        text,
        direct: true,
        from_bot: false,
    })
}

/// A slash command as Slack posts it to `/slack/commands`: a form (`application/x-www-form-
/// urlencoded`) with `command`, `text`, `user_id`, `channel_id`, `trigger_id`, ….
pub fn from_form(body: &[u8]) -> Option<SlackCommandEvent> {
    let fields: serde_json::Map<String, serde_json::Value> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    serde_json::from_value(serde_json::Value::Object(fields)).ok()
}

/// An interaction (a button click) as Slack posts it to `/slack/interactions`: a form whose
/// `payload` field is the interaction's JSON.
pub fn interaction_from_form(body: &[u8]) -> Option<SlackInteractionEvent> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")?
        .1;
    serde_json::from_str(&payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(command: &str, text: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("token", "unused"),
                ("team_id", "T0"),
                ("team_domain", "fake"),
                ("channel_id", "C0OPS"),
                ("channel_name", "ops"),
                ("user_id", "U0ALICE"),
                ("user_name", "alice"),
                ("command", command),
                ("text", text),
                ("api_app_id", "A0"),
                ("response_url", "https://hooks.slack.com/commands/T0/1/x"),
                ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
            ])
            .finish()
            .into_bytes()
    }

    fn message(event: ChatEvent) -> Message {
        match event {
            ChatEvent::Message(m) => m,
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn deploy_and_deckhand_are_the_commands_they_name() {
        let m = message(translate(
            &from_form(&form("/deploy", "api@v2 to prod")).unwrap(),
        ));
        assert_eq!(m.text, "deploy api@v2 to prod");
        assert!(m.direct);
        assert_eq!(m.place.channel, "slack:C0OPS");
        assert_eq!(m.place.invocation.as_deref(), Some("U0ALICE"));
        assert_eq!(m.from.key(), "slack:U0ALICE");
        assert_eq!(
            m.delivery.as_deref(),
            Some("command:13345224609.738474920.8088930838d88f008e0")
        );
        let m = message(translate(
            &from_form(&form("/deckhand", "deny #3 &lt;flaky&gt;")).unwrap(),
        ));
        assert_eq!(m.text, "deny #3 <flaky>");
        let m = message(translate(&from_form(&form("/deploy", "")).unwrap()));
        assert_eq!(m.text, "deploy");
    }

    #[test]
    fn a_form_that_is_no_command_is_none() {
        assert!(from_form(b"text=hi").is_none());
        assert!(interaction_from_form(b"payload=%7B%7D").is_none());
        assert!(interaction_from_form(b"other=1").is_none());
    }
}
