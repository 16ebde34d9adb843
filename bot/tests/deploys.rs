//! A deploy's life, as a user in chat sees it and as the deploy log records it: the example
//! configuration, real SQLite, real local processes.

mod common;

use common::TestBot;
use deckhand::core::lifecycle::DeployState;

#[tokio::test]
async fn a_staging_deploy_goes_live_and_says_so() {
    let bot = TestBot::new().await;
    let answer = bot.say("alice", "deploy api@v1.2.0 to staging").await;
    assert!(
        answer.contains("#1 api@v1.2.0 → staging: starting (requested by alice)"),
        "{answer}"
    );
    bot.wait().await;

    let t = bot.transcript();
    assert!(
        t.contains("host 1/1, step 1/"),
        "progress is shown step by step:\n{t}"
    );
    assert!(t.contains("#1 api@v1.2.0 → staging: succeeded in"), "{t}");
    assert!(t.contains("health: api-staging ok"), "{t}");
    assert!(
        t.contains("[m2 > m1]") || t.contains(" > m1]"),
        "output goes to the thread:\n{t}"
    );

    // On the host's disk: the release, the current link and REVISION.
    assert_eq!(
        bot.host_file("api", "staging", "api-staging", "REVISION")
            .as_deref(),
        Some("v1.2.0\n")
    );
    let current = std::fs::read_link(
        bot.host_dir("api", "staging", "api-staging")
            .join("current"),
    )
    .unwrap();
    assert_eq!(current.to_str(), Some("releases/v1.2.0"));

    let live = bot.say("bob", "live api in staging").await;
    assert!(live.contains("api in staging: v1.2.0"), "{live}");
    assert!(live.contains("deployed by alice"), "{live}");
    assert!(live.contains("#1"), "{live}");

    let d = bot.store.deploy(1).await.unwrap().unwrap();
    assert_eq!(d.state, DeployState::Succeeded);
    let events = bot.store.events(1).await.unwrap();
    let states: Vec<_> = events.iter().filter_map(|e| e.to_state).collect();
    assert_eq!(
        states.first(),
        Some(&DeployState::Approved),
        "needs no approval in staging"
    );
    assert_eq!(states.last(), Some(&DeployState::Succeeded));
    for s in [
        DeployState::Queued,
        DeployState::Running,
        DeployState::Verifying,
    ] {
        assert!(states.contains(&s), "{s} missing from {states:?}");
    }
}

#[tokio::test]
async fn a_broken_version_fails_health_rolls_back_and_is_marked_bad() {
    let bot = TestBot::new().await;
    bot.say("alice", "deploy api@v1.2.0 to staging").await;
    bot.wait().await;
    bot.say("alice", "deploy api@broken-1 to staging").await;
    bot.wait().await;

    let t = bot.transcript();
    assert!(
        t.contains("#2 api@broken-1 → staging rolled back: health check failed on api-staging"),
        "{t}"
    );
    assert!(t.contains("api-staging is back on v1.2.0"), "{t}");
    assert!(t.contains("broken-1 is now marked bad for staging"), "{t}");

    assert_eq!(
        bot.host_file("api", "staging", "api-staging", "REVISION")
            .as_deref(),
        Some("v1.2.0\n")
    );
    assert_eq!(
        bot.store.deploy(2).await.unwrap().unwrap().state,
        DeployState::RolledBack
    );

    let live = bot.say("alice", "live api in staging").await;
    assert!(
        live.contains("api in staging: v1.2.0"),
        "a rolled-back version is never live: {live}"
    );

    // The log holds the deploy's output, and search finds it.
    let found = bot
        .say("alice", "search migrations broken-1 app:api env:staging")
        .await;
    assert!(found.contains("#2 api@broken-1 → staging"), "{found}");
    let found = bot.say("alice", "search health status:rolled_back").await;
    assert!(found.contains("#2"), "{found}");
}

#[tokio::test]
async fn rollback_deploys_the_last_good_version() {
    let bot = TestBot::new().await;
    for v in ["v1.0.0", "v1.1.0"] {
        bot.say("alice", &format!("deploy web@{v} to staging"))
            .await;
        bot.wait().await;
    }
    let answer = bot.say("carol", "rollback web in staging").await;
    assert!(
        answer.contains("rollback #3 web@v1.0.0 → staging: starting"),
        "{answer}"
    );
    bot.wait().await;
    let live = bot.say("carol", "what's live on staging").await;
    assert!(live.contains("web in staging: v1.0.0"), "{live}");
    assert_eq!(
        bot.host_file("web", "staging", "web-staging", "REVISION")
            .as_deref(),
        Some("v1.0.0\n")
    );

    let history = bot.say("carol", "history web in staging").await;
    let first = history.lines().nth(1).unwrap_or_default();
    assert!(
        first.contains("#3 web@v1.0.0 → staging (rollback)"),
        "{history}"
    );
}

