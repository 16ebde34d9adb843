//! The real `deckhand` binary, driven as a script would: the console's line protocol on
//! stdin/stdout, `parse`, `check`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::deckhand;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_console_speaks_its_line_protocol() {
    let data = tempfile::tempdir().unwrap();
    let out = deckhand(
        &["console"],
        "deploy api@v1.2.0 to staging\n/wait\nlive api in staging\n/react m99 white_check_mark\n/as carol\nhistory\n",
        data.path(),
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let first = stdout.lines().next().unwrap();
    assert_eq!(
        first,
        "[m1] #1 api@v1.2.0 → staging: starting (requested by alice)"
    );
    assert!(
        stdout.contains("[m1 edited] #1 api@v1.2.0 → staging: host 1/1, step 1/"),
        "{stdout}"
    );
    assert!(stdout.contains("[m2 > m1] api-staging | "), "{stdout}");
    assert!(
        stdout.contains("[m1 edited] #1 api@v1.2.0 → staging: succeeded in"),
        "{stdout}"
    );
    assert!(
        stdout.contains("api in staging: v1.2.0 · deployed by alice"),
        "{stdout}"
    );
    // Several lines: the further ones are indented by four spaces.
    assert!(stdout.contains("\n    "), "{stdout}");
    assert!(
        stderr.contains("console: there is no message m99"),
        "{stderr}"
    );
    for line in stdout.lines() {
        assert!(
            line.starts_with("[m") || line.starts_with("    "),
            "not the protocol: {line:?}"
        );
    }
}

