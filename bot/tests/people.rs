//! People, accounts and channels (docs/people.md): one person whichever platform they use, a
//! display name that grants nothing, channels per env, deliveries handled once.

mod common;

use common::{TestBot, account, message};
use deckhand::chat::ChatEvent;
use deckhand::core::lifecycle::DeployState;

/// The example (carol is `slack:U0CAROL` there) with alice on Slack too, and prod's deploys
/// requested only in `slack:C0OPS` and the console.
async fn bot() -> TestBot {
    let data = tempfile::tempdir().unwrap();
    let config = common::example_edited(data.path(), "api", "", |c| {
        let c = c.replace(
            "[groups]\n",
            "[people.alice]\nslack = \"U0ALICE\"\n\n[groups]\n",
        );
        c.replace(
            "[envs.prod]\n",
            "[envs.prod]\nchannels = [\"slack:C0OPS\", \"console\"]\n",
        )
    });
    TestBot::with(config, data, common::clock("2026-11-23T10:00:00Z")).await
}

#[tokio::test]
async fn carol_approves_from_slack_what_alice_asked_in_the_console() {
    let bot = bot().await;
    let asked = bot.say("alice", "deploy api@v2 to prod").await;
    assert!(asked.contains("needs 1 approval from leads"), "{asked}");
    let said = bot.react("slack:U0CAROL", "m1", "white_check_mark").await;
    assert!(said.contains("approved by carol"), "{said}");
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    let history = bot.say("dave", "history api in prod").await;
    assert!(history.contains("· alice ·"), "{history}");
}

#[tokio::test]
async fn alices_own_account_on_another_platform_cannot_approve_her_deploy() {
    let bot = bot().await;
    bot.say("alice", "deploy api@v2 to prod").await;
    let said = bot.react("slack:U0ALICE", "m1", "white_check_mark").await;
    assert!(said.contains("alice, your own approval"), "{said}");
    assert_eq!(bot.state(1).await, DeployState::AwaitingApproval);
    // The same person by `approve #1`, from Slack: still her own.
    let said = bot.say("slack:U0ALICE", "approve #1").await;
    assert!(said.contains("your own approval"), "{said}");
    assert_eq!(bot.state(1).await, DeployState::AwaitingApproval);
}

#[tokio::test]
async fn a_display_name_grants_nothing() {
    let bot = bot().await;
    bot.say("alice", "deploy api@v2 to prod").await;
    // Someone renamed themselves "carol" on Slack: their account is still theirs.
    let mut impostor = account("slack:U0MALLORY");
    impostor.display = "carol".into();
    let said = bot
        .handle(ChatEvent::ReactionAdded(deckhand::chat::Reaction {
            channel: "console".into(),
            from: impostor,
            message: "m1".into(),
            emoji: "white_check_mark".into(),
            from_bot: false,
            delivery: None,
        }))
        .await;
    // Shown by the name they chose, beside the id that says who they are.
    assert!(
        said.contains("carol (slack:U0MALLORY), only leads can approve or deny #1"),
        "{said}"
    );
    assert!(!said.contains("approved by"), "{said}");
    assert_eq!(bot.state(1).await, DeployState::AwaitingApproval);
}

#[tokio::test]
async fn an_account_listed_in_a_group_counts_as_its_person() {
    let data = tempfile::tempdir().unwrap();
    let config = common::example_edited(data.path(), "api", "", |c| {
        c.replace(
            "leads = [\"carol\", \"dave\"]",
            "leads = [\"dave\", \"discord:333\"]",
        )
    });
    let bot = TestBot::with(config, data, common::clock("2026-11-23T10:00:00Z")).await;
    bot.say("alice", "deploy api@v2 to prod").await;
    // carol is no longer a lead, by name or by account.
    let said = bot.react("carol", "m1", "white_check_mark").await;
    assert!(!said.contains("approved by"), "{said}");
    let said = bot.react("discord:333", "m1", "white_check_mark").await;
    assert!(said.contains("approved by discord:333"), "{said}");
}

#[tokio::test]
async fn a_deploy_to_prod_from_a_channel_not_in_its_list_is_refused() {
    let bot = bot().await;
    let ev = ChatEvent::Message(message(
        "slack:C0RANDOM",
        "slack:U0ALICE",
        "!deploy api to prod",
        false,
    ));
    let said = bot.handle(ev).await;
    assert!(
        said.contains("deploys to prod are requested only in slack:C0OPS, console (this is slack:C0RANDOM); ask there."),
        "{said}"
    );
    assert_eq!(bot.state(1).await, DeployState::Blocked);
    // Queries work everywhere, and staging takes requests from anywhere.
    let ev = ChatEvent::Message(message(
        "slack:C0RANDOM",
        "slack:U0ALICE",
        "!wcid api",
        false,
    ));
    assert!(bot.handle(ev).await.contains("prod"));
    let ev = ChatEvent::Message(message(
        "slack:C0RANDOM",
        "slack:U0ALICE",
        "!deploy api to staging",
        false,
    ));
    assert!(bot.handle(ev).await.contains("#2 api@main → staging"));
    bot.wait().await;
    assert_eq!(bot.state(2).await, DeployState::Succeeded);
}

#[tokio::test]
async fn a_delivery_sent_twice_runs_once_also_after_a_restart() {
    let bot = bot().await;
    let mut m = message(
        "slack:C0OPS",
        "slack:U0ALICE",
        "!deploy api@v3 to staging",
        false,
    );
    m.delivery = Some("Ev0001".into());
    let first = bot.handle(ChatEvent::Message(m.clone())).await;
    assert!(first.contains("#1 api@v3 → staging"), "{first}");
    let again = bot.handle(ChatEvent::Message(m.clone())).await;
    assert_eq!(again, "", "a redelivery is not a second request");
    bot.wait().await;

    // A new bot on the same log: the delivery is still known.
    let config = common::example_config();
    let again = TestBot::with(config, bot.data, common::clock("2026-11-23T10:05:00Z")).await;
    assert_eq!(again.handle(ChatEvent::Message(m)).await, "");
    let history = again.say("alice", "history api in staging").await;
    assert!(
        history.contains("#1") && !history.contains("#2"),
        "{history}"
    );
}

#[tokio::test]
async fn two_approvals_at_the_same_instant_both_count_or_say_it_is_approved() {
    for _ in 0..5 {
        let bot = bot().await;
        bot.say("alice", "deploy api@v2 to prod").await;
        let (a, b) = tokio::join!(
            bot.say("carol", "approve #1"),
            bot.say("dave", "approve #1")
        );
        let both = format!("{a}{b}");
        assert!(!both.contains("Something went wrong"), "{both}");
        assert!(both.contains("approved by"), "{both}");
        // The one that came second is told the request was settled already ("already
        // approved; your vote is recorded too" when both found it complete at once).
        assert!(both.contains("already"), "{both}");
        bot.wait().await;
        assert_eq!(bot.state(1).await, DeployState::Succeeded);
    }
}
