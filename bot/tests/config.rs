//! The configuration layer against docs/configuration.md: the shipped example, error messages with
//! positions, and the demo recipe's shell steps.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use deckhand::config::{
    Config, FreezeKind, HealthCheck, HostAddress, HostKeyPolicy, Layout, Strategy, WindowEnd,
    summary,
};
use deckhand::core::layout;
use deckhand::core::names::{AppName, EnvName, HostName};

fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/deckhand.toml")
}

fn shipped() -> Config {
    Config::load(&shipped_config()).unwrap_or_else(|e| panic!("the shipped example fails:\n{e}"))
}

fn env(name: &str) -> EnvName {
    EnvName::parse(name).unwrap()
}

fn app(name: &str) -> AppName {
    AppName::parse(name).unwrap()
}

fn host_names(config: &Config, a: &str, e: &str) -> Vec<String> {
    let recipe = config.app(&app(a)).unwrap();
    let env = recipe.env(&env(e)).unwrap();
    env.hosts.iter().map(|h| h.name.to_string()).collect()
}

#[test]
fn the_shipped_example_matches_the_contract() {
    let c = shipped();
    assert_eq!(c.bot.name, "deckhand");
    assert_eq!(c.bot.prefixes, ["!", "."]);
    assert_eq!(c.bot.default_env, env("staging"));
    assert_eq!(c.group_members("leads"), ["carol", "dave"]);
    assert!(c.group_members("nobody").is_empty());

    let names: Vec<&str> = c.envs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["staging", "prod"]);
    let apps: Vec<&str> = c.apps.iter().map(|r| r.app.as_str()).collect();
    assert_eq!(apps, ["api", "web"]);

    for r in &c.apps {
        assert_eq!(r.default_ref.as_str(), "main");
        let envs: Vec<&str> = r.envs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(envs, ["staging", "prod"], "{}", r.app);
        for (_, e) in &r.envs {
            assert!(e.hosts.iter().all(|h| h.address == HostAddress::Local));
        }
        assert!(r.tasks.contains_key("deploy"));
        assert!(layout::rollback_steps(r.layout, r.rollback.as_ref(), true).is_some());
        assert_eq!(
            r.version_probe.as_deref(),
            Some("cat REVISION 2>/dev/null || true")
        );
        match &r.health {
            Some(HealthCheck::Command {
                retries, interval, ..
            }) => {
                assert_eq!(*retries, 2);
                assert_eq!(*interval, Duration::from_millis(200));
            }
            other => panic!("{}: expected a command health check, got {other:?}", r.app),
        }
    }
    assert_eq!(host_names(&c, "api", "prod"), ["api-1", "api-2"]);
    assert_eq!(host_names(&c, "api", "staging"), ["api-staging"]);
    assert_eq!(host_names(&c, "web", "prod"), ["web-1"]);
    assert_eq!(host_names(&c, "web", "staging"), ["web-staging"]);

    let api = c.app(&app("api")).unwrap();
    assert_eq!(
        api.env(&env("prod")).unwrap().strategy,
        Strategy::Rolling { batch: 1 }
    );
    // The release layout is built in for api; web does the same with its own steps.
    assert_eq!(api.layout, Layout::Releases { keep: 5 });
    let steps: Vec<String> = layout::task_steps(api.layout, "deploy", &api.tasks["deploy"])
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(steps, ["release", "build", "migrate", "switch", "cleanup"]);
    assert!(api.tasks.contains_key("migrate"));
    let web = c.app(&app("web")).unwrap();
    assert_eq!(web.layout, Layout::Plain);
    let steps: Vec<&str> = web.tasks["deploy"]
        .steps
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(steps, ["prepare", "build", "switch", "cleanup"]);

    let staging = c.env(&env("staging")).unwrap();
    assert_eq!(staging.deployers, None);
    assert_eq!(staging.approvals.required, 0);
    assert!(staging.freezes.is_empty());

    let prod = c.env(&env("prod")).unwrap();
    assert_eq!(prod.deployers, None, "everyone may deploy");
    assert_eq!(prod.approvals.required, 1);
    assert_eq!(prod.approvals.group.as_deref(), Some("leads"));
    assert!(!prod.approvals.self_approve);
    assert_eq!(prod.approvals.expire, Duration::from_secs(30 * 60));
    assert_eq!(prod.approvals.approve_with, ["white_check_mark", "+1"]);
    assert_eq!(prod.approvals.deny_with, ["x", "-1"]);
    assert_eq!(prod.emergency.required, 2);
    assert_eq!(prod.emergency.group.as_deref(), Some("leads"));
    assert_eq!(prod.freezes.len(), 1);
    let weekend = &prod.freezes[0];
    assert_eq!(weekend.name, "weekend");
    match &weekend.kind {
        FreezeKind::Recurring {
            end: WindowEnd::Cron(_, end),
            tz,
            start_text,
            ..
        } => {
            assert_eq!(start_text, "0 16 * * FRI");
            assert_eq!(end, "0 8 * * MON");
            assert_eq!(*tz, chrono_tz::Europe::Brussels);
        }
        other => panic!("expected a start/end window, got {other:?}"),
    }
    assert_eq!(c.ssh.host_key_policy, HostKeyPolicy::Strict);
    assert_eq!(
        c.http.listen.to_string(),
        "127.0.0.1:8080",
        "[http] listen's default"
    );
    assert_eq!(c.ssh.max_sessions, 8);

    // The weekend window as loaded: Friday 20 November 2026, 16:00 in Brussels is 15:00 UTC.
    let fri = |h, m| Utc.with_ymd_and_hms(2026, 11, 20, h, m, 0).unwrap();
    assert_eq!(weekend.active_at(fri(14, 59)), None);
    assert_eq!(
        weekend.active_at(fri(15, 0)),
        Some(Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap())
    );
}

