//! The rules that let a team trust deckhand with production (docs/policy.md), as people in
//! chat meet them: approvals by reaction and by command, freezes, emergencies, locks.
//! Real SQLite, real local hosts, the shipped example configuration; the clock is started at
//! chosen instants (a Monday morning, a Friday evening in Brussels) and runs on.

mod common;

use common::TestBot;
use deckhand::core::lifecycle::DeployState;

const MONDAY: &str = "2026-11-23T10:00:00Z";
/// Friday 27 November 2026, 18:00 in Brussels: inside the `weekend` window.
const FRIDAY_EVENING: &str = "2026-11-27T18:00:00+01:00";

#[tokio::test]
async fn prod_waits_for_a_lead_and_ignores_everyone_else() {
    let bot = TestBot::at(MONDAY).await;
    let request = bot.say("alice", "deploy api@v2 to prod").await;
    assert!(
        request
            .starts_with("[m1] #1 api@v2 → prod requested by alice needs 1 approval from leads."),
        "{request}"
    );
    assert!(
        request.contains("react ✅ or 👍 or say `approve #1`"),
        "{request}"
    );
    assert!(
        request.contains("react ❌ or 👎 or say `deny #1 <reason>`"),
        "{request}"
    );
    assert!(
        request.contains("Expires Mon 23 Nov 11:30 CET (10:30 UTC)"),
        "{request}"
    );

    let own = bot.react("alice", "m1", "white_check_mark").await;
    assert!(
        own.contains("alice, your own approval of #1 api@v2 → prod doesn't count"),
        "{own}"
    );
    let outsider = bot.react("bob", "m1", "✅").await;
    assert!(
        outsider.contains("bob, only leads can approve or deny #1"),
        "{outsider}"
    );
    // One explanation per person, not one per reaction.
    assert_eq!(bot.react("bob", "m1", "+1").await, "");
    let robot = bot.react_as_bot("carol", "m1", "white_check_mark").await;
    assert!(
        robot.contains("reactions from bots (carol) never count"),
        "{robot}"
    );
    assert_eq!(bot.state(1).await, DeployState::AwaitingApproval);

    let carol = bot.react("carol", "m1", "+1::skin-tone-3").await;
    assert!(
        carol.contains("[m1 edited] #1 api@v2 → prod: approved by carol · starting"),
        "{carol}"
    );
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    for host in ["api-1", "api-2"] {
        assert_eq!(
            bot.host_file("api", "prod", host, "REVISION").as_deref(),
            Some("v2\n")
        );
    }
    // Too late to take it back.
    let late = bot.unreact("carol", "m1", "+1").await;
    assert!(
        late.contains("is succeeded: removing your approval changes nothing"),
        "{late}"
    );
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    // Every decision is in the log.
    let found = bot.say("alice", "search approved app:api").await;
    assert!(found.contains("carol approved #1"), "{found}");
    let found = bot.say("alice", "search ignored").await;
    assert!(found.contains("bob's approval of #1 ignored"), "{found}");
}

#[tokio::test]
async fn approve_and_deny_by_command() {
    let bot = TestBot::at(MONDAY).await;
    bot.say("alice", "deploy web@v1 to prod").await;
    let none = bot.say("carol", "approve #999").await;
    assert!(none.contains("There is no deploy #999."), "{none}");
    let denied = bot.say("dave", "deny #1 not during the demo").await;
    assert!(
        denied.contains("[m1 edited] #1 web@v1 → prod: denied by dave: not during the demo"),
        "{denied}"
    );
    assert_eq!(bot.state(1).await, DeployState::Denied);
    let after = bot.say("carol", "approve #1").await;
    assert!(
        after.contains("#1 web@v1 → prod already ended (denied): your approval changes nothing."),
        "{after}"
    );
    assert_eq!(bot.state(1).await, DeployState::Denied);

    bot.say("alice", "deploy web@v2 to prod").await;
    let ok = bot.say("dave", "approve #2").await;
    assert!(ok.contains("#2 web@v2 → prod: approved by dave"), "{ok}");
    bot.wait().await;
    assert_eq!(bot.state(2).await, DeployState::Succeeded);
}

