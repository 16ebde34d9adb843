//! Deploys to SSH hosts, end to end: real `sshd` processes on 127.0.0.x (the fixture in
//! `common/sshd.rs`), the shipped example recipe pointed at them, driven through chat.

mod common;

use common::TestBot;
use common::sshd::Sshd;
use deckhand::core::lifecycle::DeployState;

/// `n` fake hosts, and a bot whose `api` staging env deploys to them as `api-1`…`api-n`, with
/// `env` added to that env (strategy, deploy_to…) and `tail` appended to the recipe.
async fn fleet(n: usize, env: &str, tail: &str) -> (Sshd, TestBot) {
    let sshd = Sshd::start(n);
    let staging = format!("{}\n{env}", sshd.hosts_line(n));
    let bot = bot_with(sshd.config(&staging, tail, "")).await;
    (sshd, bot)
}

async fn bot_with(config: std::path::PathBuf) -> TestBot {
    TestBot::with(
        config,
        tempfile::tempdir().unwrap(),
        common::clock("2026-11-23T10:00:00Z"),
    )
    .await
}

/// A recipe task `name` with `steps` (name, shell text), as TOML to append to the recipe.
fn task(name: &str, steps: &[(&str, &str)]) -> String {
    steps
        .iter()
        .map(|(step, run)| {
            format!("\n[[tasks.{name}.steps]]\nname = \"{step}\"\nrun = '''{run}'''\n")
        })
        .collect()
}

/// Alice says `text`; the whole transcript once every deploy it started has ended.
async fn run(bot: &TestBot, text: &str) -> String {
    bot.say("alice", text).await;
    bot.wait().await;
    bot.transcript()
}

/// Asserts that every ssh master connection the bot opened is gone (within 3 s).
async fn masters_closed(sshd: &Sshd, what: &str) {
    let closed = until(3, || sshd.masters().is_empty()).await;
    assert!(closed, "{what}: {:?} still run", sshd.masters());
}