#[tokio::test]
async fn a_second_deploy_to_the_same_target_queues_and_starts_by_itself() {
    let bot = TestBot::new().await;
    let first = bot.say("alice", "deploy api@v1 to staging").await;
    let second = bot.say("bob", "deploy api@v2 to staging").await;
    assert!(first.contains("#1 api@v1 → staging: starting"), "{first}");
    assert!(
        second.contains("#2 api@v2 → staging: queued behind #1, position 1"),
        "{second}"
    );
    // Another target is not held up.
    let other = bot.say("bob", "deploy web@v9 to staging").await;
    assert!(other.contains("starting"), "{other}");
    bot.wait().await;
    for id in 1..=3 {
        assert_eq!(
            bot.store.deploy(id).await.unwrap().unwrap().state,
            DeployState::Succeeded
        );
    }
    let live = bot.say("bob", "live api in staging").await;
    assert!(live.contains("v2"), "{live}");
}

#[tokio::test]
async fn cancel_withdraws_a_queued_deploy() {
    let bot = TestBot::new().await;
    bot.say("alice", "deploy api@v1 to staging").await;
    bot.say("bob", "deploy api@v2 to staging").await;
    let answer = bot.say("bob", "cancel #2").await;
    assert!(
        answer.contains("#2 api@v2 → staging cancelled by bob before it started"),
        "{answer}"
    );
    bot.wait().await;
    assert_eq!(
        bot.store.deploy(2).await.unwrap().unwrap().state,
        DeployState::Cancelled
    );
    assert_eq!(
        bot.host_file("api", "staging", "api-staging", "REVISION")
            .as_deref(),
        Some("v1\n")
    );
    let again = bot.say("bob", "cancel #2").await;
    assert!(again.contains("already ended: cancelled"), "{again}");
    let none = bot.say("bob", "cancel #99").await;
    assert!(none.contains("There is no deploy #99."), "{none}");
}

#[tokio::test]
async fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let bot = TestBot::new().await;
    let dry = bot.say("alice", "deploy api@v5 noop").await;
    assert!(dry.contains("Dry run of api@v5 → staging"), "{dry}");
    assert!(dry.contains("Policy: allowed"), "{dry}");
    assert!(
        dry.contains("1. release: (built in: release layout)"),
        "{dry}"
    );
    assert!(dry.contains("2. build: echo"), "{dry}");
    assert!(
        bot.store.deploy(1).await.unwrap().is_none(),
        "a dry run is not a deploy"
    );
    assert!(!bot.host_dir("api", "staging", "api-staging").exists());
}

#[tokio::test]
async fn hostile_input_is_refused_and_reaches_no_shell() {
    let bot = TestBot::new().await;
    let marker = bot.data.path().join("pwned");
    let hostile = [
        format!("deploy api@$(touch {}) to staging", marker.display()),
        format!("deploy api@`touch {}` to staging", marker.display()),
        format!("deploy api@v1;touch {} to staging", marker.display()),
        "deploy api@v1|id to staging".to_owned(),
        "deploy api@--upload-pack=touch to staging".to_owned(),
        "deploy --upload-pack=x to staging".to_owned(),
        "deploy api@a..b to staging".to_owned(),
        "deploy api@v1\n touch x to staging".to_owned(),
    ];
    for h in &hostile {
        let answer = bot.say("mallory", h).await;
        assert!(!answer.is_empty(), "no answer to {h:?}");
        assert!(
            !answer.contains("starting (requested by"),
            "{h:?} started a deploy: {answer}"
        );
    }
    let huge = format!("deploy api@{} to staging", "a".repeat(100_000));
    let answer = bot.say("mallory", &huge).await;
    assert!(answer.contains("characters long"), "{answer}");
    assert!(
        answer.len() < 400,
        "the answer to a huge message stays short"
    );
    bot.wait().await;
    assert!(!marker.exists());
    assert!(
        bot.store.deploy(1).await.unwrap().is_none(),
        "nothing was recorded"
    );
}