#[tokio::test]
async fn a_withdrawn_approval_no_longer_counts_and_one_person_counts_once() {
    let bot = TestBot::at(FRIDAY_EVENING).await;
    bot.say(
        "alice",
        "deploy api@hotfix to prod --emergency \"payments are down\"",
    )
    .await;
    bot.react("carol", "m1", "white_check_mark").await;
    let twice = bot.react("carol", "m1", "+1").await;
    assert!(
        twice.contains("Approved so far by carol; 1 more needed."),
        "{twice}"
    );
    bot.unreact("carol", "m1", "white_check_mark").await;
    let withdrawn = bot.unreact("carol", "m1", "+1").await;
    assert!(withdrawn.contains("No approvals yet."), "{withdrawn}");
    assert_eq!(bot.state(1).await, DeployState::AwaitingApproval);
}

#[tokio::test]
async fn a_friday_evening_deploy_is_refused_with_the_windows_end() {
    let bot = TestBot::at(FRIDAY_EVENING).await;
    let answer = bot.say("alice", "deploy api to prod").await;
    assert!(
        answer.contains("#1 api@main → prod refused: prod is frozen (weekend) until Mon 30 Nov 08:00 CET (07:00 UTC)."),
        "{answer}"
    );
    assert!(answer.contains("--emergency"), "{answer}");
    assert_eq!(bot.state(1).await, DeployState::Blocked);
    let wcid = bot.say("alice", "wcid api").await;
    assert!(
        wcid.contains("api in prod: frozen (weekend) until Mon 30 Nov 08:00 CET (07:00 UTC)"),
        "{wcid}"
    );
    assert!(wcid.contains("api in staging: open"), "{wcid}");
    let windows = bot.say("alice", "windows prod").await;
    assert!(
        windows.contains("prod: weekend · active now, ends Mon 30 Nov 08:00 CET (07:00 UTC)"),
        "{windows}"
    );
    // Staging has no window.
    assert!(
        bot.say("alice", "deploy web to staging")
            .await
            .contains("starting")
    );
    bot.wait().await;
}

#[tokio::test]
async fn an_emergency_needs_carol_and_dave_and_states_its_reason() {
    let bot = TestBot::at(FRIDAY_EVENING).await;
    let without = bot.say("alice", "deploy api to prod --emergency").await;
    assert!(
        !without.contains("requested by"),
        "an emergency without a reason is refused: {without}"
    );
    let request = bot
        .say(
            "alice",
            "deploy api@hotfix to prod --emergency \"payments are down\"",
        )
        .await;
    assert!(
        request.contains("EMERGENCY #1 api@hotfix → prod requested by alice: \"payments are down\" needs 2 approvals from leads"),
        "{request}"
    );
    let msg = request
        .split(']')
        .next()
        .unwrap()
        .trim_start_matches('[')
        .to_owned();
    bot.react("carol", &msg, "white_check_mark").await;
    assert_eq!(
        bot.state(1).await,
        DeployState::AwaitingApproval,
        "one lead is not enough"
    );
    let dave = bot.react("dave", &msg, "white_check_mark").await;
    assert!(
        dave.contains("approved by carol and dave · starting"),
        "{dave}"
    );
    bot.wait().await;
    assert_eq!(
        bot.state(1).await,
        DeployState::Succeeded,
        "it went through the freeze"
    );
    let d = bot.store.deploy(1).await.unwrap().unwrap();
    assert_eq!(d.emergency.as_deref(), Some("payments are down"));
    let status = bot.say("alice", "status #1").await;
    assert!(status.contains("Emergency: payments are down"), "{status}");
}

#[tokio::test]
async fn a_request_nobody_approves_expires() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::example_edited(dir.path(), "api", "", |c| {
        c.replace("expire = \"30m\"", "expire = \"1s\"")
    });
    let bot = TestBot::with(cfg, tempfile::tempdir().unwrap(), common::clock(MONDAY)).await;
    bot.say("alice", "deploy api to prod").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(bot.state(1).await, DeployState::Expired);
    assert!(
        bot.transcript()
            .contains("[m1 edited] #1 api@main → prod: expired: nobody approved it within 1s")
    );
    let late = bot.react("carol", "m1", "white_check_mark").await;
    assert!(late.contains("already ended (expired)"), "{late}");
    assert_eq!(bot.state(1).await, DeployState::Expired);
}