/// Kills the ssh master connection to host `i`, as a network failure would end it.
fn kill_master(sshd: &Sshd, i: usize) {
    let master = sshd
        .master_of(i)
        .unwrap_or_else(|| panic!("no master connection to host {}", i + 1));
    let killed = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(master.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
}

/// Asserts that the transcript `t` says each of `wants`.
fn says(t: &str, wants: &[&str]) {
    for w in wants {
        assert!(t.contains(w), "missing {w:?} in:\n{t}");
    }
}

#[tokio::test]
async fn a_rolling_deploy_reaches_three_hosts_one_at_a_time() {
    let env = "strategy = \"rolling\"\nbatch = 1\ndeploy_to = \"srv/api\"";
    let (sshd, bot) = fleet(3, env, "").await;
    let t = run(&bot, "deploy api@v1.2.0 to staging").await;
    says(
        &t,
        &[
            "#1 api@v1.2.0 → staging: succeeded in",
            "health: api-1 ok, api-2 ok, api-3 ok",
            "host 3/3, step 5/5 (cleanup)",
            // Output from the hosts streams into the thread.
            "api-2 | releases/v1.2.0 is ready on api-2",
        ],
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
    masters_closed(&sshd, "the deploy closed its connections at its end").await;
}

/// Waits up to `secs` seconds for `cond`.
async fn until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cond()
}

#[tokio::test]
async fn a_failed_canary_is_rolled_back_and_the_other_hosts_are_never_touched() {
    let (sshd, bot) = fleet(3, "strategy = \"canary\"\ndeploy_to = \"srv/api\"", "").await;
    let t = run(&bot, "deploy api@broken-7 to staging").await;
    says(
        &t,
        &[
            "#1 api@broken-7 → staging rolled back: health check failed on api-1",
            "api-1 is back to no release",
            "broken-7 is now marked bad for staging",
        ],
    );
    assert_eq!(bot.state(1).await, DeployState::RolledBack);
    // Host 1: the release was made, then the switch undone.
    assert!(sshd.file(0, "srv/api/releases/broken-7/VERSION").is_some());
    assert_eq!(sshd.link(0, "srv/api/current"), None);
    assert_eq!(sshd.file(0, "srv/api/REVISION"), None);
    // Hosts 2 and 3: nothing at all, not even deploy_to (the version probe only looked).
    for i in 1..3 {
        let dir = sshd.hosts[i].home.join("srv");
        assert!(!dir.exists(), "host {} was touched: {dir:?} exists", i + 1);
    }
    // The marker the layout leaves on a release that failed its health check.
    let bad = sshd
        .file(0, "srv/api/releases/broken-7/BAD_RELEASE")
        .unwrap();
    assert!(bad.contains("health check failed in deploy #1"), "{bad}");
    assert!(!t.contains("api-2 |"), "no step ran on api-2:\n{t}");
}

#[tokio::test]
async fn a_step_timeout_kills_the_remote_process_tree() {
    let tail = task(
        "hang",
        &[("hang", "sleep 4242.5 & sleep 4242.5; echo never")],
    ) + "timeout = \"1s\"\n";
    let (_sshd, bot) = fleet(1, "", &tail).await;
    bot.say("alice", "deploy:hang api to staging").await;
    assert!(
        until(5, || Sshd::running("sleep 4242.5")).await,
        "the step started on the host"
    );
    bot.wait().await;
    let t = bot.transcript();
    says(&t, &["step `hang` failed on api-1 (timed out after 1.0s)"]);
    assert!(
        until(3, || !Sshd::running("sleep 4242.5")).await,
        "the remote sleep survived the timeout"
    );
    assert!(!t.contains("never"), "{t}");
}

#[tokio::test]
async fn cancel_stops_after_the_running_step_and_rolls_back() {
    let tail = task(
        "slow",
        &[
            ("begin", "touch begun; sleep 1; touch finished"),
            ("second", "touch second"),
        ],
    );
    let (sshd, bot) = fleet(3, "strategy = \"rolling\"\nbatch = 1", &tail).await;
    bot.say("alice", "deploy:slow api@v3 to staging").await;
    assert!(
        until(10, || sshd.file(0, "deckhand/api/staging/begun").is_some()).await,
        "the first step started on api-1"
    );
    let answer = bot.say("alice", "cancel #1").await;
    assert!(
        answer.contains(
            "#1 api@v3 → staging: cancelled by alice; it stops after the step in progress"
        ),
        "{answer}"
    );
    bot.wait().await;
    let t = bot.transcript();
    assert_eq!(bot.state(1).await, DeployState::Cancelled);
    says(
        &t,
        &[
            "cancelled by alice after",
            // api-1 was rolled back.
            "api-1 | nothing was live before: removed current and REVISION",
        ],
    );
    // The running step finished; nothing after it ran.
    assert!(sshd.file(0, "deckhand/api/staging/finished").is_some());
    assert!(sshd.file(0, "deckhand/api/staging/second").is_none());
    for i in 1..3 {
        assert!(
            sshd.file(i, "deckhand/api/staging/begun").is_none(),
            "host {} was touched",
            i + 1
        );
    }
}

#[tokio::test]
async fn a_host_that_is_down_fails_the_deploy_before_any_host_changes() {
    let (mut sshd, bot) = fleet(3, "", "").await;
    sshd.stop(1);
    let t = run(&bot, "deploy api@v1.2.0 to staging").await;
    let want = format!(
        "#1 api@v1.2.0 → staging failed: could not reach api-2 ({}): connection refused; no host was changed.",
        sshd.address(1)
    );
    says(&t, &[&want]);
    assert_eq!(bot.state(1).await, DeployState::Failed);
    for i in [0, 2] {
        assert!(
            sshd.home_entries(i).is_empty(),
            "host {} was touched",
            i + 1
        );
    }
    masters_closed(&sshd, "the connections to the other hosts were closed").await;
}

#[tokio::test]
async fn host_keys_are_checked_strictly_unless_accept_new_is_configured() {
    let sshd = Sshd::start(2);
    let staging = sshd.hosts_line(2);
    let dir = sshd.dir.path();
    // api-1's entry carries api-2's key: a changed host key.
    let wrong = dir.join("known_hosts_wrong");
    std::fs::write(
        &wrong,
        format!(
            "[{}]:{} {}\n[{}]:{} {}\n",
            sshd.hosts[0].ip,
            sshd.hosts[0].port,
            sshd.hosts[1].host_key,
            sshd.hosts[1].ip,
            sshd.hosts[1].port,
            sshd.hosts[1].host_key
        ),
    )
    .unwrap();
    let bot1 = bot_with(sshd.config_with(&staging, "", "", &wrong)).await;
    let t = run(&bot1, "deploy api@v1.2.0 to staging").await;
    let want = format!(
        "could not reach api-1 ({}): its host key does not match the one in known_hosts",
        sshd.address(0)
    );
    says(&t, &[&want, "no host was changed"]);
    assert!(!t.contains("api-2 ("), "api-2's key is right:\n{t}");

    // No entry at all: refused under strict, recorded under accept-new.
    let empty = dir.join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    let bot2 = bot_with(sshd.config_with(&staging, "", "", &empty)).await;
    let t = run(&bot2, "deploy api@v1.2.0 to staging").await;
    says(&t, &["its host key is not in known_hosts"]);
    assert!(sshd.home_entries(0).is_empty());

    let accept_new = "host_key_policy = \"accept-new\"";
    let bot3 = bot_with(sshd.config_with(&staging, "", accept_new, &empty)).await;
    let t = run(&bot3, "deploy api@v1.2.0 to staging").await;
    says(&t, &["succeeded in"]);
    let recorded = std::fs::read_to_string(&empty).unwrap();
    assert!(
        recorded.contains(&sshd.hosts[0].host_key),
        "accept-new records the key: {recorded}"
    );
}

#[tokio::test]
async fn exit_codes_127_and_255_are_reported_as_such() {
    let tail = task("missing", &[("missing", "no-such-command")])
        + &task("ff", &[("ff", "echo about to fail >&2; exit 255")]);
    let (_sshd, bot) = fleet(1, "", &tail).await;
    run(&bot, "deploy:missing api to staging").await;
    let t = run(&bot, "deploy:ff api to staging").await;
    says(
        &t,
        &[
            "step `missing` failed on api-1 (exit code 127)",
            "api-1 ! sh: 1: no-such-command: not found",
            "step `ff` failed on api-1 (exit code 255)",
            "api-1 ! about to fail",
        ],
    );
    assert!(!t.contains("deckhand-exit"), "the marker never shows:\n{t}");
}

#[tokio::test]
async fn stderr_keeps_its_empty_lines_and_a_long_unended_line_does_not_hide_the_exit_code() {
    let tail = task("blank", &[("blank", "printf 'a\\n\\nb\\n\\n' >&2")])
        + &task(
            "long",
            &[("long", "head -c 20000 /dev/zero | tr '\\0' y >&2; exit 3")],
        );
    let (_sshd, bot) = fleet(1, "", &tail).await;
    let t = run(&bot, "deploy:blank api to staging").await;
    says(
        &t,
        &["[m2 > m1] api-1 ! a\n    api-1 ! \n    api-1 ! b\n    api-1 ! \n[m1 edited]"],
    );
    let t = run(&bot, "deploy:long api to staging").await;
    says(&t, &["step `long` failed on api-1 (exit code 3)"]);
    assert!(!t.contains("lost the connection"), "{t}");
    assert!(!t.contains("deckhand-exit"), "the marker never shows:\n{t}");
}

#[tokio::test]
async fn live_check_finds_a_host_changed_by_hand() {
    // Each fake host's own home (an absolute path would be shared: they are one machine).
    let (sshd, bot) = fleet(3, "deploy_to = \"~/app\"", "").await;
    says(
        &run(&bot, "deploy api@v1.2.0 to staging").await,
        &["succeeded in"],
    );
    std::fs::write(sshd.hosts[1].home.join("app/REVISION"), "v0.9-hotfix\n").unwrap();
    let live = bot.say("bob", "live api in staging --check").await;
    says(
        &live,
        &[
            "api-1: v1.2.0 ✓",
            "api-2: v0.9-hotfix ✗ DRIFT (the log says v1.2.0)",
            "api-3: v1.2.0 ✓",
        ],
    );
    masters_closed(&sshd, "live --check closed its connections").await;
}

#[tokio::test]
async fn values_with_quotes_and_shell_syntax_arrive_intact_and_never_run() {
    let who = r#"printf "%s\n" "$DECKHAND_USER" "$DECKHAND_TASK" > user.txt"#;
    let tail = task("who", &[("who", who)]);
    let (sshd, bot) = fleet(1, "", &tail).await;
    let pwned = sshd.dir.path().join("pwned");
    let user = format!(
        "o'brien $(touch {p}) `touch {p}` ; touch {p} \"x\"  two  spaces",
        p = pwned.display()
    );
    bot.say(&user, "deploy:who api to staging").await;
    bot.wait().await;
    says(&bot.transcript(), &["succeeded in"]);
    assert_eq!(
        sshd.file(0, "deckhand/api/staging/user.txt"),
        Some(format!("{user}\nwho\n"))
    );
    assert!(!pwned.exists(), "a value ran as shell text");
}

#[tokio::test]
async fn twenty_steps_at_once_on_one_host_all_run() {
    use deckhand::config::{HostAddress, SshSettings};
    use deckhand::exec::{Executor, Exit, Job, Place, SshExecutor};
    use std::time::Duration;

    let sshd = Sshd::start(1);
    let settings = SshSettings {
        identity_file: Some(sshd.client_key.clone()),
        known_hosts: Some(sshd.known_hosts.clone()),
        control_dir: Some(sshd.control_dir()),
        ..SshSettings::default()
    };
    assert_eq!(settings.max_sessions, 8, "the default, below sshd's 10");
    let exec = SshExecutor::new(&settings).unwrap();
    let place = Place {
        address: HostAddress::parse(&sshd.address(0)).unwrap(),
        deploy_to: None,
    };
    let reached = exec.reach(&[("api-1", &place)]).await;
    assert!(reached[0].is_ok(), "{reached:?}");
    let runs = futures::future::join_all((0..20).map(|n| {
        let job = Job {
            app: "api".into(),
            env: "staging".into(),
            host: "api-1".into(),
            place: place.clone(),
            script: "sleep 0.2; echo \"step $N\"".into(),
            vars: vec![("N".into(), n.to_string())],
            timeout: Duration::from_secs(20),
            look_only: false,
            tag: Some("deckhand#1@sessions".into()),
            halt: Default::default(),
        };
        let exec = &exec;
        async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel(16);
            let exit = exec.run(&job, tx).await;
            let mut lines = vec![];
            while let Some(l) = rx.recv().await {
                lines.push(l.text);
            }
            (n, exit, lines)
        }
    }))
    .await;
    for (n, exit, lines) in runs {
        assert_eq!(exit.unwrap(), Exit::Code(0), "step {n}");
        assert_eq!(lines, [format!("step {n}")]);
    }
    exec.close(&[&place]).await;
    masters_closed(&sshd, "close shuts the master down").await;
}

