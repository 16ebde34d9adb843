//! deckhand and GitHub (issue 12): the real octocrab client against a fake GitHub REST API on
//! 127.0.0.1 (`common/fake_github.rs`), through the real engine, SQLite and local hosts.

mod common;
#[path = "common/fake_github.rs"]
mod fake_github;

use common::{TestBot, clock, example_edited};
use deckhand::core::lifecycle::DeployState;
use deckhand::github::{Client, Credentials, GitHub, Options};
use fake_github::{FakeGitHub, Report};
use std::sync::Arc;
use std::time::Duration;

/// The api recipe names the fake's repository; a step writes `$DECKHAND_SHA` to `SHA`.
const SHA_STEP: &str = r#"
[[tasks.deploy.steps]]
name = "sha"
run = 'printf "%s\n" "$DECKHAND_SHA" > SHA'
"#;

struct Setup {
    bot: TestBot,
    gh: FakeGitHub,
}

fn token_client(gh: &FakeGitHub) -> Arc<dyn GitHub> {
    Arc::new(
        Client::new(
            &Credentials::Token("ghp_test_token".into()),
            Options {
                api_url: Some(gh.url.clone()),
                retries: 2,
                deadline: Duration::from_secs(10),
            },
        )
        .unwrap(),
    )
}

/// The example with `repo = "acme/api"` (and `recipe_head`) at the top of api's recipe,
/// `[github]` holding `github_toml`, and the bot talking to `gh` through `client`.
async fn setup_with(
    gh: FakeGitHub,
    recipe_head: &str,
    github_toml: &str,
    client: Option<Arc<dyn GitHub>>,
) -> Setup {
    let data = tempfile::tempdir().unwrap();
    let github_toml = github_toml.to_owned();
    let config = example_edited(data.path(), "api", SHA_STEP, move |c| {
        format!("{c}\n[github]\n{github_toml}\n")
    });
    let recipe = config
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("deploy.d/api.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(
        &recipe,
        format!("repo = \"{}\"\n{recipe_head}\n{text}", gh.repo),
    )
    .unwrap();
    let client = client.unwrap_or_else(|| token_client(&gh));
    let bot = TestBot::with_github(config, data, clock("2026-11-23T10:00:00Z"), Some(client)).await;
    Setup { bot, gh }
}

async fn setup() -> Setup {
    let gh = FakeGitHub::start().await;
    setup_with(gh, "", "wait_for_checks = \"30s\"", None).await
}

fn green(name: &str) -> Report {
    Report::Status {
        context: name.into(),
        state: "success".into(),
    }
}

fn run(name: &str, status: &str, conclusion: Option<&str>) -> Report {
    Report::Run {
        name: name.into(),
        status: status.into(),
        conclusion: conclusion.map(str::to_owned),
    }
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// Waits until deploy `id` has ended (a deploy waiting for CI is parked, so `wait` alone may
/// return while it waits), then until everything is idle.
async fn wait_for_end(bot: &TestBot, id: i64) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while !bot.state(id).await.is_final() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the deploy ended within a minute");
    bot.wait().await;
}

#[tokio::test]
async fn a_branch_is_pinned_to_its_commit_and_the_deploy_runs_exactly_that() {
    let Setup { bot, gh } = setup().await;
    let main = gh.branch("main");
    gh.report(
        &main,
        vec![green("ci/build"), run("test", "completed", Some("success"))],
    );

    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains("#1 api@main → staging: starting"),
        "{answer}"
    );
    assert!(
        answer.contains(&format!(
            "Commit: {} (branch `main`) {}/acme/api/commit/{main}",
            short(&main),
            gh.url
        )),
        "{answer}"
    );
    assert!(answer.contains("CI: green (2 checks)."), "{answer}");
    bot.wait().await;

    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    let d = bot.store.deploy(1).await.unwrap().unwrap();
    assert_eq!(d.commit_sha.as_deref(), Some(main.as_str()));
    assert_eq!(
        bot.host_file("api", "staging", "api-staging", "current/SHA"),
        Some(format!("{main}\n")),
        "DECKHAND_SHA reaches the steps"
    );
    let events = bot.store.events(1).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "pinned" && e.text.contains(&main)),
        "{events:?}"
    );

    let live = bot.say("bob", "live api in staging").await;
    assert!(
        live.contains(&format!(
            "main ({} {}/acme/api/commit/{main})",
            short(&main),
            gh.url
        )),
        "{live}"
    );
    let history = bot.say("bob", "history api").await;
    assert!(history.contains(short(&main)), "{history}");
    let found = bot.say("bob", &format!("search sha:{}", &main[..6])).await;
    assert!(found.contains("#1"), "{found}");
    let none = bot.say("bob", "search sha:ffff00").await;
    assert!(!none.contains("#1"), "{none}");
}