#[test]
fn the_embedded_example_is_the_shipped_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = deckhand::config::example::write_to(dir.path()).unwrap();
    let embedded = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let shipped = shipped();
    assert_eq!(embedded.apps.len(), shipped.apps.len());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(shipped_config()).unwrap()
    );
    let dir_files = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy.d"))
        .unwrap()
        .count();
    assert_eq!(
        dir_files,
        deckhand::config::example::RECIPES.len(),
        "embed every shipped recipe"
    );
}

#[test]
fn the_summary_shows_apps_rules_and_windows() {
    let c = shipped();
    let thursday = Utc.with_ymd_and_hms(2026, 11, 19, 12, 0, 0).unwrap();
    let text = summary(&c, thursday);
    assert!(text.contains("default env staging"), "{text}");
    assert!(
        text.contains("prod: 1 approval from leads, no self-approval, expires after 30m; emergency: 2 from leads"),
        "{text}"
    );
    assert!(text.contains("staging: no approval"), "{text}");
    assert!(
        text.contains("api-1 (local; groups eu), api-2 (local; groups us); rolling"),
        "{text}"
    );
    assert!(
        text.contains("prod/weekend: `0 16 * * FRI` to `0 8 * * MON` (Europe/Brussels); next starts Fri 2026-11-20 16:00 CET (15:00 UTC)"),
        "{text}"
    );
    assert!(text.contains("leads: carol, dave"), "{text}");

    let saturday = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
    let text = summary(&c, saturday);
    assert!(
        text.contains("active now, ends Mon 2026-11-23 08:00 CET (07:00 UTC)"),
        "{text}"
    );
}