#[tokio::test]
async fn a_connection_lost_mid_step_fails_that_host_and_rolls_it_back() {
    let tail = task("slow", &[("begin", "touch begun; sleep 2; touch finished")]);
    let (sshd, bot) = fleet(2, "strategy = \"rolling\"", &tail).await;
    bot.say("alice", "deploy:slow api@v4 to staging").await;
    assert!(
        until(10, || sshd.file(0, "deckhand/api/staging/begun").is_some()).await,
        "the step started on api-1"
    );
    kill_master(&sshd, 0);
    bot.wait().await;
    let t = bot.transcript();
    let lost = format!(
        "step `begin` failed on api-1 (lost the connection to api-1 ({}) during the step: the connection was closed)",
        sshd.address(0)
    );
    // The rollback reconnects to api-1; api-2 was never touched.
    says(
        &t,
        &[
            &lost,
            "api-1 | nothing was live before: removed current and REVISION",
        ],
    );
    assert_eq!(bot.state(1).await, DeployState::RolledBack);
    assert!(sshd.file(1, "deckhand/api/staging/begun").is_none());
}

/// The real `deckhand console` binary deploys to SSH hosts by configuration alone: the shipped
/// example with `api`'s staging hosts pointed at the fixture and an `[ssh]` section.
#[test]
fn the_console_binary_deploys_to_ssh_hosts_by_config_alone() {
    let sshd = Sshd::start(2);
    let staging = format!(
        "{}\nstrategy = \"rolling\"\ndeploy_to = \"srv/api\"",
        sshd.hosts_line(2)
    );
    let config = sshd.config(&staging, "", "");
    let data = tempfile::tempdir().unwrap();
    let out = common::deckhand(
        &["console", "--config", config.to_str().unwrap()],
        "deploy api@v3.1 to staging\n/wait\nlive api in staging --check\n",
        data.path(),
    );
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{t}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    says(
        &t,
        &[
            "#1 api@v3.1 → staging: succeeded in",
            "health: api-1 ok, api-2 ok",
            "api-2 | current -> releases/v3.1",
            "api-1: v3.1 ✓",
            "api-2: v3.1 ✓",
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while !sshd.masters().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        sshd.masters(),
        Vec::<u32>::new(),
        "no ssh master outlives the console"
    );
    for i in 0..2 {
        assert_eq!(sshd.file(i, "srv/api/REVISION").as_deref(), Some("v3.1\n"));
        assert_eq!(
            sshd.link(i, "srv/api/current").as_deref(),
            Some("releases/v3.1")
        );
    }
}

#[tokio::test]
async fn a_key_the_host_does_not_accept_fails_before_any_host_changes() {
    let sshd = Sshd::start(2);
    let config = sshd.config(&sshd.hosts_line(2), "", "");
    // The bot's identity is a key no host has in authorized_keys.
    let stranger = sshd.dir.path().join("stranger_key");
    common::sshd::keygen(&stranger);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &sshd.client_key.display().to_string(),
        &stranger.display().to_string(),
    );
    std::fs::write(&config, text).unwrap();
    let bot = bot_with(config).await;
    let t = run(&bot, "deploy api@v1.2.0 to staging").await;
    let want = format!(
        "could not reach api-1 ({}): authentication failed",
        sshd.address(0)
    );
    says(&t, &[&want, "no host was changed"]);
    assert_eq!(bot.state(1).await, DeployState::Failed);
    for i in 0..2 {
        assert!(
            sshd.home_entries(i).is_empty(),
            "host {} was touched",
            i + 1
        );
    }
}