#[tokio::test]
async fn tags_and_sha_prefixes_resolve_and_an_unknown_ref_gets_the_closest_names() {
    let Setup { bot, gh } = setup().await;
    let first = gh.branch("main");
    let second = gh.commit("main", "Add sessions", "bob");
    gh.tag("v1.2.0", &first);
    gh.add_branch("develop", &second);

    let tag = bot.say("alice", "deploy api@v1.2.0 to staging").await;
    assert!(
        tag.contains(&format!("Commit: {} (tag `v1.2.0`)", short(&first))),
        "{tag}"
    );
    bot.wait().await;

    let prefix = bot
        .say("alice", &format!("deploy api@{} to staging", &second[..8]))
        .await;
    assert!(
        prefix.contains(&format!(
            "Commit: {} (commit `{}`)",
            short(&second),
            &second[..8]
        )),
        "{prefix}"
    );
    bot.wait().await;
    assert_eq!(
        bot.store.deploy(2).await.unwrap().unwrap().commit_sha,
        Some(second.clone())
    );

    let unknown = bot.say("alice", "deploy api@devlop to staging").await;
    assert!(
        unknown.contains("acme/api has no branch, tag or commit `devlop`. Closest: `develop`"),
        "{unknown}"
    );
    let near_tag = bot.say("alice", "deploy api@v1.2 to staging").await;
    assert!(near_tag.contains("`v1.2.0`"), "{near_tag}");
    assert!(
        bot.store.deploy(3).await.unwrap().is_none(),
        "an unknown ref is not filed"
    );
}

#[tokio::test]
async fn a_red_build_is_refused_naming_the_failing_checks_with_links() {
    let Setup { bot, gh } = setup().await;
    let main = gh.branch("main");
    gh.report(
        &main,
        vec![
            Report::Status {
                context: "ci/build".into(),
                state: "failure".into(),
            },
            run("lint", "completed", Some("timed_out")),
            run("docs", "completed", Some("success")),
        ],
    );
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains(&format!(
            "#1 api@main → staging refused: CI is red on {}",
            short(&main)
        )),
        "{answer}"
    );
    assert!(
        answer.contains(&format!(
            "ci/build (https://ci.example.com/ci/build/{main})"
        )),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("lint ({}/acme/api/runs/lint)", gh.url)),
        "{answer}"
    );
    assert!(!answer.contains("docs"), "{answer}");
    assert!(answer.contains("`deploy!`"), "{answer}");
    assert_eq!(bot.state(1).await, DeployState::Blocked);
}

#[tokio::test]
async fn required_checks_are_the_only_ones_that_count() {
    let gh = FakeGitHub::start().await;
    let main = gh.branch("main");
    gh.report(
        &main,
        vec![
            green("ci/build"),
            Report::Status {
                context: "flaky/e2e".into(),
                state: "failure".into(),
            },
        ],
    );
    let Setup { bot, .. } = setup_with(
        gh,
        "required_checks = [\"ci/build\"]",
        "wait_for_checks = \"30s\"",
        None,
    )
    .await;
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(answer.contains("CI: green (1 check)."), "{answer}");
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
}