#[tokio::test]
async fn unknown_names_get_the_closest_suggestion() {
    let bot = TestBot::new().await;
    let a = bot.say("alice", "deploy api to prdo").await;
    assert!(
        a.contains("I don't know the env `prdo`. Did you mean `prod`?"),
        "{a}"
    );
    let a = bot.say("alice", "deploy apj to staging").await;
    assert!(a.contains("Did you mean `api`?"), "{a}");
    let a = bot.say("alice", "deplyo api").await;
    assert!(a.contains("Did you mean `deploy`?"), "{a}");
    let a = bot.say("alice", "deploy api to staging/nope").await;
    assert!(
        a.contains("I don't know the host or group of api in staging `nope`"),
        "{a}"
    );
    let a = bot.say("alice", "deploy:frobnicate api to staging").await;
    assert!(a.contains("task of api"), "{a}");
    let a = bot.say("alice", "live apx").await;
    assert!(a.contains("Did you mean `api`?"), "{a}");
}

#[tokio::test]
async fn channel_messages_need_a_prefix_or_a_mention() {
    let bot = TestBot::new().await;
    assert_eq!(
        bot.say_in_channel("alice", "deploy api to staging").await,
        ""
    );
    let a = bot.say_in_channel("alice", "!help deploy").await;
    assert!(a.contains("Example: `deploy api@v1.4.2 to staging`"), "{a}");
    let a = bot.say_in_channel("alice", "deckhand: wcid").await;
    assert!(a.contains("api in staging: open"), "{a}");
    assert!(
        a.contains("api in prod: open, needs 1 approval from leads"),
        "{a}"
    );
}

#[tokio::test]
async fn status_shows_steps_per_host() {
    let bot = TestBot::new().await;
    bot.say("alice", "deploy web@v7 to staging").await;
    bot.wait().await;
    let s = bot.say("alice", "status #1").await;
    assert!(s.contains("#1 web@v7 → staging · succeeded"), "{s}");
    assert!(s.contains("web-staging: prepare ✓"), "{s}");
    let s = bot.say("alice", "status").await;
    assert!(s.contains("Nothing is running or queued."), "{s}");
}

#[tokio::test]
async fn live_check_reports_drift_after_a_host_is_changed_by_hand() {
    let bot = TestBot::new().await;
    bot.say("alice", "deploy web@v7 to staging").await;
    bot.wait().await;
    let ok = bot.say("alice", "live web in staging --check").await;
    assert!(ok.contains("web-staging: v7 ✓"), "{ok}");
    std::fs::write(
        bot.host_dir("web", "staging", "web-staging")
            .join("REVISION"),
        "hotfix\n",
    )
    .unwrap();
    let drift = bot.say("alice", "live web in staging --check").await;
    assert!(
        drift.contains("web-staging: hotfix ✗ DRIFT (the log says v7)"),
        "{drift}"
    );
}