#[tokio::test]
async fn a_connection_lost_on_one_host_rolls_back_the_others_too() {
    let tail = task("slow", &[("begin", "touch begun; sleep 2; touch finished")]);
    let (sshd, bot) = fleet(2, "strategy = \"parallel\"", &tail).await;
    bot.say("alice", "deploy:slow api@v5 to staging").await;
    assert!(
        until(10, || {
            sshd.file(0, "deckhand/api/staging/begun").is_some()
                && sshd.file(1, "deckhand/api/staging/begun").is_some()
        })
        .await,
        "the step started on both hosts"
    );
    kill_master(&sshd, 1);
    bot.wait().await;
    let t = bot.transcript();
    says(
        &t,
        &[
            "step `begin` failed on api-2 (lost the connection to api-2",
            "rolling back api-1, api-2",
            "api-1 | nothing was live before: removed current and REVISION",
            "api-2 | nothing was live before: removed current and REVISION",
            "#1 api@v5 → staging rolled back",
        ],
    );
    assert_eq!(bot.state(1).await, DeployState::RolledBack);
    // api-1 finished its step (a batch runs to its end) before the rollout stopped.
    assert!(sshd.file(0, "deckhand/api/staging/finished").is_some());
}

/// The SSH executor alone, for `sshd`'s host 1 (`api-1`): the executor and the host's place.
fn executor_for(sshd: &Sshd) -> (deckhand::exec::SshExecutor, deckhand::exec::Place) {
    use deckhand::config::{HostAddress, SshSettings};
    let settings = SshSettings {
        identity_file: Some(sshd.client_key.clone()),
        known_hosts: Some(sshd.known_hosts.clone()),
        control_dir: Some(sshd.control_dir()),
        ..SshSettings::default()
    };
    let place = deckhand::exec::Place {
        address: HostAddress::parse(&sshd.address(0)).unwrap(),
        deploy_to: None,
    };
    (deckhand::exec::SshExecutor::new(&settings).unwrap(), place)
}