#[tokio::test]
async fn a_pending_build_waits_and_starts_once_green() {
    let Setup { bot, gh } = setup().await;
    let main = gh.branch("main");
    gh.report(&main, vec![run("test", "in_progress", None)]);

    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains(&format!("CI: pending on {} (test)", short(&main))),
        "{answer}"
    );
    assert!(answer.contains("waits for it (up to 30s)"), "{answer}");
    // Once the deploy has asked again at its start, CI finishes.
    let watch = gh.clone();
    let sha = main.clone();
    tokio::spawn(async move {
        while watch.calls_to("/check-runs").len() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        watch.report(&sha, vec![run("test", "completed", Some("success"))]);
    });
    wait_for_end(&bot, 1).await;

    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    let t = bot.transcript();
    assert!(
        t.contains(&format!(
            "waiting for CI on {}: pending (test)",
            short(&main)
        )),
        "{t}"
    );
    let events = bot.store.events(1).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "held" && e.text.contains("waits for CI"))
    );
}

#[tokio::test]
async fn a_pending_build_is_given_up_after_the_configured_time() {
    let gh = FakeGitHub::start().await;
    let main = gh.branch("main");
    gh.report(&main, vec![run("test", "queued", None)]);
    let Setup { bot, .. } = setup_with(gh, "", "wait_for_checks = \"300ms\"", None).await;

    bot.say("alice", "deploy api to staging").await;
    wait_for_end(&bot, 1).await;

    assert_eq!(bot.state(1).await, DeployState::Cancelled);
    let d = bot.store.deploy(1).await.unwrap().unwrap();
    let reason = d.reason.unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "CI on {} was still pending (test) after",
            short(&main)
        )) && reason.contains("gave up"),
        "{reason}"
    );
    let t = bot.transcript();
    assert!(t.contains("not started: CI on"), "{t}");
    assert!(
        bot.host_file("api", "staging", "api-staging", "current/SHA")
            .is_none()
    );
}