#[test]
fn recipe_env_selects_hosts_and_groups() {
    let c = shipped();
    let prod = c.app(&app("api")).unwrap().env(&env("prod")).unwrap();
    assert_eq!(prod.select(None).unwrap().len(), 2);
    let eu = HostName::parse("eu").unwrap();
    let picked = prod.select(Some(&eu)).unwrap();
    assert_eq!(picked.len(), 1);
    assert_eq!(picked[0].name.as_str(), "api-1");
    assert!(
        prod.select(Some(&HostName::parse("api-9").unwrap()))
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const CONFIG: &str = r#"[bot]
default_env = "staging"

[groups]
leads = ["carol", "dave"]

[envs.staging]

[envs.prod]
[envs.prod.approvals]
required = 1
group = "leads"
"#;

const RECIPE: &str = r#"[envs.staging]
hosts = ["local"]

[tasks.deploy]
steps = [{ name = "go", run = "true" }]
"#;

/// A config directory with `deckhand.toml` and `deploy.d/<name>`.
fn fixture(config: &str, recipes: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("deckhand.toml"), config).unwrap();
    std::fs::create_dir(dir.path().join("deploy.d")).unwrap();
    for (name, text) in recipes {
        std::fs::write(dir.path().join("deploy.d").join(name), text).unwrap();
    }
    dir
}

/// The errors, with file names relative to the fixture.
fn errors(config: &str, recipes: &[(&str, &str)]) -> Vec<String> {
    let dir = fixture(config, recipes);
    match Config::load(&dir.path().join("deckhand.toml")) {
        Ok(_) => panic!("expected errors"),
        Err(e) => {
            let prefix = format!("{}/", dir.path().display());
            e.0.iter()
                .map(|d| d.to_string().replace(&prefix, ""))
                .collect()
        }
    }
}

fn loads(config: &str, recipes: &[(&str, &str)]) -> Config {
    let dir = fixture(config, recipes);
    Config::load(&dir.path().join("deckhand.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn one_error(config: &str, recipes: &[(&str, &str)]) -> String {
    let errs = errors(config, recipes);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn the_fixture_itself_loads() {
    let c = loads(CONFIG, &[("x.toml", RECIPE)]);
    let x = c.app(&app("x")).unwrap();
    assert_eq!(x.default_ref.as_str(), "main");
    assert_eq!(x.step_timeout, Duration::from_secs(600));
    assert_eq!(
        x.env(&env("staging")).unwrap().hosts[0].name.as_str(),
        "local"
    );
    assert_eq!(
        c.env(&env("prod")).unwrap().emergency.group.as_deref(),
        Some("leads")
    );
}

#[test]
fn an_unknown_key_names_its_position_and_the_key_meant() {
    let recipe = "[envs.staging]\nhots = [\"local\"]\n\n[tasks.deploy]\nsteps = []\n";
    let err = one_error(CONFIG, &[("x.toml", recipe)]);
    assert!(
        err.starts_with("deploy.d/x.toml:2:1: unknown field `hots`"),
        "{err}"
    );
    assert!(err.ends_with("did you mean `hosts`?"), "{err}");

    let recipe = RECIPE.replace(
        "hosts = [\"local\"]",
        "hosts = [{ name = \"a\", adress = \"local\" }]",
    );
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(
        err.starts_with("deploy.d/x.toml:2:24: unknown field `adress`"),
        "{err}"
    );
    assert!(err.ends_with("did you mean `address`?"), "{err}");
}

#[test]
fn a_toml_syntax_error_names_its_position() {
    let recipe = "[envs.staging]\nhosts = [\"local\"\n[tasks.deploy]\n";
    let err = one_error(CONFIG, &[("x.toml", recipe)]);
    assert!(err.starts_with("deploy.d/x.toml:3:1: "), "{err}");
}

#[test]
fn a_wrong_type_says_what_was_expected() {
    let recipe = RECIPE.replace(
        "hosts = [\"local\"]",
        "hosts = [\"local\"]\nbatch = \"two\"",
    );
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(
        err.starts_with("deploy.d/x.toml:3:9: invalid type: string \"two\", expected i64"),
        "{err}"
    );
}

#[test]
fn a_mistyped_env_suggests_the_declared_one() {
    let recipe = format!("{RECIPE}\n[envs.prdo]\nhosts = [\"local\"]\n");
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(
        err.starts_with("deploy.d/x.toml:7:7: the env `prdo` is not declared"),
        "{err}"
    );
    assert!(err.ends_with("did you mean `prod`?"), "{err}");

    let config = CONFIG.replace("default_env = \"staging\"", "default_env = \"stagin\"");
    let err = one_error(&config, &[("x.toml", RECIPE)]);
    assert!(
        err.starts_with("deckhand.toml:2:15: the env `stagin` is not declared"),
        "{err}"
    );
    assert!(err.ends_with("did you mean `staging`?"), "{err}");
}

fn with_freeze(window: &str) -> String {
    format!("{CONFIG}\n[[envs.prod.freeze]]\nname = \"w\"\n{window}\n")
}

#[test]
fn a_bad_crontab_is_refused() {
    let err = one_error(
        &with_freeze("start = \"0 25 * * FRI\"\nend = \"0 8 * * MON\""),
        &[("x.toml", RECIPE)],
    );
    assert!(
        err.starts_with("deckhand.toml:16:9: `0 25 * * FRI` is not a valid crontab"),
        "{err}"
    );
}

#[test]
fn a_six_field_crontab_is_refused_with_a_word_on_seconds() {
    let err = one_error(
        &with_freeze("start = \"0 0 16 * * FRI\"\nend = \"0 8 * * MON\""),
        &[("x.toml", RECIPE)],
    );
    assert!(
        err.starts_with("deckhand.toml:16:9: `0 0 16 * * FRI` has 6 fields"),
        "{err}"
    );
    assert!(err.contains("seconds"), "{err}");
}

#[test]
fn a_bad_time_zone_is_refused() {
    let err = one_error(
        &with_freeze(
            "start = \"0 16 * * FRI\"\nend = \"0 8 * * MON\"\ntimezone = \"Europe/Brusels\"",
        ),
        &[("x.toml", RECIPE)],
    );
    assert!(
        err.starts_with("deckhand.toml:18:12: `Europe/Brusels` is not an IANA time zone"),
        "{err}"
    );
    assert!(err.ends_with("did you mean `Europe/Brussels`?"), "{err}");
}

#[test]
fn end_and_duration_together_are_refused() {
    let err = one_error(
        &with_freeze("start = \"0 16 * * FRI\"\nend = \"0 8 * * MON\"\nduration = \"2h\""),
        &[("x.toml", RECIPE)],
    );
    assert!(
        err.starts_with("deckhand.toml:18:12: give either `end` (a crontab) or `duration`"),
        "{err}"
    );
}

#[test]
fn window_shapes_are_checked() {
    let err = one_error(
        &with_freeze("start = \"0 16 * * FRI\""),
        &[("x.toml", RECIPE)],
    );
    assert!(err.contains("has a `start` but no `end`"), "{err}");
    let err = one_error(
        &with_freeze("from = 2026-12-27T00:00:00Z\nuntil = 2026-12-24T00:00:00Z"),
        &[("x.toml", RECIPE)],
    );
    assert!(
        err.starts_with("deckhand.toml:17:9: `until` must be later than `from`"),
        "{err}"
    );
    let err = one_error(
        &with_freeze("duration = \"forever\"\nstart = \"0 1 * * *\""),
        &[("x.toml", RECIPE)],
    );
    assert!(
        err.starts_with("deckhand.toml:16:12: `forever` is not a duration"),
        "{err}"
    );
}

#[test]
fn fixed_windows_read_local_times_in_the_zone() {
    let config = with_freeze(
        "from = 2026-12-24T00:00:00\nuntil = \"2026-12-27T00:00:00+01:00\"\ntimezone = \"Europe/Brussels\"",
    );
    let c = loads(&config, &[("x.toml", RECIPE)]);
    let w = &c.env(&env("prod")).unwrap().freezes[0];
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    match w.kind {
        FreezeKind::Fixed { from, until } => {
            assert_eq!(from, at("2026-12-23T23:00:00Z"));
            assert_eq!(until, at("2026-12-26T23:00:00Z"));
        }
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_group_is_refused() {
    let config = CONFIG.replace("group = \"leads\"", "group = \"lead\"");
    let err = one_error(&config, &[("x.toml", RECIPE)]);
    assert!(
        err.starts_with("deckhand.toml:12:9: there is no group `lead` in [groups]"),
        "{err}"
    );
    assert!(err.ends_with("did you mean `leads`?"), "{err}");
}

#[test]
fn approvals_must_be_possible() {
    let config = CONFIG.replace("required = 1", "required = 3");
    let err = one_error(&config, &[("x.toml", RECIPE)]);
    assert!(
        err.starts_with("deckhand.toml:11:12: required = 3 but group `leads` has only 2 members"),
        "{err}"
    );

    let config = CONFIG.replace("group = \"leads\"\n", "");
    let err = one_error(&config, &[("x.toml", RECIPE)]);
    assert!(
        err.starts_with("deckhand.toml:11:12: required = 1 needs a `group` of approvers"),
        "{err}"
    );

    let config = format!("{CONFIG}\n[envs.prod.emergency]\nrequired = 3\n");
    let err = one_error(&config, &[("x.toml", RECIPE)]);
    assert!(err.starts_with("deckhand.toml:15:12: an emergency deploy needs 3 approvals but group `leads` has only 2 members"), "{err}");
}

#[test]
fn a_recipe_without_a_deploy_task_is_refused() {
    let recipe = RECIPE.replace("[tasks.deploy]", "[tasks.ship]");
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(
        err.starts_with("deploy.d/x.toml:4:2: no `deploy` task"),
        "{err}"
    );
}

#[test]
fn steps_are_checked() {
    let recipe = RECIPE.replace(
        "steps = [{ name = \"go\", run = \"true\" }]",
        "steps = [{ name = \"go\", run = \"true\" }, { name = \"go\", run = \"x\" }, { name = \"\", run = \"y\", timeout = \"1 fortnight\" }]",
    );
    let errs = errors(CONFIG, &[("x.toml", &recipe)]);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs[0].contains("already has a step named `go`"),
        "{errs:#?}"
    );
    assert!(errs[1].contains("a step name is empty"), "{errs:#?}");
    assert!(errs[2].contains("is not a duration"), "{errs:#?}");
}

#[test]
fn hosts_and_strategies_are_checked() {
    let recipe = RECIPE.replace("hosts = [\"local\"]", "hosts = [\"local\", \"local\"]");
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(
        err.starts_with("deploy.d/x.toml:2:19: there is already a host named `local`"),
        "{err}"
    );

    let recipe = RECIPE.replace(
        "hosts = [\"local\"]",
        "hosts = [\"local\"]\nstrategy = \"rolling\"\nbatch = 0",
    );
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(
        err.starts_with("deploy.d/x.toml:4:9: batch must be a whole number of at least 1"),
        "{err}"
    );

    let recipe = RECIPE.replace("hosts = [\"local\"]", "hosts = [\"local\"]\nbatch = 2");
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(
        err.contains("`batch` does not apply to the parallel strategy"),
        "{err}"
    );

    let recipe = RECIPE.replace(
        "hosts = [\"local\"]",
        "hosts = [\"local\"]\nstrategy = \"canery\"",
    );
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(err.ends_with("did you mean `canary`?"), "{err}");

    let recipe = RECIPE.replace(
        "hosts = [\"local\"]",
        "hosts = [\"deploy@a.example.com\", \"b.example.com:2222\", \"c\"]\nstrategy = \"canary\"",
    );
    let c = loads(CONFIG, &[("x.toml", &recipe)]);
    let e = c.app(&app("x")).unwrap().env(&env("staging")).unwrap();
    assert_eq!(
        e.strategy,
        Strategy::Canary {
            canary: 1,
            batch: 2
        }
    );
    assert_eq!(e.hosts[1].name.as_str(), "b.example.com");
    assert_eq!(
        e.hosts[1].address,
        HostAddress::Ssh {
            user: None,
            host: "b.example.com".into(),
            port: Some(2222)
        }
    );

    let recipe = RECIPE.replace("hosts = [\"local\"]", "hosts = [\"-oProxyCommand=sh\"]");
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(err.contains("is not a valid host"), "{err}");
}

#[test]
fn errors_from_several_files_are_all_reported_in_order() {
    let config = CONFIG.replace("group = \"leads\"", "group = \"lead\"");
    let bad_syntax = "[envs.staging\n";
    let bad_env = format!("{RECIPE}\n[envs.qa]\nhosts = [\"local\"]\n");
    let errs = errors(
        &config,
        &[
            ("b.toml", &bad_env),
            ("a.toml", bad_syntax),
            ("Bad Name.toml", RECIPE),
        ],
    );
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(
        errs[0].starts_with("deckhand.toml:12:9: there is no group `lead`"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("deploy.d/Bad Name.toml:1:1: the file name gives the app's name"),
        "{errs:#?}"
    );
    assert!(errs[2].starts_with("deploy.d/a.toml:1:"), "{errs:#?}");
    assert!(
        errs[3].starts_with("deploy.d/b.toml:7:7: the env `qa` is not declared"),
        "{errs:#?}"
    );
}

#[test]
fn missing_files_and_tables_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let err = Config::load(&dir.path().join("nope.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope.toml:1:1: cannot read the configuration file"),
        "{err}"
    );

    let config = CONFIG.replace("[bot]\ndefault_env = \"staging\"\n", "");
    let err = one_error(&config, &[("x.toml", RECIPE)]);
    assert!(
        err.starts_with("deckhand.toml:1:1: missing [bot] table"),
        "{err}"
    );

    let err = one_error("[bot]\ndefault_env = \"staging\"\n", &[("x.toml", RECIPE)]);
    assert!(
        err.starts_with("deckhand.toml:1:1: no envs declared"),
        "{err}"
    );

    let err = one_error(
        CONFIG,
        &[(
            "x.toml",
            "[tasks.deploy]\nsteps = [{ name = \"a\", run = \"b\" }]\n",
        )],
    );
    assert!(
        err.starts_with("deploy.d/x.toml:1:1: this recipe deploys to no env"),
        "{err}"
    );
}

#[test]
fn an_empty_recipes_directory_is_an_error() {
    let err = one_error(CONFIG, &[]);
    assert!(err.starts_with("deckhand.toml:1:1: no recipes in"), "{err}");

    let config = CONFIG.replace("[bot]\n", "[bot]\nrecipes = \"nowhere\"\n");
    let err = one_error(&config, &[("x.toml", RECIPE)]);
    assert!(
        err.starts_with("deckhand.toml:2:11: cannot read the recipes directory"),
        "{err}"
    );
}

#[test]
fn a_broken_config_still_lets_recipes_be_checked() {
    let config = CONFIG.replace("[envs.prod]", "[envs.prod]\nfoo = 1");
    let recipe = RECIPE.replace("[tasks.deploy]", "[tasks.deploy]\nstpes = []");
    let errs = errors(&config, &[("x.toml", &recipe)]);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("deckhand.toml:10:1: unknown field `foo`"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("deploy.d/x.toml:5:1: unknown field `stpes`"),
        "{errs:#?}"
    );
}

#[test]
fn env_order_follows_the_configuration() {
    let recipe = format!("[envs.prod]\nhosts = [\"local\"]\n{RECIPE}");
    let c = loads(CONFIG, &[("x.toml", &recipe)]);
    let envs: Vec<&str> = c.apps[0].envs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(envs, ["staging", "prod"]);
    let config = CONFIG.replace("[envs.staging]\n", "").replace(
        "[envs.prod.approvals]",
        "[envs.staging]\n[envs.prod.approvals]",
    );
    let c = loads(&config, &[("x.toml", RECIPE)]);
    let envs: Vec<&str> = c.envs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(envs, ["prod", "staging"]);
}

// ---------------------------------------------------------------------------------------------
// The demo recipe really deploys (README.md, Configuration and recipes), run here with dash-compatible `sh`.
// ---------------------------------------------------------------------------------------------

struct Host {
    dir: tempfile::TempDir,
    layout: Layout,
}

impl Host {
    fn run(&self, script: &str, version: &str, previous: &str) -> (bool, String, String) {
        let prev = (!previous.is_empty()).then_some(previous);
        let out = Command::new("sh")
            .envs(layout::vars(self.layout, version, prev))
            .arg("-c")
            .arg(script)
            .current_dir(self.dir.path())
            .env("DECKHAND_APP", "api")
            .env("DECKHAND_ENV", "staging")
            .env("DECKHAND_VERSION", version)
            .env("DECKHAND_REF", version)
            .env("DECKHAND_HOST", "api-staging")
            .env("DECKHAND_DEPLOY_ID", "7")
            .env("DECKHAND_TASK", "deploy")
            .env("DECKHAND_USER", "alice")
            .env("DECKHAND_PREVIOUS_VERSION", previous)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join(file)).ok()
    }
}

#[test]
fn the_demo_recipe_deploys_checks_health_and_rolls_back() {
    let c = shipped();
    for recipe in &c.apps {
        let host = Host {
            dir: tempfile::tempdir().unwrap(),
            layout: recipe.layout,
        };
        let deploy = |version: &str| {
            for step in layout::task_steps(recipe.layout, "deploy", &recipe.tasks["deploy"]) {
                let (ok, out, err) = host.run(&step.script, version, "");
                assert!(ok, "{} step {} failed: {out}{err}", recipe.app, step.name);
            }
        };
        let Some(HealthCheck::Command { run: health, .. }) = &recipe.health else {
            panic!()
        };
        let probe = recipe.version_probe.as_deref().unwrap();
        let rollback =
            layout::rollback_steps(recipe.layout, recipe.rollback.as_ref(), false).unwrap();

        assert_eq!(host.run(probe, "", "").1, "", "nothing deployed yet");
        deploy("v1.0.0");
        assert_eq!(host.read("REVISION").as_deref(), Some("v1.0.0\n"));
        assert_eq!(host.read("current/VERSION").as_deref(), Some("v1.0.0\n"));
        assert_eq!(host.run(probe, "", "").1, "v1.0.0\n");
        let (ok, out, _) = host.run(health, "v1.0.0", "");
        assert!(ok && out.starts_with("ok"), "{out}");

        deploy("broken-build");
        let (ok, _, err) = host.run(health, "broken-build", "");
        assert!(!ok, "a broken version must fail its health check");
        assert!(err.contains("broken"), "{err}");
        for step in &rollback {
            let (ok, out, err) = host.run(&step.script, "broken-build", "v1.0.0");
            assert!(ok, "{out}{err}");
        }
        assert_eq!(host.read("REVISION").as_deref(), Some("v1.0.0\n"));
        assert_eq!(host.read("current/VERSION").as_deref(), Some("v1.0.0\n"));
        assert!(host.run(health, "", "").0);

        // A rollback with nothing live before removes the release pointers.
        for step in &rollback {
            assert!(host.run(&step.script, "v1.0.0", "").0);
        }
        assert_eq!(host.read("REVISION"), None);
        assert!(!host.dir.path().join("current").exists());

        // Cleanup keeps the newest five releases and the live one.
        for i in 0..8 {
            deploy(&format!("v2.{i}"));
            std::thread::sleep(Duration::from_millis(15));
        }
        let releases = std::fs::read_dir(host.dir.path().join("releases"))
            .unwrap()
            .count();
        assert_eq!(releases, 5, "{}", recipe.app);
        assert_eq!(host.read("current/VERSION").as_deref(), Some("v2.7\n"));
    }
}

#[test]
fn a_layout_must_be_known_and_keep_releases_needs_it() {
    let recipe = format!("layout = \"release\"\n{RECIPE}");
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(
        err.starts_with("deploy.d/x.toml:1:10: unknown layout `release`"),
        "{err}"
    );
    assert!(err.contains("did you mean `releases`?"), "{err}");

    let recipe = format!("keep_releases = 3\n{RECIPE}");
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(
        err.contains("keep_releases only applies with layout = \"releases\""),
        "{err}"
    );

    let recipe = format!("layout = \"releases\"\nkeep_releases = 0\n{RECIPE}");
    let err = one_error(CONFIG, &[("x.toml", &recipe)]);
    assert!(err.starts_with("deploy.d/x.toml:2:17: "), "{err}");

    let recipe = format!("layout = \"releases\"\n{RECIPE}");
    let c = loads(CONFIG, &[("x.toml", &recipe)]);
    let x = c.app(&app("x")).unwrap();
    assert_eq!(x.layout, Layout::Releases { keep: 5 });
    assert_eq!(
        x.version_probe.as_deref(),
        Some(layout::DEFAULT_VERSION_PROBE),
        "the layout knows how to read the live version"
    );
}

#[test]
fn people_accounts_and_channels_load_and_show_in_the_summary() {
    let config = CONFIG
        .replace(
            "[groups]\nleads = [\"carol\", \"dave\"]",
            "[people.carol]\nslack = \"U0CAROL\"\ndiscord = \"222\"\n\n[groups]\nleads = [\"carol\", \"slack:U0DAVE\", \"discord-role:444\"]",
        )
        .replace(
            "[envs.prod]\n",
            "[envs.prod]\nchannels = [\"slack:C0OPS\", \"console\"]\n",
        );
    let c = loads(&config, &[("x.toml", RECIPE)]);
    assert_eq!(c.people.identity("slack", "U0CAROL"), "carol");
    assert_eq!(c.people.identity("discord", "222"), "carol");
    assert_eq!(c.people.identity("slack", "U0DAVE"), "slack:U0DAVE");
    assert!(c.is_member("leads", "carol"));
    assert!(c.is_member("leads", "slack:U0DAVE"));
    assert!(!c.is_member("leads", "dave"));
    assert_eq!(
        c.env(&env("prod")).unwrap().channels.as_deref(),
        Some(&["slack:C0OPS".to_owned(), "console".to_owned()][..])
    );
    assert_eq!(c.env(&env("staging")).unwrap().channels, None);
    let s = summary(&c, Utc::now());
    assert!(s.contains("requested only in slack:C0OPS, console"), "{s}");
    assert!(
        s.contains("people:\n  carol: discord:222, slack:U0CAROL")
            || s.contains("people:\n  carol: slack:U0CAROL, discord:222"),
        "{s}"
    );
}

#[test]
fn bad_people_group_entries_and_channels_are_errors_with_positions() {
    let config = CONFIG
        .replace(
            "[groups]\nleads = [\"carol\", \"dave\"]",
            "[people.carol]\nslack = \"U0CAROL\"\n\n[people.dave]\nslack = \"U0CAROL\"\n\n[people.erin]\nslack = \"Erin Smith\"\n\n[groups]\nleads = [\"carol\", \"teams:123\", \"slack:\"]",
        )
        .replace("[envs.prod]\n", "[envs.prod]\nchannels = [\"#ops\"]\n")
        .replace("[envs.staging]\n", "[envs.staging]\nchannels = []\n");
    let errs = errors(&config, &[("x.toml", RECIPE)]).join("\n");
    for want in [
        "`dave` lists an account that is already `carol`'s: an account belongs to one person",
        "a slack account is its id (letters and digits, as the platform shows it in the profile, e.g. \"U012AB3CD\"), not a display name",
        "`teams` is not a platform deckhand knows (slack, discord, slack-group, discord-role)",
        "a group member is a person's name (\"carol\") or an account",
        "a channel is \"console\" or `platform:id`",
        "`channels` is empty: no channel could request a deploy",
    ] {
        assert!(errs.contains(want), "missing {want:?} in:\n{errs}");
    }
    for line in errs.lines() {
        assert!(line.starts_with("deckhand.toml:"), "no position: {line}");
    }
    // A platform deckhand does not know, as a person's account, is a key error with the ones
    // it knows.
    let config = CONFIG.replace("[groups]", "[people.erin]\nteams = \"x\"\n\n[groups]");
    let err = one_error(&config, &[("x.toml", RECIPE)]);
    assert!(
        err.contains("unknown field `teams`, expected `slack` or `discord`"),
        "{err}"
    );
}

#[test]
fn http_listen_is_an_address_and_port() {
    let c = loads(
        &format!("{CONFIG}\n[http]\nlisten = \"0.0.0.0:3000\"\n"),
        &[("x.toml", RECIPE)],
    );
    assert_eq!(c.http.listen.to_string(), "0.0.0.0:3000");
    let lines = CONFIG.lines().count();
    let err = one_error(
        &format!("{CONFIG}\n[http]\nlisten = \"localhost\"\n"),
        &[("x.toml", RECIPE)],
    );
    assert!(
        err.starts_with(&format!(
            "deckhand.toml:{}:10: listen `localhost` is not an address and port",
            lines + 3
        )),
        "{err}"
    );
}
