//! Deploys to SSH hosts, end to end: real `sshd` processes on 127.0.0.x (the fixture in
//! `common/sshd.rs`), the shipped example recipe pointed at them, driven through chat.

mod common;

use common::TestBot;
use common::sshd::Sshd;
use deckhand::core::lifecycle::DeployState;

/// A bot whose `api` staging env is `staging` (hosts, strategy…) on the fixture's hosts.
async fn bot(sshd: &Sshd, staging: &str, tail: &str) -> TestBot {
    TestBot::with(
        sshd.config(staging, tail, ""),
        tempfile::tempdir().unwrap(),
        common::clock("2026-11-23T10:00:00Z"),
    )
    .await
}

#[tokio::test]
async fn a_rolling_deploy_reaches_three_hosts_one_at_a_time() {
    let sshd = Sshd::start(3);
    let staging = format!(
        "{}\nstrategy = \"rolling\"\nbatch = 1\ndeploy_to = \"srv/api\"",
        sshd.hosts_line(3)
    );
    let bot = bot(&sshd, &staging, "").await;
    let answer = bot.say("alice", "deploy api@v1.2.0 to staging").await;
    assert!(answer.contains("starting"), "{answer}");
    bot.wait().await;
    let t = bot.transcript();
    assert!(t.contains("#1 api@v1.2.0 → staging: succeeded in"), "{t}");
    assert!(t.contains("health: api-1 ok, api-2 ok, api-3 ok"), "{t}");
    assert!(t.contains("host 3/3, step 5/5 (cleanup)"), "{t}");
    assert!(
        t.contains("prepared releases/v1.2.0 on api-2 for deploy #1"),
        "output from the host streams into the thread:\n{t}"
    );
    for i in 0..3 {
        assert_eq!(
            sshd.file(i, "srv/api/REVISION").as_deref(),
            Some("v1.2.0\n")
        );
        assert_eq!(
            sshd.link(i, "srv/api/current").as_deref(),
            Some("releases/v1.2.0")
        );
        assert_eq!(
            sshd.file(i, "srv/api/releases/v1.2.0/VERSION").as_deref(),
            Some("v1.2.0\n")
        );
    }
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
}
