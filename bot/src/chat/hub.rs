//! Several adapters in one engine: the hub is the one [`ChatOut`] the engine holds, and sends
//! each post and edit to the adapter of its channel's platform (`slack:C0OPS` → `slack`,
//! `discord:1234` → `discord`, `console` → `console`: a channel without `:` is its own
//! platform).
//!
//! Invariant: a channel belongs to one adapter, and every adapter sits behind its own
//! [`Outbox`], so each platform's limits and retries are its own: a slow or failing platform
//! never holds another's messages. The hub itself declares no limit.

use super::outbox::Outbox;
use super::{ChatError, ChatOut, Conversation, Limits, MsgId};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The adapters of one engine, by platform. See the module's docs.
#[derive(Default)]
pub struct Hub {
    outboxes: BTreeMap<String, Outbox>,
}

/// The platform a channel belongs to: what comes before its first `:`, or the whole name.
pub fn platform_of(channel: &str) -> &str {
    channel
        .split_once(':')
        .map_or(channel, |(platform, _)| platform)
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Registers `adapter` for the channels of `platform`, behind an [`Outbox`] of its own.
    ///
    /// # Panics
    /// When `platform` already has an adapter: a channel belongs to one (a wiring mistake).
    pub fn with(mut self, platform: &str, adapter: Arc<dyn ChatOut>) -> Hub {
        let previous = self
            .outboxes
            .insert(platform.to_owned(), Outbox::new(adapter));
        assert!(
            previous.is_none(),
            "two chat adapters for the platform `{platform}`"
        );
        self
    }

    /// The outbox of a channel's platform, or why there is none.
    fn route(&self, channel: &str) -> Result<&Outbox, ChatError> {
        let platform = platform_of(channel);
        self.outboxes.get(platform).ok_or_else(|| {
            let known: Vec<&str> = self.outboxes.keys().map(String::as_str).collect();
            ChatError::Refused(anyhow::anyhow!(
                "no chat adapter for channel `{channel}`: its platform `{platform}` is not one of those deckhand runs ({})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })
    }
}

#[async_trait]
impl ChatOut for Hub {
    /// Meaningless for several platforms: each outbox keeps its own adapter's.
    fn limits(&self) -> Limits {
        Limits::NONE
    }

    async fn post(&self, to: &Conversation, text: &str) -> Result<MsgId, ChatError> {
        self.route(&to.channel)?.post(to, text).await
    }

    async fn post_request(
        &self,
        to: &Conversation,
        text: &str,
        deploy: i64,
    ) -> Result<MsgId, ChatError> {
        self.route(&to.channel)?
            .post_request(to, text, deploy)
            .await
    }

    async fn refuse(&self, to: &Conversation, text: &str) -> Result<Option<MsgId>, ChatError> {
        self.route(&to.channel)?.refuse(to, text).await
    }

    async fn edit(&self, channel: &str, msg: &MsgId, text: &str) -> Result<(), ChatError> {
        self.route(channel)?.edit(channel, msg, text).await
    }

    async fn edit_request(
        &self,
        channel: &str,
        msg: &MsgId,
        text: &str,
        deploy: i64,
    ) -> Result<(), ChatError> {
        self.route(channel)?
            .edit_request(channel, msg, text, deploy)
            .await
    }

    fn limits_for(&self, channel: &str) -> Limits {
        self.route(channel).map_or(Limits::NONE, |o| o.limits())
    }

    /// Every platform's mention forms: a channel's messages come from one platform, but the
    /// forms cannot be mistaken for one another.
    fn mentions(&self) -> Vec<String> {
        self.outboxes.values().flat_map(|o| o.mentions()).collect()
    }

    /// Flushes every platform at once: a slow one does not hold the others' deliveries back.
    async fn flush(&self) {
        futures::future::join_all(self.outboxes.values().map(|o| o.flush())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::memory::{Failure, MemoryChat};
    use std::time::Duration;

    fn paced(max_chars: usize) -> Arc<MemoryChat> {
        Arc::new(MemoryChat::new(Limits {
            max_chars,
            edits: 1,
            per: Duration::from_secs(1),
        }))
    }

    #[test]
    fn a_channel_belongs_to_the_platform_before_its_colon() {
        assert_eq!(platform_of("slack:C0OPS"), "slack");
        assert_eq!(platform_of("discord:123:456"), "discord");
        assert_eq!(platform_of("console"), "console");
        assert_eq!(platform_of("ops"), "ops");
    }

    #[tokio::test(start_paused = true)]
    async fn each_channel_goes_to_its_platforms_outbox() {
        let (slack, discord) = (paced(50), paced(10_000));
        let hub = Hub::new()
            .with("slack", slack.clone())
            .with("discord", discord.clone());
        assert_eq!(hub.limits(), Limits::NONE);
        let long = "z".repeat(100);
        let s = hub
            .post(&Conversation::channel("slack:C0OPS"), &long)
            .await
            .unwrap();
        let d = hub
            .post(&Conversation::channel("discord:123"), &long)
            .await
            .unwrap();
        hub.edit("slack:C0OPS", &s, "s1").await.unwrap();
        hub.edit("discord:123", &d, "d1").await.unwrap();
        hub.flush().await;
        // Each platform's own limit: cut for one, whole for the other.
        assert!(slack.texts_of(&s)[0].chars().count() <= 50);
        assert_eq!(slack.texts_of(&s)[1], "s1");
        assert_eq!(discord.texts_of(&d), [long.as_str(), "d1"]);
        assert_eq!(slack.received().len(), 2);
        assert_eq!(discord.received().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_channel_of_no_known_platform_is_refused_naming_what_is_known() {
        let hub = Hub::new()
            .with("slack", paced(100))
            .with("console", paced(100));
        let err = hub
            .post(&Conversation::channel("discord:123"), "hi")
            .await
            .unwrap_err();
        assert!(matches!(err, ChatError::Refused(_)));
        let why = format!("{:#}", anyhow::Error::from(err));
        assert!(why.contains("`discord:123`"), "{why}");
        assert!(why.contains("`discord`"), "{why}");
        assert!(why.contains("console, slack"), "{why}");
        let err = hub.edit("ops", &"m1".into(), "hi").await.unwrap_err();
        assert!(matches!(err, ChatError::Refused(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_platform_holds_no_other() {
        let (down, up) = (paced(100), paced(100));
        let hub = Hub::new().with("down", down.clone()).with("up", up.clone());
        let d = hub
            .post(&Conversation::channel("down:1"), "x")
            .await
            .unwrap();
        let u = hub.post(&Conversation::channel("up:1"), "x").await.unwrap();
        down.fail_always(Failure::Unavailable);
        hub.edit("down:1", &d, "d1").await.unwrap();
        let before = tokio::time::Instant::now();
        hub.edit("up:1", &u, "u1").await.unwrap();
        // `flush` of the whole hub waits for the failing one to give up; the other's edit
        // went out at once regardless.
        hub.flush().await;
        assert_eq!(up.edits_of(&u)[0].at, before);
        assert_eq!(up.texts_of(&u), ["x", "u1"]);
        assert_eq!(down.texts_of(&d), ["x"]);
    }

    /// An adapter that marks its requests' ids, to see them forwarded.
    struct Requests(MemoryChat);

    #[async_trait]
    impl ChatOut for Requests {
        async fn post(&self, to: &Conversation, text: &str) -> Result<MsgId, ChatError> {
            self.0.post(to, text).await
        }
        async fn post_request(
            &self,
            to: &Conversation,
            text: &str,
            deploy: i64,
        ) -> Result<MsgId, ChatError> {
            Ok(format!("request-{deploy}-{}", self.0.post(to, text).await?))
        }
        async fn edit(&self, channel: &str, msg: &MsgId, text: &str) -> Result<(), ChatError> {
            self.0.edit(channel, msg, text).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_reaches_its_adapter_as_a_request_and_is_a_post_by_default() {
        let plain = paced(100);
        let hub = Hub::new()
            .with("slack", Arc::new(Requests(MemoryChat::new(Limits::NONE))))
            .with("console", plain.clone());
        let id = hub
            .post_request(&Conversation::channel("slack:C0OPS"), "ok?", 7)
            .await
            .unwrap();
        assert!(id.starts_with("request-7-"), "{id}");
        let id = hub
            .post_request(&Conversation::channel("console"), "ok?", 7)
            .await
            .unwrap();
        assert_eq!(plain.texts_of(&id), ["ok?"]);
    }

    #[test]
    #[should_panic(expected = "two chat adapters")]
    fn a_platform_has_one_adapter() {
        let _ = Hub::new().with("slack", paced(1)).with("slack", paced(1));
    }
}
