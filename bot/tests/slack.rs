//! deckhand in Slack, end to end: the real `deckhand serve` binary, with the real
//! slack-morphism client, against a fake Slack on 127.0.0.1 (`common/fake_slack.rs`).
//! Every test asserts what the bot did (its posts and edits), since an event the client cannot
//! decode is dropped silently.

mod common;
#[path = "common/fake_slack.rs"]
mod fake_slack;

use common::serve::{Serve, finish, terminate};
use fake_slack::FakeSlack;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const BOT_TOKEN: &str = "xoxb-fake-bot-token-1234";
const APP_TOKEN: &str = "xapp-fake-app-token-5678";

/// The shipped example with an empty `[slack]`, and without prod's weekend freeze (the bot runs
/// on the real clock here, and a test must not depend on the day it runs).
fn config(dir: &Path) -> std::path::PathBuf {
    config_edited(dir, |text| text)
}

/// As [`config`], with `edit` applied to the example's text first.
fn config_edited(dir: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    common::serve::example(dir, "[slack]", "", edit)
}

/// `deckhand serve` over Socket Mode, pointed at the fake, with a fresh data directory.
fn serve(fake: &FakeSlack, dir: &Path, config: &Path) -> Serve {
    serve_with(fake, dir, config, ("SLACK_APP_TOKEN", APP_TOKEN))
}

/// `deckhand serve` with the bot token and `transport` (`SLACK_APP_TOKEN` or
/// `SLACK_SIGNING_SECRET`) in its environment.
fn serve_with(fake: &FakeSlack, dir: &Path, config: &Path, transport: (&str, &str)) -> Serve {
    common::serve::spawn(
        dir,
        config,
        &[
            ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
            (transport.0, transport.1.to_owned()),
            ("SLACK_API_URL", fake.api_url.clone()),
        ],
    )
}

fn text(call: &fake_slack::Call) -> &str {
    call.body["text"].as_str().unwrap_or_default()
}

/// Waits until a status message was edited to its final success.
async fn wait_succeeded(fake: &FakeSlack, what: &str) {
    fake.wait_for(60, what, |calls| {
        calls
            .iter()
            .any(|c| c.method == "chat.update" && text(c).contains("succeeded in"))
    })
    .await;
}

/// Waits until, after the first `before` posts, one is in `thread` (`None`: in the channel).
async fn wait_post_in(fake: &FakeSlack, before: usize, thread: Option<&str>, what: &str) {
    fake.wait_for(20, what, |calls| {
        calls
            .iter()
            .filter(|c| c.method == "chat.postMessage")
            .skip(before)
            .any(|c| field(c, "thread_ts") == thread)
    })
    .await;
}