#[tokio::test]
async fn a_queued_deploy_waits_out_a_freeze_that_began_and_starts_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::example_with_recipe_tail(
        dir.path(),
        "api",
        "[[tasks.slow.steps]]\nname = \"slow\"\nrun = \"sleep 1.5\"\n",
    );
    let bot = TestBot::with(cfg, tempfile::tempdir().unwrap(), common::clock(MONDAY)).await;
    bot.say("alice", "deploy:slow api to staging").await;
    let queued = bot.say("bob", "deploy api@v5 to staging").await;
    assert!(queued.contains("queued behind #1"), "{queued}");
    let frozen = bot
        .say("carol", "freeze staging for 1h --reason \"release party\"")
        .await;
    assert!(frozen.contains("staging is frozen until"), "{frozen}");
    // `/wait` returns once nothing runs: #2 holds its place, waiting for the freeze.
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    assert_eq!(bot.state(2).await, DeployState::Queued);
    assert!(
        bot.transcript()
            .contains("#2 api@v5 → staging: waiting: staging is frozen (freeze by carol)")
    );
    let bob = bot.say("bob", "unfreeze staging").await;
    assert!(bob.contains("Only leads can unfreeze staging."), "{bob}");
    bot.say("carol", "unfreeze staging").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    bot.wait().await;
    assert_eq!(bot.state(2).await, DeployState::Succeeded);
}

#[tokio::test]
async fn locks_hold_a_target_for_their_owner() {
    let bot = TestBot::at(MONDAY).await;
    let lock = bot
        .say("alice", "lock api in staging --reason \"db maintenance\"")
        .await;
    assert!(
        lock.contains("🔒 api in staging is locked by alice: db maintenance"),
        "{lock}"
    );
    let refused = bot.say("bob", "deploy api to staging").await;
    assert!(
        refused.contains("refused: api in staging is locked by alice since"),
        "{refused}"
    );
    assert!(refused.contains("db maintenance"), "{refused}");
    // Other targets are free; the holder may deploy.
    assert!(
        bot.say("bob", "deploy web to staging")
            .await
            .contains("starting")
    );
    assert!(
        bot.say("alice", "deploy api to staging")
            .await
            .contains("starting")
    );
    bot.wait().await;
    let locks = bot.say("bob", "locks").await;
    assert!(locks.contains("🔒 api in staging · alice since"), "{locks}");
    // `status` names the locks too: they keep deploys from starting.
    let status = bot.say("bob", "status").await;
    assert!(status.contains("Nothing is running or queued."), "{status}");
    let after = status
        .split_once("Locked:")
        .map(|(_, l)| l)
        .unwrap_or_default();
    assert!(
        after.contains("🔒 api in staging · alice since"),
        "{status}"
    );
    assert!(status.contains("db maintenance"), "{status}");
    let wcid = bot.say("bob", "wcid api").await;
    assert!(
        wcid.contains("api in staging: locked by alice: db maintenance"),
        "{wcid}"
    );
    let not_yours = bot.say("bob", "unlock api in staging").await;
    assert!(
        not_yours
            .contains("Only alice (who holds it) or someone in leads can unlock api in staging."),
        "{not_yours}"
    );
    let broken = bot.say("carol", "unlock api in staging").await;
    assert!(
        broken.contains("carol broke alice's lock on api in staging"),
        "{broken}"
    );
    assert!(
        bot.say("bob", "deploy api to staging")
            .await
            .contains("starting")
    );
    bot.wait().await;
    let found = bot.say("bob", "search broke lock").await;
    assert!(found.contains("carol broke alice's lock"), "{found}");
    // A whole-env lock.
    bot.say("dave", "lock prod").await;
    let refused = bot.say("alice", "deploy web to prod").await;
    assert!(
        refused.contains("all of prod is locked by dave"),
        "{refused}"
    );
}

