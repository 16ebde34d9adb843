//! deckhand in Discord, end to end: the real `deckhand serve` binary (the real engine, a real
//! SQLite log), with the real serenity client, against a fake Discord on 127.0.0.1
//! (`common/fake_discord.rs`). Every test asserts what the bot did (its posts and edits), since
//! serenity drops a dispatch it cannot decode silently.

mod common;
#[path = "common/fake_discord.rs"]
mod fake_discord;
#[path = "common/fake_slack.rs"]
mod fake_slack;

use common::serve::{CHAT_VARS, Serve, finish, terminate};
use fake_discord::{BOT_USER, DM, FakeDiscord, OPS, TOKEN};
use serde_json::{Value, json};
use std::path::Path;

/// People of the example: carol is a lead (`[people.carol] discord = "3…01"`); alice, bob and
/// erin are accounts of nobody's.
const ALICE: &str = "300000000000000010";
const BOB: &str = "300000000000000020";
const CAROL: &str = "300000000000000001";
const ERIN: &str = "300000000000000050";
/// A role of the guild, made the leads' in [`a_discord_role_is_the_approvers_group`].
const RELEASE_ROLE: &str = "700000000000000001";

/// The shipped example with an empty `[discord]`, without prod's weekend freeze (the bot runs
/// on the real clock here), edited by `edit`, and `tail` appended to api's recipe.
fn config(dir: &Path, tail: &str, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    common::serve::example(dir, "[discord]", tail, edit)
}

/// The Discord variables pointing at `fake`.
fn discord_env(fake: &FakeDiscord) -> Vec<(&'static str, String)> {
    vec![
        ("DISCORD_TOKEN", TOKEN.to_owned()),
        ("DISCORD_APPLICATION_ID", fake_discord::APP_ID.to_owned()),
        ("DISCORD_GUILD_ID", fake_discord::GUILD.to_owned()),
        ("DISCORD_PROXY_URL", fake.api_url.clone()),
    ]
}

/// `deckhand serve` on `config` with `env`, a fresh data directory under `dir`.
fn serve_with(dir: &Path, config: &Path, env: &[(&str, String)]) -> Serve {
    common::serve::spawn(dir, config, env)
}

/// The fake, a data directory and `deckhand serve` on the example edited by `edit` with `tail`
/// appended to api's recipe, connected and identified.
async fn started(
    tail: &str,
    edit: impl Fn(String) -> String,
) -> (FakeDiscord, tempfile::TempDir, Serve) {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), tail, edit);
    let child = serve_with(dir.path(), &cfg, &discord_env(&fake));
    fake.wait_ready(30).await;
    (fake, dir, child)
}

/// Stops the bot and checks it stopped cleanly, printed no token and called only loopback.
async fn stop_cleanly(fake: &FakeDiscord, child: Serve) -> String {
    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
    assert!(!out.contains(TOKEN), "the token was printed:\n{out}");
    fake.assert_loopback();
    out
}

/// Waits until a message was edited to its final success; returns that edit.
async fn wait_succeeded(fake: &FakeDiscord, what: &str) -> fake_discord::Call {
    fake.wait_for(60, what, |calls| {
        calls.iter().any(|c| {
            c.is("PATCH", "/channels/*/messages/*") && c.content().contains("succeeded in")
        })
    })
    .await;
    fake.edits()
        .into_iter()
        .find(|c| c.content().contains("succeeded in"))
        .unwrap()
}

/// Waits until some post (in any channel) says `what`; returns it.
async fn wait_post(fake: &FakeDiscord, what: &str) -> fake_discord::Call {
    fake.wait_for(30, what, |calls| {
        calls
            .iter()
            .any(|c| c.is("POST", "/channels/*/messages") && c.content().contains(what))
    })
    .await;
    fake.posts()
        .into_iter()
        .find(|c| c.content().contains(what))
        .unwrap()
}

/// alice asks for `api@v2` in prod in #ops; waits for the request and its two hints; returns
/// the request's message id.
async fn request_prod_deploy(fake: &FakeDiscord) -> String {
    fake.say(OPS, ALICE, "alice", &[], "!deploy api@v2 to prod");
    fake.wait_for(30, "the approval request and its hints", |calls| {
        calls
            .iter()
            .filter(|c| c.method == "PUT" && c.path.contains("/reactions/"))
            .count()
            == 2
    })
    .await;
    let hints: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "PUT" && c.path.contains("/reactions/"))
        .collect();
    let request = hints[0].segment(4).to_owned();
    // ✅ then ❌, percent-encoded in the path, on the request in #ops.
    assert_eq!(hints[0].segment(2), OPS);
    assert_eq!(hints[0].segment(6), "%E2%9C%85", "{hints:#?}");
    assert_eq!(hints[1].segment(6), "%E2%9D%8C", "{hints:#?}");
    assert!(hints.iter().all(|h| h.segment(4) == request));
    request
}