/// `layout = "releases"` (the api demo): deckhand makes the release, switches `current`, keeps
/// the newest five, marks a release that failed health bad on the host, and rolls back by
/// switching the link without rebuilding.
#[tokio::test]
async fn the_release_layout_switches_marks_bad_keeps_five_and_rolls_back_by_switching() {
    let bot = TestBot::new().await;
    let dir = bot.host_dir("api", "staging", "api-staging");
    let current = || {
        std::fs::read_link(dir.join("current"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    bot.say("alice", "deploy api@v1 to staging").await;
    bot.wait().await;
    bot.say("alice", "deploy api@feature/login to staging")
        .await;
    bot.wait().await;
    assert_eq!(
        current(),
        "releases/feature%2Flogin",
        "refs never nest dirs"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("current/VERSION")).unwrap(),
        "feature/login\n",
        "the recipe's steps ran inside the release"
    );

    bot.say("alice", "deploy api@broken-2 to staging").await;
    bot.wait().await;
    assert_eq!(current(), "releases/feature%2Flogin", "switched back");
    let bad = std::fs::read_to_string(dir.join("releases/broken-2/BAD_RELEASE")).unwrap();
    assert!(bad.contains("health check failed in deploy #3"), "{bad}");
    assert_eq!(bot.state(3).await, DeployState::RolledBack);

    // rollback: the last good version before the live one is v1, still on the host: only the
    // link moves (one step, no `build`).
    let before = bot.transcript().len();
    let answer = bot.say("bob", "rollback api in staging").await;
    assert!(answer.contains("rollback #4 api@v1 → staging"), "{answer}");
    bot.wait().await;
    let t = bot.transcript()[before..].to_owned();
    assert!(
        t.contains("#4 api@v1 → staging: host 1/1, step 1/1 (switch)"),
        "{t}"
    );
    assert!(!t.contains("compiling"), "nothing is rebuilt:\n{t}");
    assert!(t.contains("#4 api@v1 → staging: succeeded"), "{t}");
    assert_eq!(current(), "releases/v1");
    assert_eq!(
        bot.host_file("api", "staging", "api-staging", "REVISION")
            .as_deref(),
        Some("v1\n")
    );
    let steps = bot.store.steps(4).await.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["switch"], "the log shows what ran");

    // Cleanup keeps the newest five releases, never the live one.
    for i in 0..6 {
        bot.say("alice", &format!("deploy api@v2.{i} to staging"))
            .await;
        bot.wait().await;
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    }
    let mut kept: Vec<String> = std::fs::read_dir(dir.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept, ["v2.1", "v2.2", "v2.3", "v2.4", "v2.5"]);
    assert_eq!(current(), "releases/v2.5");
}

/// A tiny HTTP server on 127.0.0.1: answers every request with `status` (changeable), and
/// remembers the request lines it got.
struct HealthServer {
    port: u16,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl HealthServer {
    async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (st, sn) = (status.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (st, sn) = (st.clone(), sn.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]);
                    sn.lock()
                        .unwrap()
                        .push(request.lines().next().unwrap_or_default().to_owned());
                    let code = st.load(std::sync::atomic::Ordering::SeqCst);
                    let reply = format!(
                        "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self { port, status, seen }
    }
}

#[tokio::test]
async fn an_http_health_check_passes_on_200_and_rolls_back_on_503() {
    let server = HealthServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::example_edited(dir.path(), "api", "", |c| c);
    // The api recipe's command check replaced by an HTTP one against the server.
    let recipe_path = config.parent().unwrap().join("../deploy.d/api.toml");
    let recipe = std::fs::read_to_string(&recipe_path).unwrap();
    let cut = recipe.find("[health]").unwrap();
    let health = format!(
        "[health]\nurl = \"http://{{address}}:{}/healthz?host={{host}}\"\nretries = 2\ninterval = \"50ms\"\ntimeout = \"2s\"\n",
        server.port
    );
    std::fs::write(&recipe_path, format!("{}{health}", &recipe[..cut])).unwrap();
    let bot = TestBot::with(
        config,
        tempfile::tempdir().unwrap(),
        common::clock("2026-11-23T10:00:00Z"),
    )
    .await;

    bot.say("alice", "deploy api@v1 to staging").await;
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    assert_eq!(
        server.seen.lock().unwrap().first().map(String::as_str),
        Some("GET /healthz?host=api-staging HTTP/1.1"),
        "{{address}} and {{host}} are filled in"
    );

    server
        .status
        .store(503, std::sync::atomic::Ordering::SeqCst);
    bot.say("alice", "deploy api@v2 to staging").await;
    bot.wait().await;
    let t = bot.transcript();
    assert!(
        t.contains("#2 api@v2 → staging rolled back: health check failed on api-staging"),
        "{t}"
    );
    assert!(t.contains("503"), "the status is named:\n{t}");
    assert_eq!(bot.state(2).await, DeployState::RolledBack);
    assert_eq!(
        bot.host_file("api", "staging", "api-staging", "REVISION")
            .as_deref(),
        Some("v1\n"),
        "back on v1"
    );
    assert_eq!(
        server.seen.lock().unwrap().len(),
        3,
        "1 check, then 2 tries"
    );
}

/// A task run (`deploy:migrate`) at a version does not make that version live: `live` and
/// `rollback` speak of the newest `deploy`.
#[tokio::test]
async fn a_task_run_does_not_change_what_is_live() {
    let bot = TestBot::new().await;
    bot.say("alice", "deploy api@v1.2.0 to staging").await;
    bot.wait().await;
    let migrate = bot
        .say("alice", "deploy:migrate api@v1.3.0 to staging")
        .await;
    assert!(migrate.contains("#2"), "{migrate}");
    bot.wait().await;
    assert!(
        bot.transcript().contains("#2 api@v1.3.0 → staging")
            && bot.transcript().contains("succeeded in"),
        "{}",
        bot.transcript()
    );
    let live = bot.say("bob", "live api in staging").await;
    assert!(live.contains("api in staging: v1.2.0"), "{live}");
    assert!(!live.contains("v1.3.0"), "{live}");
}