#[test]
fn the_console_waits_for_deploys_at_end_of_input_and_remembers_them() {
    let data = tempfile::tempdir().unwrap();
    let out = deckhand(
        &["console", "--user", "dave"],
        "deploy web@v3 to staging\n",
        data.path(),
    );
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("succeeded in"),
        "it waited for the deploy"
    );
    let out = deckhand(&["console"], "live web in staging\n", data.path());
    assert!(
        text(&out.stdout).contains("web in staging: v3 · deployed by dave"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_deploy_interrupted_by_a_crash_is_reported_on_the_next_start() {
    let data = tempfile::tempdir().unwrap();
    // The example, plus a task whose step takes long enough for us to kill the bot mid-step.
    let cfg = common::example_with_recipe_tail(
        data.path(),
        "api",
        "[[tasks.slow.steps]]\nname = \"slow\"\nrun = \"touch slow-started; sleep 60\"\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .args(["console", "--config", cfg.to_str().unwrap()])
        .current_dir(common::repo())
        .env("DECKHAND_DATA", data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"deploy:slow api@v9 to staging\n")
        .unwrap();
    let db = data.path().join("deckhand.db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let steps_dir = data
        .path()
        .join("hosts/api/staging/api-staging/slow-started");
    while !steps_dir.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(steps_dir.exists(), "the slow step never started");
    child.kill().unwrap();
    let _ = child.wait();
    assert!(db.exists());
    // The step died with the bot (its guard saw the lifeline close), `sleep 60` included.
    assert_eq!(
        common::leftover_processes(data.path(), 1, std::time::Duration::from_secs(5)),
        Vec::<u32>::new(),
        "processes of #1 outlived the bot"
    );

    let out = deckhand(
        &["console", "--config", cfg.to_str().unwrap()],
        "status #1\n",
        data.path(),
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "[m1] #1 api@v9 → staging was interrupted: deckhand stopped while it ran. Before anything else deploys to api in staging, deckhand makes sure nothing of it still runs on its hosts."
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "#1 api@v9 → staging: nothing of it was still running on api-staging; its hold on api in staging is released."
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("#1 api@v9 → staging · interrupted"),
        "{stdout}"
    );
}

#[test]
fn parse_prints_json_and_exits_by_verdict() {
    let data = tempfile::tempdir().unwrap();
    let out = deckhand(
        &["parse", "deploy hubot/atmos/branch to production/fe"],
        "",
        data.path(),
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["command"], "deploy");
    assert_eq!(v["app"], "hubot");
    assert_eq!(v["ref"], "atmos/branch");
    assert_eq!(v["env"], "production");
    assert_eq!(v["host"], "fe");
    assert_eq!(v["force"], false);

    let out = deckhand(&["parse", "deploy api@$(rm -rf /)"], "", data.path());
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["command"].is_null());
    assert!(v["error"].as_str().unwrap().contains("ref"), "{v}");
}

#[test]
fn check_summarises_the_example_and_points_at_errors() {
    let data = tempfile::tempdir().unwrap();
    let out = deckhand(&["check"], "", data.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("api") && s.contains("web") && s.contains("weekend"),
        "{s}"
    );
    assert!(
        s.contains("layout: releases (keeps the newest 5")
            && s.contains("deploy = release, build, migrate, switch, cleanup"),
        "{s}"
    );
    assert!(
        s.contains("ssh:\n  strict host keys (ssh's default known_hosts)")
            && s.contains("up to 8 commands at once per host"),
        "{s}"
    );

    let bad = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bad.path().join("config")).unwrap();
    std::fs::create_dir_all(bad.path().join("deploy.d")).unwrap();
    let cfg = std::fs::read_to_string(common::example_config()).unwrap();
    std::fs::write(bad.path().join("config/deckhand.toml"), cfg).unwrap();
    let recipe = std::fs::read_to_string(common::repo().join("deploy.d/web.toml")).unwrap();
    std::fs::write(
        bad.path().join("deploy.d/web.toml"),
        recipe.replacen("hosts", "hots", 1),
    )
    .unwrap();
    let path = bad.path().join("config/deckhand.toml");
    let out = deckhand(
        &["check", "--config", path.to_str().unwrap()],
        "",
        data.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("deploy.d/web.toml:"), "{err}");
    assert!(err.contains("hots"), "{err}");
    assert!(err.contains("did you mean `hosts`"), "{err}");
}

#[test]
fn a_request_awaiting_approval_is_asked_again_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let now = ["console", "--now", "2026-11-23T10:00:00Z"];
    let out = deckhand(&now, "deploy web@v4 to prod\n", data.path());
    assert!(
        text(&out.stdout)
            .contains("#1 web@v4 → prod requested by alice needs 1 approval from leads.")
    );
    let out = deckhand(&now, "/as dave\n/react m1 white_check_mark\n", data.path());
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("[m1] #1 web@v4 → prod requested by alice"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Still waiting (deckhand restarted)."),
        "{stdout}"
    );
    assert!(
        stdout.contains("[m1 edited] #1 web@v4 → prod: approved by dave · starting"),
        "{stdout}"
    );
    assert!(stdout.contains("succeeded in"), "{stdout}");
}

#[test]
fn parse_takes_a_message_that_starts_with_a_dash() {
    let data = tempfile::tempdir().unwrap();
    // Not a usage error (exit 2): the message is read, and it is not a command.
    let out = deckhand(&["parse", "--emergency x"], "", data.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["command"].is_null(), "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("`--emergency`"),
        "{v}"
    );

    // `--` still ends the options, and the message after it is read as typed.
    let out = deckhand(&["parse", "--", "deploy api to prod"], "", data.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["command"], "deploy");
    assert_eq!(v["env"], "prod");
    let out = deckhand(&["parse", "--", "--help"], "", data.path());
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["suggestion"], "help", "{v}");

    // `--help` alone still asks for help.
    let out = deckhand(&["parse", "--help"], "", data.path());
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("Usage: deckhand parse <MESSAGE>"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let data = tempfile::tempdir().unwrap();
    // At debug level sqlx logs every statement: something is surely logged.
    let out = common::deckhand_with(
        &["console"],
        &[("RUST_LOG", "sqlx::query=debug")],
        b"status\n",
        data.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("DEBUG sqlx::query"),
        "nothing was logged: {stderr}"
    );
    assert!(
        !stderr.contains("\x1b["),
        "colour codes in a piped log: {stderr:?}"
    );
}

#[test]
fn the_console_skips_a_line_that_is_not_utf8_and_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let out = common::deckhand_with(
        &["console"],
        &[],
        b"deploy api\xff to staging\nstatus\n",
        data.path(),
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("console: line 1 is not valid UTF-8 and was ignored"),
        "{stderr}"
    );
    // Nothing was deployed; the next line was read and answered.
    assert_eq!(stdout, "[m1] Nothing is running or queued.\n");
}

#[test]
fn in_the_console_a_slack_account_approves_as_its_person() {
    let data = tempfile::tempdir().unwrap();
    let out = deckhand(
        &["console", "--now", "2026-11-23T10:00:00Z"],
        "deploy api@v2 to prod\n/as slack:U0ALICE\n/react m1 white_check_mark\n/as slack:U0CAROL\n/react m1 white_check_mark\n/wait\nhistory api in prod\n",
        data.path(),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // An account of nobody's is `platform:id`; the shipped [people] makes U0CAROL carol.
    assert!(
        stdout.contains("slack:U0ALICE, only leads can approve or deny #1"),
        "{stdout}"
    );
    assert!(stdout.contains("approved by carol"), "{stdout}");
    assert!(stdout.contains("succeeded in"), "{stdout}");
}

/// With no configuration file where it runs, `check` checks the embedded example, written under
/// the data directory `console` and `serve` use (DECKHAND_DATA), not under `./.deckhand`.
#[test]
fn check_writes_the_embedded_example_under_deckhand_data() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .arg("check")
        .current_dir(cwd.path())
        .env("DECKHAND_DATA", data.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("api"), "{}", text(&out.stdout));
    assert!(
        data.path().join("example").exists(),
        "the example is under DECKHAND_DATA"
    );
    assert!(
        !cwd.path().join(".deckhand").exists(),
        "nothing written in ./.deckhand"
    );
}