/// Waits until the message `id` was edited to say `what`; returns that edit.
async fn wait_edit_says(fake: &FakeDiscord, id: &str, what: &str) -> fake_discord::Call {
    fake.wait_for(30, what, |calls| {
        calls.iter().any(|c| {
            c.is("PATCH", "/channels/*/messages/*")
                && c.segment(4) == id
                && c.content().contains(what)
        })
    })
    .await;
    fake.edits()
        .into_iter()
        .find(|c| c.segment(4) == id && c.content().contains(what))
        .unwrap()
}

/// The buttons of a message body: the custom ids of its first row.
fn buttons(body: &Value) -> Vec<String> {
    body["components"][0]["components"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|b| b["custom_id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prod_deploy_runs_once_carol_approves_it_with_a_reaction_and_its_output_is_threaded() {
    let (fake, _dir, child) = started("", |t| t).await;

    // Identified with the token and only the intents deckhand needs; heartbeats acknowledged.
    let identify = fake
        .gateway_frames()
        .into_iter()
        .find(|f| f.op == 2)
        .unwrap();
    // GUILD_MESSAGES | GUILD_MESSAGE_REACTIONS | DIRECT_MESSAGES | DIRECT_MESSAGE_REACTIONS |
    // MESSAGE_CONTENT.
    assert_eq!(
        identify.d["intents"],
        json!((1 << 9) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 15))
    );
    // The slash commands were registered in the guild, by one bulk overwrite.
    let registered = fake.calls_to("PUT", "/applications/*/guilds/*/commands");
    assert_eq!(registered.len(), 1, "{registered:#?}");
    assert_eq!(registered[0].segment(2), fake_discord::APP_ID);
    assert_eq!(registered[0].segment(4), fake_discord::GUILD);
    let names: Vec<&str> = registered[0]
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deploy", "deckhand"]);

    let request = request_prod_deploy(&fake).await;
    let posted = fake.posts();
    let request_post = posted
        .iter()
        .find(|c| c.content().contains("needs 1 approval"))
        .expect("the request");
    assert!(
        request_post.content().contains("#1 api@v2 → prod"),
        "{request_post:?}"
    );
    assert_eq!(
        buttons(&request_post.body),
        ["deckhand_approve", "deckhand_deny"]
    );
    // Nobody is pinged by what deckhand says.
    assert!(
        posted
            .iter()
            .all(|c| c.body["allowed_mentions"]["parse"] == json!([])),
        "{posted:#?}"
    );
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.content().contains("succeeded")),
        "nothing runs before the approval"
    );

    // Discord tells the bot of its own hints: no vote, no answer.
    fake.react(OPS, &request, BOT_USER, "deckhand", &[], "✅");
    // bob is no lead: his ✅ is ignored, with one explanation.
    fake.react(OPS, &request, BOB, "bob", &[], "✅");
    wait_post(&fake, "only leads can approve or deny #1").await;

    // carol's ✅ (she is `discord = "3…01"` in the shipped [people]) approves.
    fake.react(OPS, &request, CAROL, "carol", &[], "✅");
    let done = wait_succeeded(&fake, "the deploy to succeed").await;
    wait_edit_says(&fake, &request, "approved by <@300000000000000001>").await;
    assert_eq!(
        fake.posts()
            .iter()
            .filter(|c| c.content().contains("only leads can approve"))
            .count(),
        1,
        "one explanation to bob, none for the bot's own hints"
    );
    // The status message was edited through the steps; the request's buttons went when it
    // was settled (an edit shows its text alone).
    let status = done.segment(4).to_owned();
    let status_edits: Vec<_> = fake
        .edits()
        .into_iter()
        .filter(|c| c.segment(4) == status)
        .collect();
    assert!(status_edits.len() >= 2, "{status_edits:#?}");
    assert!(
        fake.edits()
            .iter()
            .filter(|c| c.segment(4) == request && c.content().contains("approved by"))
            .all(|c| c.body["components"] == json!([])),
        "{:#?}",
        fake.edits()
    );
    // The output is in a thread started from the status message, once.
    let threads = fake.calls_to("POST", "/channels/*/messages/*/threads");
    assert_eq!(threads.len(), 1, "{threads:#?}");
    assert_eq!(threads[0].segment(2), OPS);
    assert_eq!(threads[0].segment(4), status);
    assert_eq!(threads[0].body["name"], "#1 api@v2 → prod", "{threads:#?}");
    let in_threads: Vec<_> = fake
        .posts()
        .into_iter()
        .filter(|c| c.segment(2) != OPS)
        .collect();
    assert!(
        in_threads.iter().any(|c| c.content().contains("api-1 | ")),
        "{in_threads:#?}"
    );
    assert!(
        in_threads
            .iter()
            .all(|c| c.segment(2) == in_threads[0].segment(2))
    );

    let out = stop_cleanly(&fake, child).await;
    assert!(out.contains("in Discord as <@100000000000000001>"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prod_deploy_is_approved_with_the_requests_approve_button() {
    let (fake, _dir, child) = started("", |t| t).await;
    let request = request_prod_deploy(&fake).await;

    // bob's click: acknowledged (type 6), ignored with the explanation.
    fake.click(OPS, &request, BOB, "bob", &[], "deckhand_approve");
    wait_post(&fake, "only leads can approve or deny #1").await;
    // carol's: approved, and the deploy runs.
    let (carol_click, _) = fake.click(OPS, &request, CAROL, "carol", &[], "deckhand_approve");
    wait_succeeded(&fake, "the deploy to succeed").await;
    wait_edit_says(&fake, &request, "approved by <@300000000000000001>").await;
    let callbacks = fake.calls_to("POST", "/interactions/*/*/callback");
    assert_eq!(callbacks.len(), 2, "{callbacks:#?}");
    assert!(
        callbacks.iter().all(|c| c.body["type"] == 6),
        "{callbacks:#?}"
    );
    assert!(callbacks.iter().any(|c| c.segment(2) == carol_click));

    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prod_deploy_is_denied_with_the_deny_button() {
    let (fake, _dir, child) = started("", |t| t).await;
    let request = request_prod_deploy(&fake).await;
    fake.click(OPS, &request, CAROL, "carol", &[], "deckhand_deny");
    wait_edit_says(&fake, &request, "denied by <@300000000000000001>").await;
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.content().contains("succeeded")),
        "a denied deploy never runs"
    );
    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_role_is_the_approvers_group() {
    let (fake, _dir, child) = started("", |t| {
        let leads = "leads = [\"carol\", \"dave\"]";
        assert!(t.contains(leads));
        t.replace(
            leads,
            &format!("leads = [\"carol\", \"dave\", \"discord-role:{RELEASE_ROLE}\"]"),
        )
    })
    .await;
    let request = request_prod_deploy(&fake).await;
    // erin is nobody's account, but has the role: the reaction's member data says so.
    fake.react(
        OPS,
        &request,
        ERIN,
        "erin",
        &["700000000000000099", RELEASE_ROLE],
        "👍",
    );
    wait_succeeded(&fake, "the deploy approved by the role's member").await;
    wait_edit_says(&fake, &request, "approved by").await;
    assert!(
        !fake
            .posts()
            .iter()
            .any(|c| c.content().contains("only leads")),
        "{:#?}",
        fake.posts()
    );
    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_emoji_counts_only_when_approve_with_names_it() {
    let (fake, _dir, child) = started("", |t| {
        let with = "approve_with = [\"white_check_mark\", \"+1\"]";
        assert!(t.contains(with));
        t.replace(
            with,
            "approve_with = [\"white_check_mark\", \"+1\", \"shipit\"]",
        )
    })
    .await;
    let request = request_prod_deploy(&fake).await;
    // A guild's own emoji that approve_with does not name: no vote. Then one it names.
    fake.react(
        OPS,
        &request,
        CAROL,
        "carol",
        &[],
        "party:800000000000000002",
    );
    // bob's ✅ after it draws an answer: once it is there, carol's :party: was handled (events
    // are handled in order), and it counted for nothing.
    fake.react(OPS, &request, BOB, "bob", &[], "✅");
    wait_post(&fake, "only leads can approve or deny #1").await;
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.content().contains("approved by") || c.content().contains("starting")),
        "{:#?}",
        fake.calls()
    );
    fake.react(
        OPS,
        &request,
        CAROL,
        "carol",
        &[],
        "shipit:800000000000000001",
    );
    wait_succeeded(&fake, "the deploy approved by :shipit:").await;
    let approved = fake
        .edits()
        .into_iter()
        .filter(|c| {
            c.segment(4) == request && c.content().contains("approved by <@300000000000000001>")
        })
        .count();
    assert!(approved >= 1);
    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_run_with_typed_options_autocomplete_and_ephemeral_refusals() {
    let (fake, _dir, child) = started("", |t| t).await;

    // Autocomplete of the app from the configuration.
    let (typing, _) = fake.autocomplete(OPS, ALICE, "app", "a");
    fake.wait_for(20, "the autocomplete answer", |calls| {
        calls
            .iter()
            .any(|c| c.is("POST", "/interactions/*/*/callback") && c.segment(2) == typing)
    })
    .await;
    let answer = fake
        .calls_to("POST", "/interactions/*/*/callback")
        .into_iter()
        .find(|c| c.segment(2) == typing)
        .unwrap();
    assert_eq!(answer.body["type"], 8, "{answer:?}");
    assert_eq!(
        answer.body["data"]["choices"][0]["value"], "api",
        "{answer:?}"
    );

    // /deploy app:api env:staging: deferred at once, answered in place, then run.
    let (deploy, token) = fake.slash(
        OPS,
        ALICE,
        "alice",
        &[],
        "deploy",
        json!([{"name": "app", "type": 3, "value": "api"}, {"name": "env", "type": 3, "value": "staging"}]),
    );
    wait_succeeded(&fake, "the slash command's deploy").await;
    let deferred = fake
        .calls_to("POST", "/interactions/*/*/callback")
        .into_iter()
        .find(|c| c.segment(2) == deploy)
        .unwrap();
    assert_eq!(deferred.body["type"], 5, "{deferred:?}");
    let in_place = fake.calls_to("PATCH", "/webhooks/*/*/messages/@original");
    assert!(
        in_place
            .iter()
            .any(|c| c.segment(3) == token && c.content().contains("#1 api@main → staging")),
        "{in_place:#?}"
    );

    // /deckhand with any command: `status` answers in place.
    let (_, token2) = fake.slash(
        OPS,
        ALICE,
        "alice",
        &[],
        "deckhand",
        json!([{"name": "command", "type": 3, "value": "history api"}]),
    );
    fake.wait_for(20, "the answer to /deckhand history api", |calls| {
        calls.iter().any(|c| {
            c.is("PATCH", "/webhooks/*/*/messages/@original")
                && c.segment(3) == token2
                && c.content().contains("#1")
        })
    })
    .await;

    // An option that would add words is refused, to its asker only, and runs nothing.
    let (hostile, _) = fake.slash(
        OPS,
        ALICE,
        "alice",
        &[],
        "deploy",
        json!([{"name": "app", "type": 3, "value": "api; rm -rf / --emergency x"}]),
    );
    fake.wait_for(20, "the refusal of a hostile option", |calls| {
        calls
            .iter()
            .any(|c| c.is("POST", "/interactions/*/*/callback") && c.segment(2) == hostile)
    })
    .await;
    let refusal = fake
        .calls_to("POST", "/interactions/*/*/callback")
        .into_iter()
        .find(|c| c.segment(2) == hostile)
        .unwrap();
    assert_eq!(refusal.body["type"], 4, "{refusal:?}");
    assert_eq!(refusal.body["data"]["flags"], 64, "ephemeral: {refusal:?}");
    assert!(
        refusal.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("is not an app name")
    );
    assert!(
        !fake.calls().iter().any(|c| c.content().contains("#2")),
        "nothing else ran"
    );

    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_by_prefix_mention_and_dm_are_answered_and_bots_are_not() {
    let (fake, _dir, child) = started("", |t| t).await;
    // Another bot's `!status`, then a mention in #ops (both forms), then a DM without prefix.
    let mut bot = fake_discord::user("300000000000000077", "otherbot", true);
    bot["bot"] = json!(true);
    fake.dispatch(
        "MESSAGE_CREATE",
        json!({
            "id": "600000000000000001", "channel_id": OPS, "guild_id": fake_discord::GUILD,
            "author": bot, "content": "!deploy api to staging",
            "timestamp": "2026-12-03T10:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": 0,
        }),
    );
    fake.say(OPS, ALICE, "alice", &[], &format!("<@{BOT_USER}> status"));
    fake.say(OPS, ALICE, "alice", &[], &format!("<@!{BOT_USER}> locks"));
    fake.say(DM, ALICE, "alice", &[], "status");
    fake.wait_for(30, "three answers", |calls| {
        calls
            .iter()
            .filter(|c| c.is("POST", "/channels/*/messages"))
            .count()
            >= 3
    })
    .await;
    let posts = fake.posts();
    assert_eq!(
        posts.iter().filter(|c| c.segment(2) == OPS).count(),
        2,
        "{posts:#?}"
    );
    assert_eq!(
        posts.iter().filter(|c| c.segment(2) == DM).count(),
        1,
        "{posts:#?}"
    );
    assert!(
        !fake.calls().iter().any(|c| c.content().contains("#1")),
        "the other bot's deploy was not obeyed: {:#?}",
        fake.calls()
    );
    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_refused_by_the_parser_and_never_reaches_a_shell() {
    let (fake, dir, child) = started("", |t| t).await;
    let marker = dir.path().join("pwned");
    let texts = [
        format!("!deploy api$(touch {}) to staging", marker.display()),
        format!("!deploy `touch {}` to staging", marker.display()),
        format!("!deploy api; touch {} to staging", marker.display()),
        format!("!deploy api to staging\n; touch {}", marker.display()),
    ];
    for t in &texts {
        fake.say(OPS, ALICE, "alice", &[], t);
    }
    fake.wait_for(30, "an answer to each", |calls| {
        calls
            .iter()
            .filter(|c| c.is("POST", "/channels/*/messages"))
            .count()
            >= texts.len()
    })
    .await;
    let posts = fake.posts();
    assert_eq!(posts.len(), texts.len(), "one refusal each: {posts:#?}");
    assert!(
        !posts.iter().any(|c| c.content().contains("#1")),
        "no deploy was started: {posts:#?}"
    );
    assert!(!marker.exists());
    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_line_longer_than_discord_takes_is_cut_with_a_pointer() {
    let tail = "[[tasks.deploy.steps]]\nname = \"long\"\nrun = '''head -c 2600 /dev/zero | tr '\\0' 'y'; echo'''\n";
    let (fake, _dir, child) = started(tail, |t| t).await;
    fake.say(OPS, ALICE, "alice", &[], "!deploy api to staging");
    wait_succeeded(&fake, "the deploy with a long line").await;
    let cut: Vec<_> = fake
        .posts()
        .into_iter()
        .filter(|c| c.content().contains("yyyy"))
        .collect();
    assert!(!cut.is_empty(), "{:#?}", fake.posts());
    for c in &cut {
        assert!(
            c.content().chars().count() <= 2_000,
            "{} chars",
            c.content().chars().count()
        );
        assert!(
            c.content().contains("all of it is in the deploy log"),
            "{}",
            c.content()
        );
    }
    assert!(
        fake.calls()
            .iter()
            .all(|c| c.content().chars().count() <= 2_000),
        "every message within 2,000 characters"
    );
    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_goes_in_replies_where_threads_cannot_be_started() {
    let (fake, _dir, child) = started("", |t| t).await;
    fake.refuse_threads();
    fake.say(OPS, ALICE, "alice", &[], "!deploy api to staging");
    let done = wait_succeeded(&fake, "the deploy").await;
    let status = done.segment(4).to_owned();
    fake.wait_for(20, "a reply with output", |calls| {
        calls.iter().any(|c| {
            c.is("POST", "/channels/*/messages")
                && c.body["message_reference"]["message_id"] == json!(status)
                && c.content().contains("api-staging | ")
        })
    })
    .await;
    // Tried once, then remembered.
    assert_eq!(
        fake.calls_to("POST", "/channels/*/messages/*/threads")
            .len(),
        1
    );
    assert!(fake.posts().iter().all(|c| c.segment(2) == OPS));
    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_dropped_gateway_the_bot_resumes_and_handles_nothing_twice() {
    let (fake, _dir, child) = started("", |t| t).await;
    fake.wait_for(20, "a heartbeat", |_| fake.heartbeat_acks() > 0)
        .await;

    fake.say(OPS, ALICE, "alice", &[], "!deploy api to staging");
    wait_post(&fake, "#1 api@main → staging").await;
    // The connection drops; a message arrives meanwhile; the client resumes, and the fake
    // replays the missed dispatch and the last one it had.
    fake.drop_gateway();
    fake.say(OPS, ALICE, "alice", &[], "!deploy web to staging");
    fake.wait_sessions(2, 60).await;
    wait_post(&fake, "#2 web@main → staging").await;
    // Asked to reconnect (op 7): resumed again, with the same replay.
    fake.ask_reconnect();
    fake.wait_sessions(3, 60).await;
    let resumes: Vec<_> = fake
        .gateway_frames()
        .into_iter()
        .filter(|f| f.op == 6)
        .collect();
    assert_eq!(resumes.len(), 2, "{resumes:#?}");
    assert!(fake.resent() >= 1, "a dispatch the client had was replayed");
    assert!(
        resumes
            .iter()
            .all(|r| r.d["session_id"] == "fake-session-1")
    );
    // A later command is answered once the replays were handled (in order): then count.
    fake.say(OPS, ALICE, "alice", &[], "!locks");
    fake.wait_for(30, "the answer to !locks", |calls| {
        calls
            .iter()
            .filter(|c| c.is("POST", "/channels/*/messages") && c.segment(2) == OPS)
            .count()
            >= 3
    })
    .await;
    wait_succeeded(&fake, "the deploys").await;
    let posts = fake.posts();
    for label in ["#1 api@main → staging", "#2 web@main → staging"] {
        assert_eq!(
            posts
                .iter()
                .filter(|c| c.segment(2) == OPS && c.content().contains(label))
                .count(),
            1,
            "{label} once: {posts:#?}"
        );
    }
    assert!(
        !fake.calls().iter().any(|c| c.content().contains("#3")),
        "{posts:#?}"
    );
    stop_cleanly(&fake, child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_asked_on_discord_waits_behind_one_asked_on_slack() {
    let slack = fake_slack::FakeSlack::start().await;
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A slow step, so that the first deploy still runs when the second is asked for.
    let tail = "[[tasks.deploy.steps]]\nname = \"settle\"\nrun = \"sleep 2\"\n";
    let cfg = config(dir.path(), tail, |t| format!("{t}\n[slack]\n"));
    let mut env = discord_env(&fake);
    env.push(("SLACK_BOT_TOKEN", "xoxb-fake".to_owned()));
    env.push(("SLACK_APP_TOKEN", "xapp-fake".to_owned()));
    env.push(("SLACK_API_URL", slack.api_url.clone()));
    let child = serve_with(dir.path(), &cfg, &env);
    slack.wait_connected(30).await;
    fake.wait_ready(30).await;

    assert!(slack.send(&fake_slack::envelope(
        "env-1",
        "Ev0SLACK",
        fake_slack::message(
            "C0OPS",
            "U0ALICE",
            "!deploy api to staging",
            "1764756100.000100"
        ),
    )));
    slack
        .wait_for(20, "the Slack deploy's status", |calls| {
            calls.iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.body["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("#1 api@main → staging")
            })
        })
        .await;
    fake.say(OPS, ALICE, "alice", &[], "!deploy api to staging");
    let queued = wait_post(&fake, "queued behind #1").await;
    assert!(queued.content().contains("#2"), "{}", queued.content());
    wait_succeeded(&fake, "the Discord deploy, after Slack's").await;
    assert!(
        slack.calls().iter().any(|c| c.method == "chat.update"
            && c.body["text"]
                .as_str()
                .unwrap_or_default()
                .contains("succeeded in")),
        "the Slack deploy succeeded first"
    );
    let out = stop_cleanly(&fake, child).await;
    assert!(
        out.contains("in Slack as") && out.contains("in Discord as"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exits_naming_discords_error_when_the_token_is_refused() {
    let fake = FakeDiscord::start().await;
    fake.refuse_token();
    let dir = tempfile::tempdir().unwrap();
    let child = serve_with(
        dir.path(),
        &config(dir.path(), "", |t| t),
        &discord_env(&fake),
    );
    let (status, out) = finish(child).await;
    assert!(!status.success(), "{out}");
    assert!(out.contains("Discord refused the bot token"), "{out}");
    assert!(out.contains("401: Unauthorized"), "{out}");
    assert!(!out.contains(TOKEN), "{out}");
    assert_eq!(fake.connections(), 0, "no gateway connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_says_when_discord_cannot_be_reached_rather_than_blaming_the_token() {
    // A port nothing listens on (bound, then closed).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let fake = FakeDiscord::start().await;
    let mut env = discord_env(&fake);
    env.retain(|(k, _)| *k != "DISCORD_PROXY_URL");
    env.push(("DISCORD_PROXY_URL", url));
    let dir = tempfile::tempdir().unwrap();
    let child = serve_with(dir.path(), &config(dir.path(), "", |t| t), &env);
    let (status, out) = finish(child).await;
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("could not check the bot token with Discord (GET /users/@me): could not reach Discord's REST API"),
        "{out}"
    );
    assert!(!out.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_when_discord_does_not_say_where_its_gateway_is() {
    // serenity would fall back to Discord's real gateway: deckhand stops instead.
    let fake = FakeDiscord::start().await;
    fake.hide_gateway();
    let dir = tempfile::tempdir().unwrap();
    let child = serve_with(
        dir.path(),
        &config(dir.path(), "", |t| t),
        &discord_env(&fake),
    );
    let (status, out) = finish(child).await;
    assert!(!status.success(), "{out}");
    assert!(out.contains("GET /gateway"), "{out}");
    assert_eq!(fake.connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_naming_the_intent_when_the_gateway_refuses_it() {
    let fake = FakeDiscord::start().await;
    fake.disallow_intents();
    let dir = tempfile::tempdir().unwrap();
    let child = serve_with(
        dir.path(),
        &config(dir.path(), "", |t| t),
        &discord_env(&fake),
    );
    let (status, out) = finish(child).await;
    assert!(!status.success(), "{out}");
    assert!(out.contains("MESSAGE CONTENT INTENT"), "{out}");
    assert!(
        fake.gateway_frames().iter().any(|f| f.op == 2),
        "it identified"
    );
    assert!(!out.contains(TOKEN));
}

/// Runs `deckhand <command> --config <config>` without chat variables but `env`.
fn run(
    command: &str,
    config: &Path,
    data: &Path,
    env: &[(&str, String)],
) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"));
    cmd.args([command, "--config"])
        .arg(config)
        .arg("--data")
        .arg(data);
    for var in CHAT_VARS {
        cmd.env_remove(var);
    }
    let out = cmd
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_and_serve_name_the_missing_discord_secrets_and_files_stand_in_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "", |t| t);
    let data = dir.path().join("data");
    let (code, _, err) = run("serve", &cfg, &data, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("DISCORD_TOKEN, DISCORD_APPLICATION_ID and DISCORD_GUILD_ID are not set"),
        "{err}"
    );

    let mut check = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"));
    check.args(["check", "--config"]).arg(&cfg);
    for var in CHAT_VARS {
        check.env_remove(var);
    }
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let out = check
        .env("DISCORD_TOKEN_FILE", &token_file)
        .env("DISCORD_GUILD_ID", "12x")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("discord: [discord] is configured, but DISCORD_APPLICATION_ID and DISCORD_GUILD_ID (one or more guild ids"),
        "{said}"
    );
    assert!(
        !said.contains("DISCORD_TOKEN "),
        "the token came from its file: {said}"
    );
    assert!(!said.contains(TOKEN));

    // All set: `check` says where the REST calls go and how many guilds get the commands.
    let mut check = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"));
    check.args(["check", "--config"]).arg(&cfg);
    for var in CHAT_VARS {
        check.env_remove(var);
    }
    let out = check
        .env("DISCORD_TOKEN", TOKEN)
        .env("DISCORD_APPLICATION_ID", "200000000000000001")
        .env("DISCORD_GUILD_ID", "1, 2")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("slash commands in 2 guilds; REST at https://discord.com"),
        "{said}"
    );
    assert!(!said.contains(TOKEN));
}

#[test]
fn an_unknown_key_in_the_discord_table_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "", |t| t);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}token = \"not here\"\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("token"), "{said}");
}

/// The adapter alone, against the fake: the answers to a slash command, a refusal shown to its
/// asker only, a request's buttons kept while it waits, replies where no thread can be started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_answers_invocations_in_place_and_refuses_ephemerally() {
    use deckhand::chat::discord::{Catalog, Discord, Secrets};
    use deckhand::chat::{ChatOut, Conversation};
    let fake = FakeDiscord::start().await;
    let secrets = Secrets {
        token: TOKEN.to_owned(),
        application_id: fake_discord::APP_ID.parse().unwrap(),
        guilds: vec![fake_discord::GUILD.parse().unwrap()],
        proxy_url: Some(fake.api_url.clone()),
    };
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let discord = Discord::connect(&secrets, Catalog::default(), tx)
        .await
        .unwrap();
    let out = discord.out(&deckhand::core::people::People::default());
    assert_eq!(out.limits().max_chars, 2_000);
    assert_eq!(
        out.mentions(),
        [format!("<@{BOT_USER}>"), format!("<@!{BOT_USER}>")]
    );

    // A slash command the engine answers twice: in place, then a followup.
    let (id, token) = fake.slash(OPS, ALICE, "alice", &[], "deckhand", json!([]));
    let mut to = Conversation::channel(&format!("discord:{OPS}"));
    to.invocation = Some(format!("{id}:{token}"));
    out.post(&to, "first").await.unwrap();
    out.post(&to, "second").await.unwrap();
    let original = fake.calls_to("PATCH", "/webhooks/*/*/messages/@original");
    assert_eq!(original.len(), 1);
    assert_eq!(original[0].content(), "first");
    let followups = fake.calls_to("POST", "/webhooks/*/*");
    assert_eq!(followups.len(), 1);
    assert_eq!(followups[0].content(), "second");

    // A refusal of a fresh invocation: the deferred answer goes, the refusal is ephemeral.
    let (id, token) = fake.slash(OPS, ALICE, "alice", &[], "deckhand", json!([]));
    to.invocation = Some(format!("{id}:{token}"));
    assert_eq!(out.refuse(&to, "no @everyone").await.unwrap(), None);
    let deleted = fake.calls_to("DELETE", "/webhooks/*/*/messages/@original");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].segment(3), token);
    let refusal = fake.calls_to("POST", "/webhooks/*/*").pop().unwrap();
    assert_eq!(refusal.segment(3), token);
    assert_eq!(refusal.body["flags"], 64, "{refusal:?}");
    assert_eq!(refusal.body["allowed_mentions"]["parse"], json!([]));
    // Without an invocation, a refusal is a plain post.
    let plain = Conversation::channel(&format!("discord:{OPS}"));
    assert!(out.refuse(&plain, "no").await.unwrap().is_some());

    // A request keeps its buttons while it waits; a plain edit removes them.
    let request = out
        .post_request(&plain, "#1 needs 1 approval", 1)
        .await
        .unwrap();
    let channel = format!("discord:{OPS}");
    out.edit_request(
        &channel,
        &request,
        "#1 needs 1 approval (bob: not a lead)",
        1,
    )
    .await
    .unwrap();
    out.edit(&channel, &request, "#1 approved by carol")
        .await
        .unwrap();
    let edits = fake.edits();
    assert_eq!(
        buttons(&edits[0].body),
        ["deckhand_approve", "deckhand_deny"]
    );
    assert_eq!(edits[1].body["components"], json!([]));

    // In a DM no thread can be started: output goes in replies to the message.
    let dm = format!("discord:{DM}");
    let status = out
        .post(&Conversation::channel(&dm), "#2 status")
        .await
        .unwrap();
    let thread = Conversation::thread(&dm, Some(status.clone()));
    out.post(&thread, "line 1").await.unwrap();
    out.post(&thread, "line 2").await.unwrap();
    let replies: Vec<_> = fake
        .posts()
        .into_iter()
        .filter(|c| c.body["message_reference"]["message_id"] == json!(status))
        .collect();
    assert_eq!(replies.len(), 2, "{:#?}", fake.posts());
    assert_eq!(
        fake.calls_to("POST", "/channels/*/messages/*/threads")
            .len(),
        1
    );
    // An unknown channel is refused for good, not retried.
    assert!(matches!(
        out.post(&Conversation::channel("slack:C0"), "x").await,
        Err(deckhand::chat::ChatError::Refused(_))
    ));
    fake.assert_loopback();
}

/// serenity hands each dispatch to a task of its own (and tokio runs the newest first): a burst
/// must still reach the engine in the order it was typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_messages_is_handled_in_the_order_it_was_typed() {
    let (fake, _dir, child) = started("", |t| t).await;
    let apps = ["api", "web", "api", "web", "api"];
    for app in apps {
        fake.say(
            OPS,
            ALICE,
            "alice",
            &[],
            &format!("!deploy {app} to staging"),
        );
    }
    fake.wait_for(30, "an answer to each", |calls| {
        calls
            .iter()
            .filter(|c| c.is("POST", "/channels/*/messages") && c.segment(2) == OPS)
            .count()
            >= apps.len()
    })
    .await;
    let answers: Vec<String> = fake
        .posts()
        .iter()
        .filter(|c| c.segment(2) == OPS)
        .map(|c| c.content().to_owned())
        .collect();
    for (i, app) in apps.iter().enumerate() {
        let label = format!("#{} {app}@main → staging", i + 1);
        assert!(answers[i].starts_with(&label), "{label}: {answers:#?}");
    }
    stop_cleanly(&fake, child).await;
}