fn ssh_job(place: &deckhand::exec::Place, script: &str, tag: &str) -> deckhand::exec::Job {
    deckhand::exec::Job {
        app: "api".into(),
        env: "staging".into(),
        host: "api-1".into(),
        place: place.clone(),
        script: script.into(),
        vars: vec![],
        timeout: std::time::Duration::from_secs(60),
        look_only: false,
        tag: Some(tag.into()),
        halt: Default::default(),
    }
}

async fn run_job(
    exec: &deckhand::exec::SshExecutor,
    job: &deckhand::exec::Job,
) -> (
    Result<deckhand::exec::Exit, deckhand::exec::ExecError>,
    Vec<String>,
) {
    use deckhand::exec::Executor;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (exit, lines) = tokio::join!(exec.run(job, tx), async {
        let mut lines = vec![];
        while let Some(l) = rx.recv().await {
            lines.push(l.text);
        }
        lines
    });
    (exit, lines)
}

#[tokio::test]
async fn a_master_that_went_away_between_steps_is_opened_again_for_the_next() {
    use deckhand::exec::{Executor, Exit};
    let sshd = Sshd::start(1);
    let (exec, place) = executor_for(&sshd);
    assert!(exec.reach(&[("api-1", &place)]).await[0].is_ok());
    let (exit, lines) = run_job(&exec, &ssh_job(&place, "echo one", "deckhand#1@reopen")).await;
    assert_eq!(
        (exit.unwrap(), lines),
        (Exit::Code(0), vec!["one".to_owned()])
    );
    // As a master left idle past ControlPersist, or cut by the network, would be gone.
    kill_master(&sshd, 0);
    assert!(until(3, || sshd.master_of(0).is_none()).await);
    let (exit, lines) = run_job(&exec, &ssh_job(&place, "echo two", "deckhand#1@reopen")).await;
    assert_eq!(
        (exit.unwrap(), lines),
        (Exit::Code(0), vec!["two".to_owned()])
    );
    exec.close(&[&place]).await;
    masters_closed(&sshd, "close shuts the new master down").await;
}