/// Runs `deckhand <command> --config <config> [--data <data>]` to its end, without Slack's
/// variables but those in `env`; returns its exit code, stdout and stderr.
fn run(
    command: &str,
    config: &Path,
    data: Option<&Path>,
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"));
    cmd.args([command, "--config"]).arg(config);
    if let Some(data) = data {
        cmd.arg("--data").arg(data);
    }
    for var in [
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_API_URL",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.envs(env.iter().copied()).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exactly one deploy (#1, api to staging) was asked for: no #2, one status message.
fn assert_one_staging_deploy(fake: &FakeSlack) {
    let all = fake.calls();
    assert!(
        !all.iter().any(|c| text(c).contains("#2")),
        "no second deploy: {all:#?}"
    );
    assert_eq!(
        all.iter()
            .filter(|c| c.method == "chat.postMessage" && text(c).contains("#1 api@main → staging"))
            .count(),
        1,
        "one status message: {all:#?}"
    );
}

fn field<'a>(call: &'a fake_slack::Call, key: &str) -> Option<&'a str> {
    call.body.get(key).and_then(Value::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_deploy_asked_in_slack_runs_with_its_status_edited_and_output_threaded() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let child = serve(&fake, dir.path(), &config(dir.path()));
    fake.wait_connected(20).await;

    let deploy = fake_slack::envelope(
        "env-1",
        "Ev0DEPLOY",
        fake_slack::message(
            "C0OPS",
            "U0ALICE",
            "!deploy api to staging",
            "1764756100.000100",
        ),
    );
    assert!(fake.send(&deploy));
    wait_succeeded(&fake, "final edit of the status").await;

    let posts = fake.calls_of("chat.postMessage");
    let status = &posts[0];
    assert_eq!(field(status, "channel"), Some("C0OPS"), "{status:?}");
    assert_eq!(
        field(status, "thread_ts"),
        None,
        "the status is in the channel"
    );
    assert!(
        text(status).contains("#1 api@main → staging"),
        "{}",
        text(status)
    );
    // Every call with the bot token; the socket opened with the app token.
    assert!(
        fake.calls()
            .iter()
            .filter(|c| c.method != "apps.connections.open")
            .all(|c| c.auth == format!("Bearer {BOT_TOKEN}"))
    );
    assert!(
        fake.calls_of("apps.connections.open")
            .iter()
            .all(|c| c.auth == format!("Bearer {APP_TOKEN}"))
    );
    // The status message's ts is what `chat.update` edits, and the output's thread.
    let status_ts = fake
        .calls_of("chat.update")
        .iter()
        .map(|c| field(c, "ts").unwrap().to_owned())
        .collect::<Vec<_>>();
    let first_ts = "1764756000.000001";
    assert!(status_ts.iter().all(|ts| ts == first_ts), "{status_ts:?}");
    let thread: Vec<_> = posts
        .iter()
        .filter(|c| field(c, "thread_ts") == Some(first_ts))
        .collect();
    assert!(
        thread.iter().any(|c| text(c).contains("api-staging | ")),
        "the output is in the status message's thread: {posts:#?}"
    );
    assert!(fake.acks().contains(&"env-1".to_owned()));

    // Delivered again (as Socket Mode may, on its second connection): acknowledged, not run
    // twice. The `!status` sent after it is answered only once the duplicate was handled
    // (the bot handles events in order).
    assert!(fake.send(&deploy));
    let status_query = fake_slack::envelope(
        "env-2",
        "Ev0STATUS",
        fake_slack::message("C0OPS", "U0ALICE", "!status", "1764756200.000100"),
    );
    assert!(fake.send(&status_query));
    let before = posts.len();
    // (Output batches are posted in the status message's thread: the answer is in the channel.)
    wait_post_in(&fake, before, None, "the answer to !status").await;
    assert_eq!(
        fake.acks().iter().filter(|a| *a == "env-1").count(),
        2,
        "both deliveries acknowledged"
    );
    assert_one_staging_deploy(&fake);

    // Addressed by mention, in a thread: answered in that thread.
    let before = fake.calls_of("chat.postMessage").len();
    let mut in_thread = fake_slack::message(
        "C0OPS",
        "U0ALICE",
        &format!("<@{}> status", fake_slack::BOT_USER),
        "1764756300.000100",
    );
    in_thread["thread_ts"] = "1764756250.000100".into();
    assert!(fake.send(&fake_slack::envelope("env-3", "Ev0MENTION", in_thread)));
    wait_post_in(
        &fake,
        before,
        Some("1764756250.000100"),
        "the answer to the mention, in its thread",
    )
    .await;

    let (status, out) = terminate(child).await;
    assert!(
        status.success(),
        "SIGTERM stops it cleanly: {status:?}\n{out}"
    );
    assert!(out.contains("SIGTERM received"), "{out}");
    // Logged at the most verbose level (RUST_LOG=trace), the requests included: no token.
    assert!(out.contains("chat.postMessage"), "the log is verbose");
    assert!(
        !out.contains(BOT_TOKEN) && !out.contains(APP_TOKEN),
        "a token was printed:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prod_deploy_runs_once_carol_approves_it_with_a_reaction_in_slack() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let child = serve(&fake, dir.path(), &config(dir.path()));
    fake.wait_connected(20).await;

    let request = request_prod_deploy(&fake).await;
    let request_ts = "1764756000.000001";
    assert_eq!(field(&request, "channel"), Some("C0OPS"));
    assert!(
        !fake.calls().iter().any(|c| text(c).contains("succeeded")),
        "nothing runs before the approval"
    );

    // bob (an account of nobody's) is no lead: his ✅ is ignored, with one explanation in the
    // request's thread.
    assert!(fake.send(&fake_slack::envelope(
        "env-bob",
        "Ev0BOB",
        fake_slack::reaction_added("C0OPS", "U0BOB", "white_check_mark", request_ts),
    )));
    fake.wait_for(20, "the explanation to bob", |calls| {
        calls.iter().any(|c| {
            c.method == "chat.postMessage" && text(c).contains("only leads can approve or deny #1")
        })
    })
    .await;

    // carol is U0CAROL in the shipped [people]; Slack writes the reaction's name (a skin tone
    // as a `::skin-tone-N` suffix, which the engine folds).
    assert!(fake.send(&fake_slack::envelope(
        "env-2",
        "Ev0APPROVE",
        fake_slack::reaction_added("C0OPS", "U0CAROL", "+1::skin-tone-3", request_ts),
    )));
    wait_succeeded(&fake, "the deploy to succeed").await;
    let updates = fake.calls_of("chat.update");
    assert!(
        updates
            .iter()
            .any(|c| text(c).contains("approved by <@U0CAROL>")),
        "{updates:#?}"
    );
    assert!(fake.acks().contains(&"env-2".to_owned()));

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exits_naming_slacks_error_when_the_bot_token_is_refused() {
    let fake = FakeSlack::start().await;
    fake.fail_auth("invalid_auth");
    let dir = tempfile::tempdir().unwrap();
    let child = serve(&fake, dir.path(), &config(dir.path()));
    let (status, out) = finish(child).await;
    assert!(!status.success(), "{out}");
    assert!(out.contains("invalid_auth"), "{out}");
    assert!(!out.contains(BOT_TOKEN), "{out}");
    assert_eq!(fake.calls_of("apps.connections.open").len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_names_the_missing_secrets_and_says_when_no_adapter_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let with_slack = config(dir.path());
    let data = dir.path().join("data");
    let (code, _, err) = run("serve", &with_slack, Some(&data), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("SLACK_BOT_TOKEN and SLACK_APP_TOKEN are not set"),
        "{err}"
    );

    let (code, _, err) = run("serve", &common::example_config(), Some(&data), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("add a `[slack]` table"), "{err}");
}

/// The adapter alone, against the fake: what Slack's answers become at the chat boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_answers_become_chat_errors_the_outbox_can_act_on() {
    use deckhand::chat::slack::{Secrets, Slack};
    use deckhand::chat::{ChatError, ChatOut, Conversation};
    deckhand::exec::health::init_tls();
    let fake = FakeSlack::start().await;
    let slack = Slack::connect(
        &Secrets {
            bot_token: BOT_TOKEN.into(),
            transport: deckhand::chat::slack::Transport::SocketMode {
                app_token: APP_TOKEN.into(),
            },
            api_url: fake.api_url.clone(),
        },
        &deckhand::config::Config::load(&common::example_config()).unwrap(),
    )
    .await
    .unwrap();
    let out = slack.out();
    assert_eq!(out.mentions(), vec!["<@U0BOT>".to_owned()]);
    assert_eq!(out.limits().max_chars, 3_000);

    // In a thread, with Slack's markup characters escaped.
    let thread = Conversation::thread("slack:C0OPS", Some("1764756000.000042".into()));
    let ts = out.post(&thread, "a <b> & c").await.unwrap();
    let post = fake.calls_of("chat.postMessage").pop().unwrap();
    assert_eq!(field(&post, "thread_ts"), Some("1764756000.000042"));
    assert_eq!(field(&post, "channel"), Some("C0OPS"));
    assert_eq!(text(&post), "a &lt;b&gt; &amp; c");
    out.edit("slack:C0OPS", &ts, "done").await.unwrap();
    let edit = fake.calls_of("chat.update").pop().unwrap();
    assert_eq!(
        (field(&edit, "ts"), text(&edit)),
        (Some(ts.as_str()), "done")
    );

    // 429 with Retry-After → RateLimited, waited out by the outbox.
    fake.rate_limit_next("chat.update", 7);
    match out.edit("slack:C0OPS", &ts, "again").await {
        Err(ChatError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }
    // Slack's `ok: false` → Refused (never retried), naming the error.
    match out.post(&Conversation::channel("slack:XGONE"), "hi").await {
        Err(ChatError::Refused(err)) => assert!(format!("{err:#}").contains("channel_not_found")),
        other => panic!("{other:?}"),
    }
    // Not a Slack channel at all.
    assert!(matches!(
        out.post(&Conversation::channel("console"), "hi").await,
        Err(ChatError::Refused(_))
    ));
}

/// A dropped socket is opened again (by slack-morphism, with a new `apps.connections.open`),
/// and events sent on the new connection are handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_socket_drops_the_bot_reconnects_and_goes_on() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let child = serve(&fake, dir.path(), &config(dir.path()));
    fake.wait_connected(20).await;
    let opened = fake.connections();

    // A deploy sent, and the connection dropped at once: whether or not the bot took it, Slack
    // sends it again (the same event) on the new connection, as it does with what it had no
    // acknowledgement for. It must run once: neither lost nor run twice.
    let deploy = fake_slack::envelope(
        "env-1",
        "Ev0BEFORE",
        fake_slack::message(
            "C0OPS",
            "U0ALICE",
            "!deploy api to staging",
            "1764756100.000100",
        ),
    );
    assert!(fake.send(&deploy));
    fake.drop_sockets();
    fake.wait_connections(opened + 1, 20).await;
    assert!(fake.calls_of("apps.connections.open").len() > opened);
    let mut again = deploy.clone();
    again["envelope_id"] = "env-1-again".into();
    again["retry_attempt"] = 1.into();
    again["retry_reason"] = "timeout".into();
    assert!(fake.send(&again));
    wait_succeeded(&fake, "the deploy sent across the reconnect").await;

    // Handled in order: once `!status` is answered, the redelivery was handled too.
    let before = fake.calls_of("chat.postMessage").len();
    assert!(fake.send(&fake_slack::envelope(
        "env-2",
        "Ev0STATUS",
        fake_slack::message("C0OPS", "U0ALICE", "!status", "1764756200.000100"),
    )));
    wait_post_in(&fake, before, None, "the answer to !status").await;
    assert_one_staging_deploy(&fake);
    fake.wait_ack("env-1-again", 10).await;

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}

#[test]
fn check_names_the_missing_slack_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path());
    let (code, stdout, _) = run("check", &path, None, &[("SLACK_APP_TOKEN", APP_TOKEN)]);
    assert_eq!(code, Some(0), "the file is valid: {stdout}");
    assert!(
        stdout.contains("SLACK_BOT_TOKEN is not set in this environment"),
        "{stdout}"
    );
    assert!(!stdout.contains(APP_TOKEN));
    // A signing secret and no app token: the Events API over HTTP, on the default address.
    let (code, stdout, _) = run(
        "check",
        &path,
        None,
        &[
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ],
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("slack: Events API over HTTP on 127.0.0.1:8080"),
        "{stdout}"
    );
    assert!(!stdout.contains(SIGNING_SECRET) && !stdout.contains(BOT_TOKEN));

    // A token in the file is refused: secrets come from the environment only.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}bot_token = \"{BOT_TOKEN}\"\n")).unwrap();
    let (code, _, stderr) = run("check", &path, None, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("unknown field `bot_token`"), "{stderr}");
}

/// slack-morphism opens two connections (the second ~5 s after the first), and Slack may send
/// one event on both: it is acknowledged on both and handled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_on_both_connections_is_handled_once() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let child = serve(&fake, dir.path(), &config(dir.path()));
    fake.wait_connections(2, 30).await;
    let deploy = fake_slack::envelope(
        "env-1",
        "Ev0TWICE",
        fake_slack::message(
            "C0OPS",
            "U0ALICE",
            "!deploy api to staging",
            "1764756100.000100",
        ),
    );
    assert_eq!(fake.send_on_all(&deploy), 2);
    wait_succeeded(&fake, "the deploy").await;
    // A later command is answered after both copies were handled (in order).
    let before = fake.calls_of("chat.postMessage").len();
    assert!(fake.send(&fake_slack::envelope(
        "env-2",
        "Ev0LATER",
        fake_slack::message("C0OPS", "U0ALICE", "!status", "1764756200.000100"),
    )));
    wait_post_in(&fake, before, None, "the answer to !status").await;
    assert_eq!(fake.acks().iter().filter(|a| *a == "env-1").count(), 2);
    let all = fake.calls();
    assert!(!all.iter().any(|c| text(c).contains("#2")), "{all:#?}");
    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}