#[tokio::test]
async fn nonsense_freezes_and_wrong_messages_change_nothing() {
    let bot = TestBot::at(MONDAY).await;
    for bad in [
        "freeze prod for banana",
        "freeze prod for 0s",
        "freeze prod for 90d",
        "freeze prod until soonish",
        "freeze prdo for 1h",
    ] {
        let answer = bot.say("carol", bad).await;
        assert!(!answer.contains("is frozen until"), "{bad}: {answer}");
        assert!(!answer.is_empty(), "{bad} got no answer");
    }
    assert!(
        bot.say("carol", "windows prod")
            .await
            .contains("weekend · next starts Fri 27 Nov 16:00 CET (15:00 UTC)")
    );
    // A ✅ on a message that is no approval request.
    bot.say("alice", "deploy web@v1 to staging").await;
    bot.wait().await;
    let wrong = bot.react("carol", "m1", "white_check_mark").await;
    assert!(
        wrong.contains("reactions on that message approve nothing"),
        "{wrong}"
    );
    // A reaction that is neither approve nor deny says nothing.
    assert_eq!(bot.react("carol", "m1", "tada").await, "");
}

/// Role × env × action: who may do what, with the answer each gets.
#[tokio::test]
async fn who_may_do_what_where() {
    let table: &[(&str, &str, &str)] = &[
        // (user, command, what the answer says)
        (
            "bob",
            "deploy api to staging",
            "starting (requested by bob)",
        ),
        ("bob", "deploy api to prod", "needs 1 approval from leads"),
        ("carol", "deploy api to prod", "needs 1 approval from leads"),
        (
            "bob",
            "freeze staging for 1h",
            "Only leads can freeze staging.",
        ),
        ("carol", "freeze staging for 1h", "staging is frozen until"),
        ("bob", "freeze prod for 1h", "Only leads can freeze prod."),
        ("dave", "freeze prod for 1h", "prod is frozen until"),
        ("bob", "unfreeze prod", "Only leads can unfreeze prod."),
        ("bob", "lock api in prod", "api in prod is locked by bob"),
        ("carol", "lock staging", "all of staging is locked by carol"),
        ("bob", "approve #1", "There is no deploy #1."),
        ("bob", "unlock api in prod", "api in prod is not locked."),
    ];
    for (user, command, expect) in table {
        let bot = TestBot::at(MONDAY).await;
        let answer = bot.say(user, command).await;
        assert!(
            answer.contains(expect),
            "{user}: `{command}` answered {answer:?}, expected {expect:?}"
        );
        bot.wait().await;
    }
}

/// The example with a `team` group (alice, bob, carol, dave) that alone may deploy to prod and
/// to staging, so that mallory is a stranger there; `api` gets a slow task.
fn with_a_team(dir: &std::path::Path) -> std::path::PathBuf {
    common::example_edited(
        dir,
        "api",
        "[[tasks.slow.steps]]\nname = \"slow\"\nrun = \"sleep 1.5\"\n",
        |c| {
            let edited = c
                .replace(
                    "leads = [\"carol\", \"dave\"]",
                    "leads = [\"carol\", \"dave\"]\nteam = [\"alice\", \"bob\", \"carol\", \"dave\"]",
                )
                .replace("# deployers = \"leads\"", "deployers = \"team\"")
                .replace("[envs.staging]\n", "[envs.staging]\ndeployers = \"team\"\n");
            assert_eq!(edited.matches("\"team\"").count(), 2, "the edit applies");
            edited
        },
    )
}