#[tokio::test]
async fn a_sweep_ends_what_carries_a_deploys_tag_on_the_host_and_spares_the_rest() {
    use deckhand::exec::Executor;
    let sshd = Sshd::start(1);
    let (exec, place) = executor_for(&sshd);
    assert!(exec.reach(&[("api-1", &place)]).await[0].is_ok());
    let orphan = ssh_job(
        &place,
        "sleep 30; touch orphan-lived",
        "deckhand#12@sweepssh",
    );
    let other = ssh_job(&place, "sleep 3; touch other-lived", "deckhand#1@sweepssh");
    let started = std::time::Instant::now();
    let (orphan_run, other_run, swept) =
        tokio::join!(run_job(&exec, &orphan), run_job(&exec, &other), async {
            // Both steps are running on the host by then.
            assert!(until(10, || Sshd::running("deckhand#12@sweepssh")).await);
            assert!(until(10, || Sshd::running("deckhand#1@sweepssh")).await);
            exec.sweep("api-1", &place, "deckhand#12@sweepssh").await
        });
    let swept = swept.unwrap();
    // The wrapper and its watcher, `timeout`, the tagged shell, the step's shell and `sleep`.
    assert!(swept.killed >= 4, "{swept:?}");
    assert!(
        orphan_run.0.is_err() || orphan_run.0.as_ref().unwrap() != &deckhand::exec::Exit::Code(0),
        "#12's step was ended: {:?}",
        orphan_run.0
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(25));
    assert_eq!(
        other_run.0.unwrap(),
        deckhand::exec::Exit::Code(0),
        "#1 went on"
    );
    assert!(!Sshd::running("deckhand#12@sweepssh"));
    assert!(sshd.file(0, "deckhand/api/staging/other-lived").is_some());
    assert!(sshd.file(0, "deckhand/api/staging/orphan-lived").is_none());
    assert_eq!(
        exec.sweep("api-1", &place, "deckhand#12@sweepssh")
            .await
            .unwrap()
            .killed,
        0
    );
    exec.close(&[&place]).await;
}