/// alice asks for `api@v2` in prod in #C0OPS; returns the approval request's `chat.postMessage`.
async fn request_prod_deploy(fake: &FakeSlack) -> fake_slack::Call {
    assert!(fake.send(&fake_slack::envelope(
        "env-1",
        "Ev0PROD",
        fake_slack::message(
            "C0OPS",
            "U0ALICE",
            "!deploy api@v2 to prod",
            "1764756100.000100"
        ),
    )));
    fake.wait_for(20, "the approval request and its hints", |calls| {
        calls.iter().filter(|c| c.method == "reactions.add").count() == 2
    })
    .await;
    fake.calls_of("chat.postMessage")
        .into_iter()
        .find(|c| text(c).contains("needs "))
        .expect("the approval request")
}

/// The ts of the first message the fake hands out: the approval request in these tests.
const REQUEST_TS: &str = "1764756000.000001";

/// `user` clicks the button `action_id` on the approval request; the `n`th click of the test.
fn click(fake: &FakeSlack, n: u32, user: &str, action_id: &str) {
    let at = format!("17647562{n:02}.000100");
    assert!(fake.send(&fake_slack::interactive(
        &format!("env-click-{n}"),
        fake_slack::block_actions("C0OPS", user, REQUEST_TS, action_id, "#1", &at),
    )));
}

