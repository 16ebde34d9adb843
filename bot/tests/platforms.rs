//! One engine, several platforms (issue 9): the console and two in-memory adapters standing in
//! for Slack and Discord (registered under those platform names, so `[people]` applies), one
//! store and one queue, with the shipped example (carol is `slack:U0CAROL` and
//! `discord:300000000000000001` there).

mod common;

use common::{SharedBuf, clock, example_config, message};
use deckhand::chat::console::{CHANNEL, ConsoleOut};
use deckhand::chat::hub::Hub;
use deckhand::chat::memory::MemoryChat;
use deckhand::chat::{CONSOLE, ChatEvent, Limits};
use deckhand::core::lifecycle::DeployState;
use deckhand::engine::Bot;
use deckhand::store::Store;
use std::sync::Arc;
use std::time::Duration;

struct Three {
    bot: Bot,
    store: Store,
    console: SharedBuf,
    slack: Arc<MemoryChat>,
    discord: Arc<MemoryChat>,
    _data: tempfile::TempDir,
}

impl Three {
    async fn start(config: std::path::PathBuf) -> Three {
        let data = tempfile::tempdir().unwrap();
        let console = SharedBuf::default();
        let slack = Arc::new(MemoryChat::new(Limits::NONE));
        let discord = Arc::new(MemoryChat::new(Limits {
            max_chars: 2000,
            edits: 5,
            per: Duration::from_secs(5),
        }));
        let hub = Hub::new()
            .with(
                CONSOLE,
                Arc::new(ConsoleOut::new(Box::new(console.clone()))),
            )
            .with("slack", slack.clone())
            .with("discord", discord.clone());
        let (bot, store) = common::start_bot(
            &config,
            data.path(),
            Arc::new(hub),
            clock("2026-11-23T10:00:00Z"),
        )
        .await;
        Three {
            bot,
            store,
            console,
            slack,
            discord,
            _data: data,
        }
    }

    async fn say(&self, channel: &str, user: &str, text: &str) {
        self.bot
            .handle(ChatEvent::Message(message(channel, user, text, false)))
            .await;
    }

    async fn state(&self, id: i64) -> DeployState {
        self.store.deploy(id).await.unwrap().unwrap().state
    }

    async fn wait(&self) {
        tokio::time::timeout(Duration::from_secs(60), async {
            self.bot.wait_idle().await;
            self.bot.flush_chat().await;
        })
        .await
        .expect("deploys finished within a minute");
    }
}

fn texts(chat: &MemoryChat) -> String {
    chat.received()
        .iter()
        .map(|c| c.request.text().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn alice_asks_in_the_console_and_carol_approves_from_slack() {
    let both = Three::start(example_config()).await;
    both.bot
        .handle(ChatEvent::Message(message(
            CHANNEL,
            "alice",
            "deploy api@v7 to prod",
            true,
        )))
        .await;
    assert_eq!(both.state(1).await, DeployState::AwaitingApproval);
    // alice's own Slack account is alice: no.
    both.say("slack:C0OPS", "slack:U0ALICE", "!approve #1")
        .await;
    assert_eq!(both.state(1).await, DeployState::AwaitingApproval);
    // carol, on Slack.
    both.say("slack:C0OPS", "slack:U0CAROL", "!approve #1")
        .await;
    both.wait().await;
    assert_eq!(both.state(1).await, DeployState::Succeeded);
    let slack = texts(&both.slack);
    assert!(
        slack.contains("slack:U0ALICE, only leads can approve or deny #1"),
        "{slack}"
    );
    assert!(
        slack.contains("#1 api@v7 → prod: approved by carol"),
        "{slack}"
    );
    // The deploy speaks where it was asked: the console.
    let console = both.console.text();
    assert!(
        console.contains("#1 api@v7 → prod: succeeded in"),
        "{console}"
    );
    assert!(texts(&both.discord).is_empty());
    let approvals = both.store.approvals(1).await.unwrap();
    assert_eq!(
        approvals
            .iter()
            .map(|a| a.user.as_str())
            .collect::<Vec<_>>(),
        ["carol"]
    );
}

#[tokio::test]
async fn deploys_asked_on_slack_and_on_discord_to_one_target_queue_behind_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let slow = "[[tasks.slow.steps]]\nname = \"slow\"\nrun = \"sleep 1\"\n";
    let config = common::example_with_recipe_tail(dir.path(), "api", slow);
    let both = Three::start(config).await;
    both.say(
        "slack:C0OPS",
        "slack:U0CAROL",
        "!deploy:slow api to staging",
    )
    .await;
    both.say(
        "discord:555",
        "discord:300000000000000001",
        "!deploy api@v2 to staging",
    )
    .await;
    let discord = texts(&both.discord);
    assert!(
        discord.contains("#2 api@v2 → staging: queued behind #1, position 1"),
        "{discord}"
    );
    both.wait().await;
    assert_eq!(both.state(1).await, DeployState::Succeeded);
    assert_eq!(both.state(2).await, DeployState::Succeeded);
    let one = both.store.deploy(1).await.unwrap().unwrap();
    let two = both.store.deploy(2).await.unwrap().unwrap();
    assert!(
        two.started_at.unwrap() >= one.finished_at.unwrap(),
        "they overlapped"
    );
    // Both are carol's, whichever platform she used.
    assert_eq!(
        (one.requested_by.as_str(), two.requested_by.as_str()),
        ("carol", "carol")
    );
    assert!(texts(&both.slack).contains("#1 api@main → staging: succeeded in"));
    assert!(texts(&both.discord).contains("#2 api@v2 → staging: succeeded in"));
}

#[tokio::test]
async fn a_platforms_own_mention_form_addresses_the_bot() {
    let data = tempfile::tempdir().unwrap();
    let slack = Arc::new(MemoryChat::new(Limits::NONE).with_mentions(&["<@U0BOT>"]));
    let (bot, _store) = common::start_bot(
        &example_config(),
        data.path(),
        Arc::new(Hub::new().with("slack", slack.clone())),
        clock("2026-11-23T10:00:00Z"),
    )
    .await;
    let say = |text: &str| ChatEvent::Message(message("slack:C0OPS", "slack:U0ALICE", text, false));
    bot.handle(say("<@U0BOT> wcid api")).await;
    bot.handle(say("deckhand: wcid web")).await;
    bot.handle(say("<@U0SOMEONE> wcid api")).await;
    bot.flush_chat().await;
    let said = texts(&slack);
    assert!(said.contains("api in staging"), "{said}");
    assert!(said.contains("web in staging"), "{said}");
    assert_eq!(
        slack.received().len(),
        2,
        "a mention of someone else is not for the bot: {said}"
    );
}