/// Who may cancel alice's request: role × env. prod needs an approval from leads: alice and
/// a lead may cancel, another deployer and a stranger may not. staging needs none: anyone who
/// may deploy there may cancel, a stranger may not.
#[tokio::test]
async fn who_may_cancel_what_where() {
    const NOT_PROD: &str = "You cannot cancel #1 api@v2 → prod: only alice (who asked for it) or a member of leads may cancel it.";
    const NOT_STAGING: &str = "You cannot cancel #2 api@v2 → staging: only alice (who asked for it) or a member of team (who may deploy to staging) may cancel it.";
    let table: &[(&str, &str, Option<&str>)] = &[
        // (env, who cancels, the refusal; None: allowed)
        ("prod", "alice", None),
        ("prod", "carol", None),
        ("prod", "bob", Some(NOT_PROD)),
        ("prod", "mallory", Some(NOT_PROD)),
        ("staging", "alice", None),
        ("staging", "carol", None),
        ("staging", "bob", None),
        ("staging", "mallory", Some(NOT_STAGING)),
    ];
    for (env, user, refusal) in table {
        let dir = tempfile::tempdir().unwrap();
        let bot = TestBot::with(
            with_a_team(dir.path()),
            tempfile::tempdir().unwrap(),
            common::clock(MONDAY),
        )
        .await;
        // prod: #1 awaits a lead's approval. staging: #2 is queued behind dave's slow #1.
        let (id, pending) = if *env == "prod" {
            (1, DeployState::AwaitingApproval)
        } else {
            let busy = bot.say("dave", "deploy:slow api@v1 to staging").await;
            assert!(busy.contains("starting"), "{busy}");
            (2, DeployState::Queued)
        };
        let asked = bot.say("alice", &format!("deploy api@v2 to {env}")).await;
        assert_eq!(bot.state(id).await, pending, "{asked}");
        let answer = bot.say(user, &format!("cancel #{id}")).await;
        match refusal {
            Some(refusal) => {
                assert!(
                    answer.contains(refusal),
                    "{user} in {env}: {answer:?}, expected {refusal:?}"
                );
                assert_eq!(bot.state(id).await, pending, "{user} in {env}");
            }
            None => {
                let said = format!("#{id} api@v2 → {env} cancelled by {user} before it started.");
                assert!(answer.contains(&said), "{user} in {env}: {answer:?}");
                assert_eq!(
                    bot.state(id).await,
                    DeployState::Cancelled,
                    "{user} in {env}"
                );
            }
        }
        bot.wait().await;
    }
}

#[tokio::test]
async fn a_lead_cancels_a_running_prod_deploy_and_the_channel_says_who() {
    let dir = tempfile::tempdir().unwrap();
    let bot = TestBot::with(
        with_a_team(dir.path()),
        tempfile::tempdir().unwrap(),
        common::clock(MONDAY),
    )
    .await;
    bot.say("alice", "deploy:slow api@v2 to prod").await;
    let approved = bot.say("dave", "approve #1").await;
    assert!(approved.contains("approved by dave"), "{approved}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while bot.state(1).await != DeployState::Running {
        assert!(std::time::Instant::now() < deadline, "#1 never ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let bob = bot.say("bob", "cancel #1").await;
    assert!(
        bob.contains("You cannot cancel #1 api@v2 → prod: only alice (who asked for it) or a member of leads may cancel it."),
        "{bob}"
    );
    let carol = bot.say("carol", "cancel #1").await;
    assert!(
        carol.contains("#1 api@v2 → prod: cancelled by carol; it stops after the step in progress"),
        "{carol}"
    );
    let dave = bot.say("dave", "cancel #1").await;
    assert!(
        dave.contains("#1 api@v2 → prod is already being cancelled (cancelled by carol)"),
        "{dave}"
    );
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Cancelled);
    let t = bot.transcript();
    assert!(
        t.contains("[m1 edited] #1 api@v2 → prod: cancelled by carol after "),
        "{t}"
    );
    // Rolling, one host at a time: the second host was never touched.
    assert_eq!(bot.host_file("api", "prod", "api-2", "REVISION"), None);
    let status = bot.say("alice", "status #1").await;
    assert!(status.contains("cancelled by carol"), "{status}");
}

#[tokio::test]
async fn an_emergency_outside_a_freeze_is_an_ordinary_deploy_under_the_announced_rule() {
    // Monday morning: prod is not frozen.
    let bot = TestBot::at("2026-11-23T10:00:00Z").await;
    let asked = bot
        .say(
            "alice",
            "deploy api@v2 to prod --emergency \"just in case\"",
        )
        .await;
    assert!(asked.contains("needs 1 approval from leads"), "{asked}");
    assert!(
        asked.contains("#1: prod is not frozen, so `--emergency` is not needed: this is an ordinary deploy under the usual rules (the reason \"just in case\" is noted in the log)."),
        "{asked}"
    );
    // One lead's approval is what was announced, and it is enough.
    let said = bot.react("carol", "m1", "white_check_mark").await;
    assert!(said.contains("approved by carol"), "{said}");
    assert!(!said.contains("EMERGENCY"), "{said}");
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    let d = bot.store.deploy(1).await.unwrap().unwrap();
    assert_eq!(d.emergency, None);
}