#[tokio::test]
async fn deploy_bang_skips_the_ci_gate_and_the_log_records_it() {
    let Setup { bot, gh } = setup().await;
    let main = gh.branch("main");
    gh.report(
        &main,
        vec![Report::Status {
            context: "ci/build".into(),
            state: "failure".into(),
        }],
    );
    let answer = bot.say("alice", "deploy! api to staging").await;
    assert!(
        answer.contains(&format!(
            "`deploy!`: the CI gate is skipped for {} (recorded in the log).",
            short(&main)
        )),
        "{answer}"
    );
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    assert!(
        gh.calls_to("/check-runs").is_empty() && gh.calls_to("/status?").is_empty(),
        "the gate was not asked"
    );
    let d = bot.store.deploy(1).await.unwrap().unwrap();
    assert!(d.force);
    let events = bot.store.events(1).await.unwrap();
    assert!(
        events.iter().any(|e| e.kind == "gate_skipped"
            && e.text.contains("deploy! by alice: the CI gate was skipped")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_branch_that_moves_after_approval_still_deploys_the_approved_commit() {
    let Setup { bot, gh } = setup().await;
    let approved = gh.branch("main");
    let request = bot.say("alice", "deploy api to prod").await;
    assert!(request.contains("needs"), "{request}");
    assert!(
        request.contains(&format!("Commit: {} (branch `main`)", short(&approved))),
        "the approvers see the commit: {request}"
    );
    let newer = gh.commit("main", "Something nobody approved", "mallory");
    bot.say("carol", "approve #1").await;
    bot.wait().await;

    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    let t = bot.transcript();
    assert!(
        t.contains(&format!(
            "#1: branch `main` moved to {} since it was requested; deploying the approved commit {}.",
            short(&newer),
            short(&approved)
        )),
        "{t}"
    );
    for host in ["api-1", "api-2"] {
        assert_eq!(
            bot.host_file("api", "prod", host, "current/SHA"),
            Some(format!("{approved}\n"))
        );
    }
    let created = gh.calls_to("/deployments");
    assert_eq!(created[0].body["ref"], approved.as_str());
}

#[tokio::test]
async fn the_approval_request_shows_the_changelog_and_a_rollback_what_it_takes_away() {
    let Setup { bot, gh } = setup().await;
    let first = gh.branch("main");
    bot.say("alice", "deploy api to prod").await;
    bot.say("carol", "approve #1").await;
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);

    gh.commit(
        "main",
        "Add sessions\n\nA longer body nobody reads in chat.",
        "bob",
    );
    gh.commit("main", "Fix the login redirect", "carol");
    let head = gh.commit("main", "Bump the HTTP client", "dave");
    gh.tag("v2.0.0", &head);
    let request = bot.say("alice", "deploy api@v2.0.0 to prod").await;
    assert!(
        request.contains(&format!(
            "Changes: 3 new commits since live {}:",
            short(&first)
        )),
        "{request}"
    );
    let newest_first = [
        format!("• {} Bump the HTTP client — dave", short(&head)),
        "Fix the login redirect — carol".to_owned(),
        "Add sessions — bob".to_owned(),
    ];
    let at: Vec<usize> = newest_first
        .iter()
        .map(|line| {
            request
                .find(line.as_str())
                .unwrap_or_else(|| panic!("{line} in {request}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "newest first: {request}"
    );
    assert!(!request.contains("longer body"), "{request}");
    assert!(
        request.contains(&format!(
            "Compare: {}/acme/api/compare/{first}...{head}",
            gh.url
        )),
        "{request}"
    );
    bot.say("carol", "approve #2").await;
    bot.wait().await;
    assert_eq!(bot.state(2).await, DeployState::Succeeded);

    let back = bot.say("alice", "rollback api in prod").await;
    assert!(
        back.contains(&format!(
            "Takes away 3 commits (live {} → {}):",
            short(&head),
            short(&first)
        )),
        "{back}"
    );
    assert!(
        back.contains("CI gate: not applied to a rollback."),
        "{back}"
    );
    assert!(back.contains("Bump the HTTP client — dave"), "{back}");
}

#[tokio::test]
async fn deployments_and_their_statuses_are_recorded_in_order() {
    let gh = FakeGitHub::start().await;
    let Setup { bot, gh } = setup_with(
        gh,
        "",
        "wait_for_checks = \"30s\"\npublic_url = \"https://deckhand.example.com/\"",
        None,
    )
    .await;
    let first = gh.branch("main");
    bot.say("alice", "deploy api to staging").await;
    bot.wait().await;
    let second = gh.commit("main", "Second", "bob");
    bot.say("alice", "deploy api to staging").await;
    bot.wait().await;
    gh.add_branch("broken-build", &gh.commit("main", "Broken", "bob"));
    bot.say("alice", "deploy api@broken-build to staging").await;
    bot.wait().await;
    assert_eq!(bot.state(3).await, DeployState::RolledBack);

    let record: Vec<(String, String, String)> = gh
        .calls_to("/deployments")
        .into_iter()
        .map(|c| {
            let what = c.body["state"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("create {}", c.body["ref"].as_str().unwrap_or("?")));
            (
                c.path.replace("/repos/acme/api", ""),
                what,
                c.body["log_url"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let log = |n: u32| format!("https://deckhand.example.com/deploys/{n}");
    assert_eq!(
        record[..7],
        [
            (
                "/deployments".into(),
                format!("create {first}"),
                String::new()
            ),
            (
                "/deployments/1/statuses".into(),
                "in_progress".into(),
                log(1)
            ),
            ("/deployments/1/statuses".into(), "success".into(), log(1)),
            (
                "/deployments".into(),
                format!("create {second}"),
                String::new()
            ),
            (
                "/deployments/2/statuses".into(),
                "in_progress".into(),
                log(2)
            ),
            ("/deployments/2/statuses".into(), "success".into(), log(2)),
            (
                "/deployments/1/statuses".into(),
                "inactive".into(),
                String::new()
            ),
        ],
        "{record:#?}"
    );
    assert_eq!(record[8].1, "in_progress", "{record:#?}");
    assert_eq!(record[9].0, "/deployments/3/statuses", "{record:#?}");
    assert_eq!(record[9].1, "failure", "{record:#?}");
    assert_eq!(record.len(), 10, "no inactive after a failure: {record:#?}");
    let calls = gh.calls_to("/deployments");
    let create = &calls[0].body;
    assert_eq!(create["environment"], "staging");
    assert_eq!(create["auto_merge"], false);
    assert_eq!(create["required_contexts"], serde_json::json!([]));
    let failure = &gh.calls_to("/deployments/3/statuses")[1].body;
    assert!(
        failure["description"]
            .as_str()
            .unwrap()
            .contains("health check failed on api-staging"),
        "{failure}"
    );
    assert!(gh.calls().iter().all(|c| c.auth == "Bearer ghp_test_token"));
}

#[tokio::test]
async fn a_5xx_is_retried_a_bounded_number_of_times_then_said() {
    let Setup { bot, gh } = setup().await;
    gh.fail("/git/ref/heads/", 502, &[], 10);
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains("I could not pin `main` to a commit of acme/api: GitHub is failing (HTTP 502) and still was after 3 tries; try again later."),
        "{answer}"
    );
    assert_eq!(gh.calls_to("/git/ref/heads/").len(), 3, "1 try + 2 retries");
    assert!(bot.store.deploy(1).await.unwrap().is_none());
}

#[tokio::test]
async fn a_rate_limit_says_when_it_resets() {
    let Setup { bot, gh } = setup().await;
    // 2026-12-03T14:05:00Z
    gh.fail(
        "/git/ref/heads/",
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1796306700"),
        ],
        1,
    );
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains("GitHub's API rate limit for deckhand is used up until 14:05:00 UTC; try again after that"),
        "{answer}"
    );
    assert_eq!(
        gh.calls_to("/git/ref/heads/").len(),
        1,
        "a 403 is not retried"
    );

    // A secondary limit (429) is retried at once, twice, and then said.
    gh.fail(
        "/git/ref/heads/",
        429,
        &[("x-ratelimit-reset", "1796306700")],
        3,
    );
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(answer.contains("used up until 14:05:00 UTC"), "{answer}");
    assert_eq!(gh.calls_to("/git/ref/heads/").len(), 1 + 3);
}

#[tokio::test]
async fn bad_credentials_and_a_missing_repository_are_clear() {
    let Setup { bot, gh } = setup().await;
    gh.fail("/git/ref/heads/", 401, &[], 1);
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains("GitHub refused deckhand's credentials (401)"),
        "{answer}"
    );
    gh.fail("/check-runs", 404, &[], 1);
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains("I could not read CI for") && answer.contains("GitHub has no commit (404)"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_github_that_does_not_answer_is_cut_off_by_the_deadline() {
    let gh = FakeGitHub::start().await;
    let client: Arc<dyn GitHub> = Arc::new(
        Client::new(
            &Credentials::Token("ghp_test_token".into()),
            Options {
                api_url: Some(gh.url.clone()),
                retries: 2,
                deadline: Duration::from_millis(300),
            },
        )
        .unwrap(),
    );
    let Setup { bot, gh } = setup_with(gh, "", "wait_for_checks = \"30s\"", Some(client)).await;
    gh.stall("/git/ref/heads/", Duration::from_secs(3600));
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains(
            "I could not pin `main` to a commit of acme/api: GitHub did not answer within"
        ),
        "{answer}"
    );
    assert!(bot.store.deploy(1).await.unwrap().is_none());
}

/// A GitHub that answers every call, but slowly, is given up on as a whole: the request waits at
/// most one and a half calls' deadline (every other chat command waits behind it).
#[tokio::test]
async fn a_github_answering_slowly_is_given_up_on_as_a_whole() {
    let gh = FakeGitHub::start().await;
    let client: Arc<dyn GitHub> = Arc::new(
        Client::new(
            &Credentials::Token("ghp_test_token".into()),
            Options {
                api_url: Some(gh.url.clone()),
                retries: 2,
                deadline: Duration::from_millis(400),
            },
        )
        .unwrap(),
    );
    assert_eq!(client.patience(), Duration::from_millis(600));
    let Setup { bot, gh } = setup_with(gh, "", "wait_for_checks = \"30s\"", Some(client)).await;
    // Each call within its own deadline; the ref and the checks together beyond the patience.
    gh.stall("/git/ref/heads/", Duration::from_millis(350));
    gh.stall("/commits/", Duration::from_millis(350));
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains("GitHub is answering too slowly: `main` could not be pinned to a commit within 600ms, so nothing was filed."),
        "{answer}"
    );
    assert!(bot.store.deploy(1).await.unwrap().is_none());
}

#[tokio::test]
async fn github_down_never_blocks_a_deploy_bang_of_a_full_sha() {
    let Setup { bot, gh } = setup().await;
    let main = gh.branch("main");
    gh.fail("/", 503, &[], 10_000);
    let answer = bot
        .say("alice", &format!("deploy! api@{main} to staging"))
        .await;
    assert!(answer.contains("starting"), "{answer}");
    assert!(
        answer.contains(&format!("Commit: {} (commit)", short(&main))),
        "{answer}"
    );
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);
    let t = bot.transcript();
    assert!(
        t.contains("the deploy goes on, but GitHub's deployment history will not show it: GitHub is failing (HTTP 503)"),
        "{t}"
    );
    assert_eq!(
        bot.host_file("api", "staging", "api-staging", "current/SHA"),
        Some(format!("{main}\n"))
    );
}

/// A GitHub App (id 1234, installation 42) whose private key is made here by openssl, the way
/// GitHub hands one out (PKCS#1 PEM); the client talks to `gh`.
fn app_client(gh: &FakeGitHub, dir: &std::path::Path) -> Arc<dyn GitHub> {
    let key = dir.join("app.pem");
    let made = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    let creds = Credentials::from_lookup(
        &Default::default(),
        |k| match k {
            "GITHUB_APP_ID" => Some("1234".into()),
            "GITHUB_APP_INSTALLATION_ID" => Some("42".into()),
            "GITHUB_APP_PRIVATE_KEY_FILE" => Some(key.display().to_string()),
            _ => None,
        },
        |p| std::fs::read_to_string(p),
    )
    .unwrap()
    .unwrap();
    assert!(!format!("{creds:?}").contains("PRIVATE KEY"));
    Arc::new(
        Client::new(
            &creds,
            Options {
                api_url: Some(gh.url.clone()),
                ..Options::default()
            },
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn a_github_app_gets_installation_tokens_and_renews_them_before_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start().await;
    // Tokens that expire within octocrab's 30 s margin are renewed before each use.
    gh.token_life(20);
    let client = app_client(&gh, dir.path());
    let Setup { bot, gh } = setup_with(gh, "", "wait_for_checks = \"30s\"", Some(client)).await;
    bot.say("alice", "deploy api to staging").await;
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Succeeded);

    let calls = gh.calls();
    let tokens: Vec<_> = calls
        .iter()
        .filter(|c| c.path == "/app/installations/42/access_tokens")
        .collect();
    assert!(tokens.len() >= 2, "renewed: {} token calls", tokens.len());
    for t in &tokens {
        let jwt = t.auth.strip_prefix("Bearer ").expect("a bearer JWT");
        assert_eq!(jwt.split('.').count(), 3, "{jwt}");
    }
    let repo_calls: Vec<_> = calls
        .iter()
        .filter(|c| c.path.starts_with("/repos/"))
        .collect();
    assert!(!repo_calls.is_empty());
    assert!(
        repo_calls
            .iter()
            .all(|c| c.auth.starts_with("Bearer ghs_installation")),
        "{repo_calls:#?}"
    );
}

#[tokio::test]
async fn without_credentials_a_repo_backed_app_is_refused_and_check_says_what_is_missing() {
    let data = tempfile::tempdir().unwrap();
    let config = example_edited(data.path(), "api", "", |c| c);
    let recipe = config
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("deploy.d/api.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(&recipe, format!("repo = \"acme/api\"\n{text}")).unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .args(["check", "--config"])
        .arg(&config)
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_TOKEN_FILE")
        .env_remove("GITHUB_APP_ID")
        .env_remove("GITHUB_APP_PRIVATE_KEY_FILE")
        .env_remove("GITHUB_APP_INSTALLATION_ID")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("github: api (acme/api) name a repository, but no GitHub credentials are set: set GITHUB_TOKEN"),
        "{stdout}"
    );
    let half = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .args(["check", "--config"])
        .arg(&config)
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_TOKEN_FILE")
        .env("GITHUB_APP_ID", "12")
        .env_remove("GITHUB_APP_PRIVATE_KEY_FILE")
        .env_remove("GITHUB_APP_INSTALLATION_ID")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&half.stdout);
    assert!(stdout.contains("missing the private key file"), "{stdout}");
    let token = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .args(["check", "--config"])
        .arg(&config)
        .env("GITHUB_TOKEN", "ghp_never_printed")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&token.stdout);
    assert!(
        stdout.contains("github: api (acme/api) use a token (GITHUB_TOKEN or GITHUB_TOKEN_FILE)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("github: acme/api (every check must be green)"),
        "{stdout}"
    );
    assert!(!stdout.contains("ghp_never_printed"), "{stdout}");

    let bot = TestBot::with(config, data, clock("2026-11-23T10:00:00Z")).await;
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains("api's recipe names the GitHub repository acme/api, but deckhand has no GitHub credentials"),
        "{answer}"
    );
}

#[test]
fn the_configuration_checks_repo_required_checks_and_the_github_table() {
    let data = tempfile::tempdir().unwrap();
    let config = example_edited(data.path(), "web", "", |c| {
        format!(
            "{c}\n[github]\nwait_for_checks = \"soon\"\npublic_url = \"deckhand.example.com\"\napp_id = 0\n"
        )
    });
    let recipes = config.parent().unwrap().parent().unwrap().join("deploy.d");
    let api = std::fs::read_to_string(recipes.join("api.toml")).unwrap();
    std::fs::write(recipes.join("api.toml"), format!("repo = \"acme\"\n{api}")).unwrap();
    let web = std::fs::read_to_string(recipes.join("web.toml")).unwrap();
    std::fs::write(
        recipes.join("web.toml"),
        format!("required_checks = [\"ci/build\"]\n{web}"),
    )
    .unwrap();

    let errors = deckhand::config::Config::load(&config)
        .unwrap_err()
        .to_string();
    for want in [
        "api.toml:1:8: repo: `acme` is not a GitHub repository; expected \"owner/name\"",
        "web.toml:1:19: required_checks needs `repo = \"owner/name\"`",
        "`soon` is not a duration",
        "public_url `deckhand.example.com` is not an http(s) URL",
        "app_id must be a whole number of at least 1, not 0",
    ] {
        assert!(errors.contains(want), "{want} in:\n{errors}");
    }
}

#[tokio::test]
async fn a_deploy_waiting_for_ci_can_be_cancelled_and_creates_no_deployment() {
    let Setup { bot, gh } = setup().await;
    let main = gh.branch("main");
    gh.report(&main, vec![run("test", "queued", None)]);
    bot.say("alice", "deploy api to staging").await;
    tokio::time::timeout(Duration::from_secs(30), async {
        while !bot.transcript().contains("waiting for CI on") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the deploy waits for CI");
    // Parked while it waits: `wait` does not hold the test up.
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Queued);
    bot.say("alice", "cancel #1").await;
    wait_for_end(&bot, 1).await;
    assert_eq!(bot.state(1).await, DeployState::Cancelled);
    assert!(gh.calls_to("/deployments").is_empty());
}

#[tokio::test]
async fn the_status_message_keeps_the_commit_and_changelog_as_it_advances() {
    let Setup { bot, gh } = setup().await;
    bot.say("alice", "deploy api to staging").await;
    bot.wait().await;
    let head = gh.commit("main", "Add sessions", "bob");
    bot.say("alice", "deploy api to staging").await;
    bot.wait().await;
    let t = bot.transcript();
    let done = t
        .find("#2 api@main → staging: succeeded in")
        .unwrap_or_else(|| panic!("{t}"));
    let after = &t[done..];
    assert!(
        after.contains(&format!("Commit: {} (branch `main`)", short(&head)))
            && after.contains(&format!("• {} Add sessions — bob", short(&head))),
        "{after}"
    );
}

#[tokio::test]
async fn a_deploy_interrupted_by_a_crash_gets_an_error_status_on_github() {
    use deckhand::store::{DeployKind, NewDeploy, Store};
    let gh = FakeGitHub::start().await;
    let main = gh.branch("main");
    let client = token_client(&gh);
    let repo = deckhand::core::repo::RepoName::parse("acme/api").unwrap();
    let deployment = client
        .create_deployment(&repo, &main, "staging", "deckhand #1 by alice")
        .await
        .unwrap();

    // The log of a bot that died while #1 ran.
    let data = tempfile::tempdir().unwrap();
    {
        let store = Store::open(&data.path().join("deckhand.db")).await.unwrap();
        let now = chrono::Utc::now();
        let new = NewDeploy {
            app: deckhand::core::names::AppName::parse("api").unwrap(),
            env: deckhand::core::names::EnvName::parse("staging").unwrap(),
            git_ref: deckhand::core::names::GitRef::parse("main").unwrap(),
            version: "main".into(),
            host: None,
            task: "deploy".into(),
            kind: DeployKind::Deploy,
            force: false,
            emergency: None,
            requested_by: "alice".into(),
            channel: "console".into(),
            state: DeployState::Approved,
            reason: None,
        };
        let d = store.create_deploy(&new, now).await.unwrap();
        store.set_commit_sha(d.id, &main).await.unwrap();
        store.set_github_deployment(d.id, deployment).await.unwrap();
        for s in [DeployState::Queued, DeployState::Running] {
            store
                .transition(d.id, s, "deckhand", None, now)
                .await
                .unwrap();
        }
    }
    let config = example_edited(data.path(), "api", "", |c| c);
    let recipe = config
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("deploy.d/api.toml");
    let text = std::fs::read_to_string(&recipe).unwrap();
    std::fs::write(&recipe, format!("repo = \"acme/api\"\n{text}")).unwrap();
    let bot = TestBot::with_github(config, data, clock("2026-11-23T10:00:00Z"), Some(client)).await;
    bot.wait().await;
    assert_eq!(bot.state(1).await, DeployState::Interrupted);
    tokio::time::timeout(Duration::from_secs(30), async {
        while gh
            .calls_to(&format!("/deployments/{deployment}/statuses"))
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the interrupted deployment is told");
    let status = &gh.calls_to(&format!("/deployments/{deployment}/statuses"))[0].body;
    assert_eq!(status["state"], "error");
    assert!(
        status["description"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{status}"
    );
}

#[tokio::test]
async fn an_app_whose_token_github_refuses_is_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start().await;
    gh.fail("/access_tokens", 401, &[], 100);
    let client = app_client(&gh, dir.path());
    let Setup { bot, gh } = setup_with(gh, "", "wait_for_checks = \"30s\"", Some(client)).await;
    let answer = bot.say("alice", "deploy api to staging").await;
    assert!(
        answer.contains("GitHub refused deckhand's credentials (401)"),
        "{answer}"
    );
    assert!(gh.calls().iter().all(|c| !c.path.starts_with("/repos/")));
}

#[test]
fn a_key_that_is_not_a_pem_key_is_refused_at_start_up() {
    let err = Client::new(
        &Credentials::App {
            app_id: 1,
            private_key: "not a key".into(),
            installation_id: 2,
        },
        Options::default(),
    )
    .err()
    .expect("refused");
    assert!(
        err.to_string()
            .contains("the GitHub App's private key is not an RSA PEM key"),
        "{err}"
    );
}