/// The fake, a data directory and `deckhand serve` on the example edited by `edit`, connected.
async fn started(edit: impl Fn(String) -> String) -> (FakeSlack, tempfile::TempDir, Serve) {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let child = serve(&fake, dir.path(), &config_edited(dir.path(), edit));
    fake.wait_connected(20).await;
    (fake, dir, child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prod_deploy_is_approved_with_the_requests_approve_button() {
    let (fake, _dir, child) = started(|text| text).await;

    let request = request_prod_deploy(&fake).await;
    let ts = REQUEST_TS;
    // The request: a section with its text, then Approve and Deny, the text as fallback.
    assert!(text(&request).contains("#1 api@v2 → prod"), "{request:?}");
    let blocks = &request.body["blocks"];
    assert_eq!(blocks[0]["type"], "section", "{blocks:#}");
    assert!(
        blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("needs 1 approval")
    );
    let buttons = &blocks[1]["elements"];
    assert_eq!(blocks[1]["type"], "actions", "{blocks:#}");
    assert_eq!(
        (&buttons[0]["text"]["text"], &buttons[0]["style"]),
        (&Value::from("Approve"), &Value::from("primary"))
    );
    assert_eq!(buttons[0]["action_id"], "deckhand_approve");
    assert_eq!(buttons[0]["value"], "#1");
    assert_eq!(
        (&buttons[1]["text"]["text"], &buttons[1]["style"]),
        (&Value::from("Deny"), &Value::from("danger"))
    );
    // The bot's own hints, on that message.
    let hints: Vec<(String, String, String)> = fake
        .calls_of("reactions.add")
        .iter()
        .map(|c| {
            (
                field(c, "channel").unwrap_or_default().to_owned(),
                field(c, "timestamp").unwrap_or_default().to_owned(),
                field(c, "name").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        hints,
        [
            ("C0OPS".into(), ts.into(), "white_check_mark".into()),
            ("C0OPS".into(), ts.into(), "x".into())
        ]
    );
    // Slack then tells the bot of its own reactions: they are no vote and draw no answer.
    for (i, name) in ["white_check_mark", "x"].iter().enumerate() {
        assert!(fake.send(&fake_slack::envelope(
            &format!("env-own-{i}"),
            &format!("Ev0OWN{i}"),
            fake_slack::reaction_added("C0OPS", fake_slack::BOT_USER, name, ts),
        )));
    }

    // bob is no lead: his click is ignored, with the explanation.
    click(&fake, 1, "U0BOB", "deckhand_approve");
    fake.wait_for(20, "the explanation to bob", |calls| {
        calls.iter().any(|c| {
            c.method == "chat.postMessage" && text(c).contains("only leads can approve or deny #1")
        })
    })
    .await;
    fake.wait_ack("env-click-1", 10).await;
    assert!(
        !fake.calls().iter().any(|c| text(c).contains("bots")
            || text(c).contains("denied")
            || text(c).contains("approved by")),
        "the bot's own reactions counted for nothing: {:#?}",
        fake.calls()
    );

    // carol is U0CAROL in the shipped [people]: her click approves, and the deploy runs.
    click(&fake, 2, "U0CAROL", "deckhand_approve");
    wait_succeeded(&fake, "the deploy to succeed").await;
    let updates = fake.calls_of("chat.update");
    assert!(
        updates
            .iter()
            .any(|c| field(c, "ts") == Some(ts) && text(c).contains("approved by <@U0CAROL>")),
        "{updates:#?}"
    );
    // An edit shows its text: the buttons go.
    assert!(
        updates
            .iter()
            .all(|c| c.body["blocks"] == Value::Array(vec![])),
        "{updates:#?}"
    );
    fake.wait_ack("env-click-2", 10).await;

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prod_deploy_is_denied_with_the_requests_deny_button() {
    let (fake, _dir, child) = started(|text| text).await;

    request_prod_deploy(&fake).await;
    click(&fake, 1, "U0CAROL", "deckhand_deny");
    wait_request_says(&fake, REQUEST_TS, "denied by <@U0CAROL>").await;
    assert!(
        !fake.calls().iter().any(|c| text(c).contains("succeeded")),
        "a denied deploy never runs"
    );
    fake.wait_ack("env-click-1", 10).await;

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}

/// Waits until the request `ts` was edited to say `what`.
async fn wait_request_says(fake: &FakeSlack, ts: &str, what: &str) {
    fake.wait_for(20, what, |calls| {
        calls.iter().any(|c| {
            c.method == "chat.update" && field(c, "ts") == Some(ts) && text(c).contains(what)
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_reaction_withdraws_an_approval_before_the_deploy_starts() {
    // prod needing two leads' approvals (carol and dave are the shipped leads).
    let (fake, _dir, child) = started(|text| {
        let one = "required = 1\ngroup = \"leads\"";
        assert!(text.contains(one), "prod's approvals moved");
        text.replacen(one, "required = 2\ngroup = \"leads\"", 1)
    })
    .await;

    let request = request_prod_deploy(&fake).await;
    assert!(text(&request).contains("needs 2 approvals"), "{request:?}");
    let ts = REQUEST_TS;
    assert!(fake.send(&fake_slack::envelope(
        "env-carol",
        "Ev0CAROL",
        fake_slack::reaction_added("C0OPS", "U0CAROL", "white_check_mark", ts),
    )));
    wait_request_says(&fake, ts, "Approved so far by <@U0CAROL>; 1 more needed.").await;
    assert!(fake.send(&fake_slack::envelope(
        "env-carol-back",
        "Ev0CAROLBACK",
        fake_slack::reaction_removed("C0OPS", "U0CAROL", "white_check_mark", ts),
    )));
    wait_request_says(&fake, ts, "No approvals yet.").await;
    // dave's click is now the only approval: the deploy still waits.
    click(&fake, 1, "U0DAVE", "deckhand_approve");
    wait_request_says(&fake, ts, "Approved so far by <@U0DAVE>; 1 more needed.").await;
    // A request still waiting keeps its buttons through its edits.
    let pending = fake
        .calls_of("chat.update")
        .into_iter()
        .rfind(|c| text(c).contains("1 more needed"))
        .unwrap();
    assert_eq!(pending.body["blocks"][1]["type"], "actions", "{pending:?}");
    assert!(
        !fake.calls().iter().any(|c| text(c).contains("succeeded")),
        "nothing runs on one approval"
    );
    // carol's click makes two.
    click(&fake, 2, "U0CAROL", "deckhand_approve");
    wait_succeeded(&fake, "the deploy to succeed").await;

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}

// ---------------------------------------------------------------------------------------------
// The Events API over HTTP
// ---------------------------------------------------------------------------------------------

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// Slack's v0 signature of `body` at `ts`, as Slack computes it.
fn sign(secret: &str, ts: i64, body: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `POST /slack/events` with `headers` (name, value); the status code and the body.
async fn post_event(addr: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    post_to(addr, "/slack/events", "application/json", headers, body).await
}

/// `POST path` with `headers` (name, value); the status code and the body.
async fn post_to(
    addr: &str,
    path: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The headers of a request signed with `secret` at `ts`.
fn signed(secret: &str, ts: i64, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Slack-Request-Timestamp", ts.to_string()),
        ("X-Slack-Signature", sign(secret, ts, body)),
    ]
}

/// The `host:port` the bot's HTTP listener took, read from its start-up line.
async fn http_addr(bot: &Serve) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(&bot.log).unwrap_or_default();
        if let Some(rest) = log.split("over the Events API at http://").nth(1) {
            return rest.split('/').next().unwrap().to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no HTTP listener announced:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Over HTTP: the challenge answered; a missing, forged, six-minute-old or replayed signature
/// refused with 401 and never run; a signed deploy run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_api_over_http_runs_signed_events_once_and_refuses_the_rest_with_401() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let shipped = std::fs::read_to_string(&config).unwrap();
    // Port 0: the system picks one, and the start-up line names it.
    std::fs::write(
        &config,
        format!("{shipped}\n[http]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let child = serve_with(
        &fake,
        dir.path(),
        &config,
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
    );
    let addr = http_addr(&child).await;
    assert_eq!(
        fake.calls_of("auth.test").len(),
        1,
        "the token checked at start"
    );

    // url_verification: the challenge back.
    let challenge = r#"{"token":"unused","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (code, body) = post_event(
        &addr,
        &signed(SIGNING_SECRET, unix_now(), challenge),
        challenge,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    let event = |event_id: &str, text: &str, ts: &str| {
        fake_slack::envelope(
            "unused",
            event_id,
            fake_slack::message("C0OPS", "U0ALICE", text, ts),
        )["payload"]
            .to_string()
    };
    // Refused, each a deploy that would run if it were taken.
    let forged = event("Ev0FORGED", "!deploy api to staging", "1764756001.000100");
    let (code, _) = post_event(
        &addr,
        &signed("not-the-secret", unix_now(), &forged),
        &forged,
    )
    .await;
    assert_eq!(code, 401, "a forged signature");
    let stale = event("Ev0STALE", "!deploy api to staging", "1764756002.000100");
    let (code, _) = post_event(
        &addr,
        &signed(SIGNING_SECRET, unix_now() - 6 * 60, &stale),
        &stale,
    )
    .await;
    assert_eq!(code, 401, "a six-minute-old timestamp");
    let bare = event("Ev0BARE", "!deploy api to staging", "1764756003.000100");
    let (code, _) = post_event(&addr, &[], &bare).await;
    assert_eq!(code, 401, "no signature headers");
    let only_ts = vec![("X-Slack-Request-Timestamp", unix_now().to_string())];
    let (code, _) = post_event(&addr, &only_ts, &bare).await;
    assert_eq!(code, 401, "a timestamp but no signature");

    // Signed: run, and answered at once (before the deploy ends).
    let deploy = event(
        "Ev0HTTPDEPLOY",
        "!deploy api to staging",
        "1764756100.000100",
    );
    let headers = signed(SIGNING_SECRET, unix_now(), &deploy);
    let (code, _) = post_event(&addr, &headers, &deploy).await;
    assert_eq!(code, 200);
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| text(c).contains("succeeded in")),
        "answered before the deploy ended"
    );
    wait_succeeded(&fake, "the signed deploy").await;
    // The very same request again: a replay.
    let (code, _) = post_event(&addr, &headers, &deploy).await;
    assert_eq!(code, 401, "a replayed signature");
    // Slack's retry of the event (same event_id, signed anew): accepted, not run again.
    let (code, _) = post_event(
        &addr,
        &signed(SIGNING_SECRET, unix_now() + 1, &deploy),
        &deploy,
    )
    .await;
    assert_eq!(code, 200, "a retry is signed anew");

    // Handled in order: once `!status` is answered, everything before it was handled.
    let before = fake.calls_of("chat.postMessage").len();
    let status = event("Ev0HTTPSTATUS", "!status", "1764756200.000100");
    let (code, _) = post_event(&addr, &signed(SIGNING_SECRET, unix_now(), &status), &status).await;
    assert_eq!(code, 200);
    wait_post_in(&fake, before, None, "the answer to !status").await;
    assert_one_staging_deploy(&fake);
    assert_eq!(
        fake.calls_of("apps.connections.open").len(),
        0,
        "no Socket Mode"
    );

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
    assert_eq!(
        out.matches("(401)").count(),
        5,
        "each refusal logged:\n{out}"
    );
    assert!(
        !out.contains(SIGNING_SECRET),
        "the secret was printed:\n{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Slash commands, display names, user groups, limits
// ---------------------------------------------------------------------------------------------

/// The ephemeral messages sent to `user`.
fn ephemerals_to(fake: &FakeSlack, user: &str) -> Vec<String> {
    fake.calls_of("chat.postEphemeral")
        .iter()
        .filter(|c| field(c, "user") == Some(user))
        .map(|c| text(c).to_owned())
        .collect()
}

/// Waits until `user` was shown an ephemeral message containing `what`.
async fn wait_ephemeral(fake: &FakeSlack, user: &str, what: &str) {
    fake.wait_for(20, what, |calls| {
        calls.iter().any(|c| {
            c.method == "chat.postEphemeral"
                && field(c, "user") == Some(user)
                && text(c).contains(what)
        })
    })
    .await;
}

/// `/deploy` and `/deckhand` over Socket Mode: the answer in the channel for everyone, each
/// refusal (unknown app, hostile ref, an approval of nothing) to its asker only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_answer_in_the_channel_and_refuse_only_to_their_asker() {
    let (fake, _dir, child) = started(|text| text).await;

    let command = |n: u32, command: &str, text: &str| {
        assert!(fake.send(&fake_slack::slash_command(
            &format!("env-cmd-{n}"),
            "C0OPS",
            "U0ALICE",
            command,
            text,
            &format!("1764756.{n}.trigger"),
        )));
    };
    command(1, "/deploy", "api to staging");
    wait_succeeded(&fake, "the deploy asked with /deploy").await;
    let status = fake.calls_of("chat.postMessage").remove(0);
    assert_eq!(field(&status, "channel"), Some("C0OPS"));
    assert!(
        text(&status).contains("#1 api@main → staging"),
        "{status:?}"
    );
    fake.wait_ack("env-cmd-1", 10).await;

    let posts = fake.calls_of("chat.postMessage").len();
    command(2, "/deckhand", "deploy apj to staging");
    wait_ephemeral(&fake, "U0ALICE", "apj").await;
    command(3, "/deckhand", "approve #99");
    wait_ephemeral(&fake, "U0ALICE", "There is no deploy #99.").await;
    command(4, "/deploy", "api@$(touch /tmp/pwned) to staging");
    command(5, "/deckhand", "history api");
    // Answered in order: once `history` is answered in the channel, the hostile ref was handled.
    wait_post_in(&fake, posts, None, "the answer to /deckhand history").await;
    let refusals = ephemerals_to(&fake, "U0ALICE");
    assert_eq!(refusals.len(), 3, "{refusals:#?}");
    assert!(refusals[0].contains("Did you mean"), "{refusals:#?}");
    let channel: Vec<String> = fake.calls_of("chat.postMessage")[posts..]
        .iter()
        .map(|c| text(c).to_owned())
        .collect();
    assert_eq!(
        channel.len(),
        1,
        "only the history in the channel: {channel:#?}"
    );
    assert!(channel[0].contains("#1"), "{channel:#?}");
    assert!(!std::path::Path::new("/tmp/pwned").exists());
    assert!(!channel[0].contains("#2"), "no second deploy: {channel:#?}");
    for n in 2..=5 {
        fake.wait_ack(&format!("env-cmd-{n}"), 10).await;
    }

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}

/// An account of nobody's is shown by the name `users.info` gives, looked up once; a user
/// group of `[groups]` approves through its members (`usergroups.users.list`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_names_come_from_users_info_and_a_user_group_can_approve() {
    let fake = FakeSlack::start().await;
    fake.add_user("U0ERIN", "Erin Smith");
    fake.set_group("S0LEADS", &["U0ERIN"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_edited(dir.path(), |text| {
        let leads = "leads = [\"carol\", \"dave\"]";
        assert!(text.contains(leads), "the example's leads moved");
        text.replacen(
            leads,
            "leads = [\"carol\", \"dave\", \"slack-group:S0LEADS\"]",
            1,
        )
    });
    let child = serve(&fake, dir.path(), &config);
    fake.wait_connected(20).await;
    fake.wait_for(20, "the user group listed", |calls| {
        calls.iter().any(|c| {
            c.method == "usergroups.users.list" && field(c, "usergroup") == Some("S0LEADS")
        })
    })
    .await;

    let request = request_prod_deploy(&fake).await;
    assert!(text(&request).contains("leads"), "{request:?}");
    // erin is in no [people] but in the user group: her ✅ approves.
    assert!(fake.send(&fake_slack::envelope(
        "env-erin",
        "Ev0ERIN",
        fake_slack::reaction_added("C0OPS", "U0ERIN", "white_check_mark", REQUEST_TS),
    )));
    wait_succeeded(&fake, "the deploy erin approved").await;
    let updates = fake.calls_of("chat.update");
    assert!(
        updates
            .iter()
            .any(|c| text(c).contains("approved by Erin Smith (slack:U0ERIN)")),
        "{updates:#?}"
    );
    // Asked again: her name is remembered.
    let before = fake.calls_of("chat.postMessage").len();
    assert!(fake.send(&fake_slack::envelope(
        "env-erin-2",
        "Ev0ERIN2",
        fake_slack::message("C0OPS", "U0ERIN", "!history api", "1764756400.000100"),
    )));
    wait_post_in(&fake, before, None, "the answer to erin's history").await;
    let lookups = fake
        .calls_of("users.info")
        .iter()
        .filter(|c| field(c, "user") == Some("U0ERIN"))
        .count();
    assert_eq!(lookups, 1, "one users.info for erin");

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}

/// A 429 on `chat.update` is waited out and the final state still delivered; an output line
/// longer than Slack's limit is cut with a pointer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_update_still_ends_in_the_final_state_and_long_output_is_cut() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::example_edited(dir.path(), "api", "", |text| text);
    // api's deploy prints one 5,000-character line first.
    let recipe = config
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("deploy.d/api.toml");
    let shipped = std::fs::read_to_string(&recipe).unwrap();
    let first_step = "[[tasks.deploy.steps]]\n";
    assert!(shipped.contains(first_step), "the recipe's steps moved");
    std::fs::write(
        &recipe,
        shipped.replacen(
            first_step,
            "[[tasks.deploy.steps]]\nname = \"shout\"\nrun = \"printf 'x%.0s' $(seq 5000); echo\"\n\n[[tasks.deploy.steps]]\n",
            1,
        ),
    )
    .unwrap();
    let text_of = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text_of}\n[slack]\n")).unwrap();
    let child = serve(&fake, dir.path(), &config);
    fake.wait_connected(20).await;

    fake.rate_limit_next("chat.update", 1);
    assert!(fake.send(&fake_slack::envelope(
        "env-1",
        "Ev0DEPLOY",
        fake_slack::message(
            "C0OPS",
            "U0ALICE",
            "!deploy api to staging",
            "1764756100.000100"
        ),
    )));
    wait_succeeded(&fake, "the final state after a 429").await;
    let updates = fake.calls_of("chat.update");
    assert!(
        updates.len() >= 2,
        "the limited update was tried again: {updates:#?}"
    );
    assert!(
        fake.calls()
            .iter()
            .filter(|c| c.method.starts_with("chat."))
            .all(|c| text(c).chars().count() <= 3_000),
        "nothing over Slack's limit"
    );
    fake.wait_for(20, "the cut output line", |calls| {
        calls.iter().any(|c| {
            c.method == "chat.postMessage"
                && text(c).contains("xxxxxxxxxx")
                && text(c).contains("(line cut; all of it is in the deploy log: `status #1`")
        })
    })
    .await;

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}

/// Over HTTP: a signed slash command (a form) is answered 200 with nothing, then in the channel;
/// a signed click on Approve approves; a forged one is refused with 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_slash_commands_and_clicks_are_signed_forms() {
    let fake = FakeSlack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let shipped = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{shipped}\n[http]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    // The secret from a file (`<NAME>_FILE`), as Docker and Kubernetes secrets give it.
    let secret_file = dir.path().join("signing-secret");
    std::fs::write(&secret_file, format!("{SIGNING_SECRET}\n")).unwrap();
    let child = serve_with(
        &fake,
        dir.path(),
        &config,
        ("SLACK_SIGNING_SECRET_FILE", secret_file.to_str().unwrap()),
    );
    let addr = http_addr(&child).await;
    let form = "application/x-www-form-urlencoded";

    let command = fake_slack::form(&fake_slack::command_fields(
        "C0OPS",
        "U0ALICE",
        "/deploy",
        "api@v2 to prod",
        "1764756.1.trigger",
    ));
    let forged = signed("not-the-secret", unix_now(), &command);
    let (code, _) = post_to(&addr, "/slack/commands", form, &forged, &command).await;
    assert_eq!(code, 401, "a forged command");
    let (code, body) = post_to(
        &addr,
        "/slack/commands",
        form,
        &signed(SIGNING_SECRET, unix_now(), &command),
        &command,
    )
    .await;
    assert_eq!(
        (code, body.as_str()),
        (200, ""),
        "taken, nothing shown of its own"
    );
    fake.wait_for(20, "the approval request", |calls| {
        calls.iter().filter(|c| c.method == "reactions.add").count() == 2
    })
    .await;
    assert_eq!(
        fake.calls_of("chat.postMessage").len(),
        1,
        "{:#?}",
        fake.calls()
    );

    let click = |user: &str, at: &str| {
        let payload =
            fake_slack::block_actions("C0OPS", user, REQUEST_TS, "deckhand_approve", "#1", at);
        fake_slack::form(&[("payload".to_owned(), payload.to_string())])
    };
    let forged_click = click("U0CAROL", "1764756201.000100");
    let (code, _) = post_to(
        &addr,
        "/slack/interactions",
        form,
        &signed("not-the-secret", unix_now(), &forged_click),
        &forged_click,
    )
    .await;
    assert_eq!(code, 401, "a forged click");
    let carol = click("U0CAROL", "1764756202.000100");
    let (code, body) = post_to(
        &addr,
        "/slack/interactions",
        form,
        &signed(SIGNING_SECRET, unix_now(), &carol),
        &carol,
    )
    .await;
    assert_eq!((code, body.as_str()), (200, ""));
    wait_succeeded(&fake, "the deploy carol approved by click").await;
    assert!(
        fake.calls_of("chat.update")
            .iter()
            .any(|c| field(c, "ts") == Some(REQUEST_TS)
                && text(c).contains("approved by <@U0CAROL>")),
        "{:#?}",
        fake.calls_of("chat.update")
    );

    let (status, out) = terminate(child).await;
    assert!(status.success(), "{status:?}\n{out}");
}
