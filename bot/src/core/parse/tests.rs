//! The parser's unit tests and proptests: every command form, the refusals and their
//! wording, addressing, the length limits, the JSON form, and that no input panics.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::verbs::VERBS;
use super::*;
use crate::core::command::{Command, DeployArgs, FreezeSpan, LockTarget, SearchArgs};
use crate::core::lifecycle::DeployState;
use crate::core::names::{AppName, EnvName, GitRef, HostName};
use proptest::prelude::*;

fn app(s: &str) -> AppName {
    AppName::parse(s).unwrap()
}
fn env(s: &str) -> EnvName {
    EnvName::parse(s).unwrap()
}
fn gref(s: &str) -> GitRef {
    GitRef::parse(s).unwrap()
}
fn dep(a: &str) -> DeployArgs {
    DeployArgs {
        app: app(a),
        git_ref: None,
        env: None,
        host: None,
        task: None,
        force: false,
        dry_run: false,
        emergency: None,
    }
}
fn to(a: &str, e: &str) -> DeployArgs {
    DeployArgs {
        env: Some(env(e)),
        ..dep(a)
    }
}
fn live(a: Option<&str>, e: Option<&str>, check: bool) -> Command {
    Command::Live {
        app: a.map(app),
        env: e.map(env),
        check,
    }
}
fn history(a: Option<&str>, r: Option<&str>, e: Option<&str>, limit: Option<u32>) -> Command {
    Command::History {
        app: a.map(app),
        env: e.map(env),
        git_ref: r.map(gref),
        limit,
    }
}
fn words(ws: &[&str]) -> SearchArgs {
    SearchArgs {
        words: ws.iter().map(|w| w.to_string()).collect(),
        ..SearchArgs::default()
    }
}
fn one(s: &str) -> LockTarget {
    LockTarget::One(s.to_owned())
}
fn app_env(a: &str, e: &str) -> LockTarget {
    LockTarget::AppEnv {
        app: app(a),
        env: env(e),
    }
}
fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn error_of(p: Parsed) -> ParseError {
    match p {
        Parsed::NotUnderstood(e) => e,
        other => panic!("expected NotUnderstood, got {other:?}"),
    }
}

fn understood() -> Vec<(&'static str, Command)> {
    use Command::*;
    vec![
        // deploy
        ("deploy api", Deploy(dep("api"))),
        ("deploy api to prod", Deploy(to("api", "prod"))),
        ("deploy api in prod", Deploy(to("api", "prod"))),
        ("deploy api on prod", Deploy(to("api", "prod"))),
        ("DEPLOY API TO PROD", Deploy(to("api", "prod"))),
        ("Deploy Api To Prod", Deploy(to("api", "prod"))),
        (
            "deploy api@v1.4.2 to prod",
            Deploy(DeployArgs {
                git_ref: Some(gref("v1.4.2")),
                ..to("api", "prod")
            }),
        ),
        (
            "deploy api@Feature/X",
            Deploy(DeployArgs {
                git_ref: Some(gref("Feature/X")),
                ..dep("api")
            }),
        ),
        (
            "deploy api/feature/login to staging",
            Deploy(DeployArgs {
                git_ref: Some(gref("feature/login")),
                ..to("api", "staging")
            }),
        ),
        (
            "deploy hubot/atmos/branch to production/fe",
            Deploy(DeployArgs {
                git_ref: Some(gref("atmos/branch")),
                host: Some(HostName::parse("fe").unwrap()),
                ..to("hubot", "production")
            }),
        ),
        (
            "deploy! api to prod",
            Deploy(DeployArgs {
                force: true,
                ..to("api", "prod")
            }),
        ),
        (
            "deploy:migrate api to prod",
            Deploy(DeployArgs {
                task: Some("migrate".into()),
                ..to("api", "prod")
            }),
        ),
        (
            "deploy!:migrate api",
            Deploy(DeployArgs {
                task: Some("migrate".into()),
                force: true,
                ..dep("api")
            }),
        ),
        (
            "deploy:Migrate! api",
            Deploy(DeployArgs {
                task: Some("migrate".into()),
                force: true,
                ..dep("api")
            }),
        ),
        (
            "deploy api to prod --dry-run",
            Deploy(DeployArgs {
                dry_run: true,
                ..to("api", "prod")
            }),
        ),
        (
            "deploy api to prod noop",
            Deploy(DeployArgs {
                dry_run: true,
                ..to("api", "prod")
            }),
        ),
        (
            "deploy api NOOP to prod",
            Deploy(DeployArgs {
                dry_run: true,
                ..to("api", "prod")
            }),
        ),
        (
            "deploy --dry-run api",
            Deploy(DeployArgs {
                dry_run: true,
                ..dep("api")
            }),
        ),
        (
            "deploy api —dry-run",
            Deploy(DeployArgs {
                dry_run: true,
                ..dep("api")
            }),
        ),
        (
            "deploy api --DRY-RUN",
            Deploy(DeployArgs {
                dry_run: true,
                ..dep("api")
            }),
        ),
        ("deploy noop", Deploy(dep("noop"))),
        (
            "deploy api to prod --emergency \"db is down\"",
            Deploy(DeployArgs {
                emergency: Some("db is down".into()),
                ..to("api", "prod")
            }),
        ),
        (
            "deploy api --emergency “db is  down” to prod",
            Deploy(DeployArgs {
                emergency: Some("db is down".into()),
                ..to("api", "prod")
            }),
        ),
        (
            "deploy api --emergency=‘db down’",
            Deploy(DeployArgs {
                emergency: Some("db down".into()),
                ..dep("api")
            }),
        ),
        (
            "deploy api --emergency=outage",
            Deploy(DeployArgs {
                emergency: Some("outage".into()),
                ..dep("api")
            }),
        ),
        (
            "deploy api --emergency outage to prod",
            Deploy(DeployArgs {
                emergency: Some("outage".into()),
                ..to("api", "prod")
            }),
        ),
        (
            "deploy api --emergency 'can't wait'",
            Deploy(DeployArgs {
                emergency: Some("can't wait".into()),
                ..dep("api")
            }),
        ),
        (
            "deploy api --emergency \"it's \"bad\"\"",
            Deploy(DeployArgs {
                emergency: Some("it's \"bad\"".into()),
                ..dep("api")
            }),
        ),
        ("deploy\tapi\n\nto\u{00A0}prod", Deploy(to("api", "prod"))),
        (
            "deploy\u{2003}api\u{200B}to\u{3000}prod\r\n",
            Deploy(to("api", "prod")),
        ),
        ("   deploy   api   ", Deploy(dep("api"))),
        // rollback
        (
            "rollback api prod",
            Rollback {
                app: app("api"),
                env: env("prod"),
                version: None,
            },
        ),
        (
            "rollback api in prod",
            Rollback {
                app: app("api"),
                env: env("prod"),
                version: None,
            },
        ),
        (
            "rollback API on PROD to v1.4.1",
            Rollback {
                app: app("api"),
                env: env("prod"),
                version: Some(gref("v1.4.1")),
            },
        ),
        (
            "rollback api@v1.4.1 in prod",
            Rollback {
                app: app("api"),
                env: env("prod"),
                version: Some(gref("v1.4.1")),
            },
        ),
        // ids
        ("cancel #12", Cancel { id: 12 }),
        ("cancel 12", Cancel { id: 12 }),
        ("approve #12", Approve { id: 12 }),
        ("APPROVE 7", Approve { id: 7 }),
        (
            "deny #12",
            Deny {
                id: 12,
                reason: None,
            },
        ),
        (
            "deny #12 wrong version",
            Deny {
                id: 12,
                reason: Some("wrong version".into()),
            },
        ),
        (
            "deny 12 \"wrong  version\"",
            Deny {
                id: 12,
                reason: Some("wrong version".into()),
            },
        ),
        (
            "deny #12 --reason “not today”",
            Deny {
                id: 12,
                reason: Some("not today".into()),
            },
        ),
        (
            "deny #3 \"wrong\" env",
            Deny {
                id: 3,
                reason: Some("\"wrong\" env".into()),
            },
        ),
        (
            "deny #3 it's — the wrong one",
            Deny {
                id: 3,
                reason: Some("it's — the wrong one".into()),
            },
        ),
        ("status", Status { id: None }),
        ("status #7", Status { id: Some(7) }),
        ("status 7", Status { id: Some(7) }),
        ("status?", Status { id: None }),
        ("#12", Status { id: Some(12) }),
        ("#12?", Status { id: Some(12) }),
        // live
        ("live", live(None, None, false)),
        ("live api", live(Some("api"), None, false)),
        ("live api on prod", live(Some("api"), Some("prod"), false)),
        ("live in prod", live(None, Some("prod"), false)),
        (
            "live api in prod --check",
            live(Some("api"), Some("prod"), true),
        ),
        ("what's live", live(None, None, false)),
        ("whats live on prod", live(None, Some("prod"), false)),
        ("what’s live?", live(None, None, false)),
        ("WHAT'S LIVE ON PROD ?", live(None, Some("prod"), false)),
        ("what's live api --check", live(Some("api"), None, true)),
        ("version api", live(Some("api"), None, false)),
        (
            "version api in prod",
            live(Some("api"), Some("prod"), false),
        ),
        ("where is api", live(Some("api"), None, false)),
        ("where is api?", live(Some("api"), None, false)),
        (
            "Where Is api in prod --check",
            live(Some("api"), Some("prod"), true),
        ),
        // history
        ("history", history(None, None, None, None)),
        ("history api", history(Some("api"), None, None, None)),
        (
            "history api in prod last 5",
            history(Some("api"), None, Some("prod"), Some(5)),
        ),
        ("history last 10", history(None, None, None, Some(10))),
        (
            "deploys hubot in production",
            history(Some("hubot"), None, Some("production"), None),
        ),
        (
            "deploys api/feature/x in prod",
            history(Some("api"), Some("feature/x"), Some("prod"), None),
        ),
        (
            "deploys api@v1",
            history(Some("api"), Some("v1"), None, None),
        ),
        // search
        ("search timeout", Search(words(&["timeout"]))),
        (
            "log timeout app:api",
            Search(SearchArgs {
                app: Some(app("api")),
                ..words(&["timeout"])
            }),
        ),
        (
            "search app:api",
            Search(SearchArgs {
                app: Some(app("api")),
                ..words(&[])
            }),
        ),
        (
            "search Connection refused env:PROD user:@alice status:Failed since:2026-01-31 until:2026-02-01T12:00:00+01:00",
            Search(SearchArgs {
                env: Some(env("prod")),
                user: Some("alice".into()),
                status: Some(DeployState::Failed),
                since: Some(utc("2026-01-31T00:00:00Z")),
                until: Some(utc("2026-02-01T11:00:00Z")),
                ..words(&["connection", "refused"])
            }),
        ),
        (
            "search \"NEAR(a b)\" OR x* -y ^z col:w",
            Search(words(&["near", "a", "b", "or", "x", "y", "z", "col", "w"])),
        ),
        ("search AND NOT", Search(words(&["and", "not"]))),
        (
            "search api-v2 Error: --force",
            Search(words(&["api", "v2", "error", "force"])),
        ),
        (
            "search status:rolled_back",
            Search(SearchArgs {
                status: Some(DeployState::RolledBack),
                ..words(&[])
            }),
        ),
        // locks
        (
            "lock api in prod",
            Lock {
                target: app_env("api", "prod"),
                reason: None,
            },
        ),
        (
            "lock prod",
            Lock {
                target: one("prod"),
                reason: None,
            },
        ),
        (
            "lock PROD --reason hotfix",
            Lock {
                target: one("prod"),
                reason: Some("hotfix".into()),
            },
        ),
        (
            "lock api on prod --reason \"db migration\"",
            Lock {
                target: app_env("api", "prod"),
                reason: Some("db migration".into()),
            },
        ),
        (
            "lock --reason \"db migration\" api in prod",
            Lock {
                target: app_env("api", "prod"),
                reason: Some("db migration".into()),
            },
        ),
        (
            "unlock api in prod",
            Unlock {
                target: app_env("api", "prod"),
            },
        ),
        (
            "unlock prod",
            Unlock {
                target: one("prod"),
            },
        ),
        ("locks", Locks),
        ("locks?", Locks),
        // freezes
        (
            "freeze prod",
            Freeze {
                env: env("prod"),
                span: None,
                reason: None,
            },
        ),
        (
            "freeze prod for 2h",
            Freeze {
                env: env("prod"),
                span: Some(FreezeSpan::For(Duration::from_secs(7200))),
                reason: None,
            },
        ),
        (
            "freeze prod for 1day 12h",
            Freeze {
                env: env("prod"),
                span: Some(FreezeSpan::For(Duration::from_secs(36 * 3600))),
                reason: None,
            },
        ),
        (
            "freeze prod for 30days",
            Freeze {
                env: env("prod"),
                span: Some(FreezeSpan::For(MAX_FREEZE)),
                reason: None,
            },
        ),
        (
            "freeze prod until 2026-11-27T08:00:00Z --reason \"release\"",
            Freeze {
                env: env("prod"),
                span: Some(FreezeSpan::Until("2026-11-27T08:00:00Z".into())),
                reason: Some("release".into()),
            },
        ),
        (
            "freeze prod until friday 16:00",
            Freeze {
                env: env("prod"),
                span: Some(FreezeSpan::Until("friday 16:00".into())),
                reason: None,
            },
        ),
        ("unfreeze prod", Unfreeze { env: env("prod") }),
        ("windows", Windows { env: None }),
        (
            "windows prod",
            Windows {
                env: Some(env("prod")),
            },
        ),
        // wcid
        ("wcid", Wcid { app: None }),
        (
            "wcid api?",
            Wcid {
                app: Some(app("api")),
            },
        ),
        ("where can I deploy", Wcid { app: None }),
        (
            "Where Can i Deploy api?",
            Wcid {
                app: Some(app("api")),
            },
        ),
        // help
        ("help", Help { topic: None }),
        ("help?", Help { topic: None }),
        (
            "help deploy",
            Help {
                topic: Some("deploy".into()),
            },
        ),
        (
            "help log",
            Help {
                topic: Some("search".into()),
            },
        ),
        (
            "help what's live",
            Help {
                topic: Some("live".into()),
            },
        ),
        (
            "help where can I deploy",
            Help {
                topic: Some("live".into()),
            },
        ),
        (
            "HELP Deploys",
            Help {
                topic: Some("history".into()),
            },
        ),
    ]
}

#[test]
fn every_command_form_is_understood() {
    for (text, want) in understood() {
        assert_eq!(parse_direct(text), Parsed::Command(want), "{text:?}");
    }
}

/// Input → a substring of the error message.
const REFUSED: &[(&str, &str)] = &[
    // unknown commands
    (
        "deplyo api",
        "I don't know the command `deplyo`. Did you mean `deploy`?",
    ),
    ("stauts", "Did you mean `status`?"),
    ("hepl", "Did you mean `help`?"),
    (
        "xyzzy",
        "I don't know the command `xyzzy`. Say `help` to see what I can do.",
    ),
    ("deploy? api", "Did you mean `deploy`?"),
    ("status! 12", "Only `deploy` takes `!` or `:task`"),
    // deploy
    ("deploy", "Which app? Say `deploy api to prod`."),
    ("deploy to prod", "Which app?"),
    ("deploy api@$(touch /tmp/x)", "`$(touch` is not a valid ref"),
    ("deploy api@`whoami`", "``whoami`` is not a valid ref"),
    ("deploy api;rm -rf /", "`api;rm` is not a valid app name"),
    (
        "deploy api|cat to prod",
        "`api|cat` is not a valid app name",
    ),
    (
        "deploy api && rm -rf /",
        "I didn't understand `&&` after `deploy api`.",
    ),
    (
        "deploy api@main\nrm -rf /",
        "I didn't understand `rm` after `deploy api@main`.",
    ),
    ("deploy api@main;id", "`main;id` is not a valid ref"),
    (
        "deploy api@--upload-pack=/tmp/x",
        "`--upload-pack=/tmp/x` is not a valid ref",
    ),
    (
        "deploy api/--upload-pack=x to prod",
        "`--upload-pack=x` is not a valid ref",
    ),
    (
        "deploy --upload-pack=/tmp/x",
        "I don't know the flag `--upload-pack`",
    ),
    (
        "deploy api to --upload-pack=x",
        "`to` needs a value before `--upload-pack=x`",
    ),
    (
        "deploy api to prod/$(id)",
        "`$(id)` is not a valid host name",
    ),
    ("deploy api@a..b", "it contains `..`"),
    ("deploy api@x.lock", "it ends with `.lock`"),
    (
        "deploy api to prod --force",
        "I don't know the flag `--force`. To skip the CI check, say `deploy!`",
    ),
    (
        "deploy api --foo",
        "I don't know the flag `--foo`: `deploy` takes only `--dry-run` and `--emergency`.",
    ),
    ("deploy api --dryrun", "Did you mean `--dry-run`?"),
    ("deploy api --dry-run=yes", "`--dry-run` takes no value."),
    (
        "deploy api to prod banana",
        "I didn't understand `banana` after `deploy api to prod`.",
    ),
    ("deploy api prod", "Did you mean `deploy api to prod`?"),
    (
        "deploy api prod --dry-run",
        "Did you mean `deploy api to prod`?",
    ),
    ("deploy api to prod to staging", "You gave the env twice"),
    ("deploy api to", "`to` needs a value after it"),
    ("deploy api to prod/", "`prod/` is not `<env>/<host>`"),
    ("deploy api@", "`api@` has no ref after `@`"),
    ("deploy @v1", "`@v1` has no app before the ref"),
    (
        "deploy api to prod --emergency",
        "`--emergency` needs a reason in quotes",
    ),
    (
        "deploy api --emergency --dry-run",
        "`--emergency` needs a reason in quotes",
    ),
    (
        "deploy api --emergency \"\"",
        "An emergency deploy needs a reason, and this one is empty: say why it cannot wait, e.g. `--emergency \"payments are down\"`.",
    ),
    (
        "deploy api --emergency \"  \"",
        "An emergency deploy needs a reason, and this one is empty",
    ),
    (
        "deploy api --emergency=''",
        "An emergency deploy needs a reason, and this one is empty",
    ),
    (
        "deploy api --emergency \"db down",
        "The reason after `--emergency` has no closing quote.",
    ),
    (
        "deploy api --emergency x --emergency y",
        "`--emergency` is given twice",
    ),
    (
        "deploy api --emergency \"bell\u{7}\"",
        "control character (`\\u{7}`)",
    ),
    (
        "deploy api --emergency \"\u{202E}txt.exe\"",
        "control character",
    ),
    (
        "deploy api --emergency db down",
        "I didn't understand `down` after `deploy api --emergency db`.",
    ),
    ("deploy:", "`deploy:` needs a task name"),
    ("deploy:mi$grate api", "`mi$grate` is not a valid task name"),
    ("deploy!!api", "I can't read `deploy!!api`"),
    // rollback
    ("rollback", "Which app? Say `rollback api in prod`."),
    ("rollback api", "Which env?"),
    ("rollback api to v1", "Which env?"),
    ("rollback api in prod to", "`to` needs a value"),
    ("rollback api in prod to $(x)", "`$(x)` is not a valid ref"),
    (
        "rollback api in prod --force",
        "I don't know the flag `--force` after `rollback api in prod`.",
    ),
    // ids
    ("cancel", "Which deploy? Say `cancel #12`."),
    (
        "cancel twelve",
        "`twelve` is not a deploy id: use a number like `#12`.",
    ),
    ("approve #0", "`#0` is not a deploy id"),
    ("approve #-3", "`#-3` is not a deploy id"),
    ("approve #99999999999999999999", "is not a deploy id"),
    (
        "approve #12 lgtm",
        "I didn't understand `lgtm` after `approve #12`.",
    ),
    ("deny", "Which deploy?"),
    ("deny #3 --because x", "I don't know the flag `--because`"),
    (
        "deny #3 \"\"",
        "The reason is empty: write it out, e.g. `deny #12 \"wrong version\"`.",
    ),
    (
        "deny #3 --reason \"\"",
        "The reason is empty: write it out, e.g. `--reason \"wrong version\"`.",
    ),
    ("status api", "`api` is not a deploy id"),
    ("status --all", "`status` takes no flags"),
    // live
    ("version", "Which app? Say `version api in prod`."),
    ("where is", "Which app? Say `where is api`."),
    ("where", "Ask `where is api`"),
    ("what's up", "Did you mean `what's live`?"),
    ("live api prod", "Did you mean `live api in prod`?"),
    ("live --foo", "`live` takes only `--check`"),
    ("live api in", "`in` needs a value"),
    ("live api;x", "`api;x` is not a valid app name"),
    // history
    (
        "history api last 0",
        "`last` takes a number from 1 to 1000, not `0`.",
    ),
    ("history api last many", "`last` takes a number"),
    ("history api last 5000", "`last` takes a number"),
    ("history api last +5", "`last` takes a number"),
    ("history api prod", "Did you mean `history api in prod`?"),
    ("history --all", "`history` takes no flags"),
    // search
    ("search", "What should I search for?"),
    ("search ***", "What should I search for?"),
    (
        "search stauts:failed",
        "I don't know the filter `stauts:`. Did you mean `status:`?",
    ),
    (
        "search status:faild",
        "`faild` is not a deploy state. Did you mean `failed`?",
    ),
    ("search status:weird", "Use one of: awaiting_approval,"),
    (
        "search since:yesterday",
        "`yesterday` is not a date for `since:`",
    ),
    (
        "search since:2026-02-01 until:2026-01-01",
        "`since:` must be before `until:`.",
    ),
    ("search app:API;x", "`API;x` is not a valid app name"),
    ("search user:<@U1>", "`<@U1>` is not a user name"),
    ("search app:", "`app:` needs a value right after the colon"),
    ("search app:a app:b", "You gave the `app:` twice"),
    (
        "search a b c d e f g h i j k l m n o p q r s t u v w x y z a1 b1 c1 d1 e1 f1 g1",
        "use at most 32",
    ),
    // lock
    ("lock", "Which app or env? Say `lock api in prod`."),
    ("lock in prod", "Which app or env?"),
    ("lock api prod", "Did you mean `lock api in prod`?"),
    (
        "lock api in prod \"db migration\"",
        "Reasons go after `--reason`.",
    ),
    ("lock api in prod --reason", "`--reason` needs a reason"),
    (
        "lock api in prod --reason \"\"",
        "The reason is empty: write it out, e.g. `--reason \"db maintenance\"`.",
    ),
    ("lock $(id)", "`$(id)` is not a valid app or env name"),
    (
        "unlock api --reason x",
        "I don't know the flag `--reason`: `unlock` takes no flags.",
    ),
    ("unlock", "Which app or env? Say `unlock api in prod`."),
    ("locks now", "I didn't understand `now` after `locks`."),
    ("locks --all", "`locks` takes no flags"),
    // freeze
    ("freeze", "Which env?"),
    ("freeze for 2h", "Which env?"),
    ("freeze prod for", "`for` needs a duration"),
    ("freeze prod for --reason x", "`for` needs a duration"),
    ("freeze prod for 0s", "longer than zero"),
    ("freeze prod for 31days", "at most 30 days"),
    (
        "freeze prod for 99999999999999999999999y",
        "is not a duration",
    ),
    ("freeze prod for soon", "`soon` is not a duration"),
    (
        "freeze prod for 2h until friday",
        "either `for <duration>` or `until <time>`",
    ),
    ("freeze prod until", "`until` needs a time"),
    (
        "freeze prod 2h",
        "I didn't understand `2h` after `freeze prod`.",
    ),
    ("freeze prod --reason x --reason y", "is given twice"),
    (
        "freeze prod for 1h --reason \" \"",
        "The reason is empty: write it out, e.g. `--reason \"release\"`.",
    ),
    ("freeze prod --until x", "I don't know the flag `--until`"),
    ("unfreeze", "Which env? Say `unfreeze prod`."),
    ("unfreeze prod now", "I didn't understand `now`"),
    (
        "windows prod staging",
        "I didn't understand `staging` after `windows prod`.",
    ),
    (
        "wcid api web",
        "I didn't understand `web` after `wcid api`.",
    ),
    // help
    (
        "help deplyo",
        "I have no help on `deplyo`. Did you mean `help deploy`?",
    ),
    ("help xyzzy", "Say `help` for the list."),
    (
        "help deploy api",
        "I didn't understand `api` after `help deploy`.",
    ),
];

#[test]
fn bad_input_is_refused_with_a_specific_message() {
    for &(text, want) in REFUSED {
        let err = error_of(parse_direct(text));
        assert!(
            err.message.contains(want),
            "{text:?}: got {:?}, want it to contain {want:?}",
            err.message
        );
        assert!(!err.message.contains('\n'), "{text:?}: multi-line {err:?}");
    }
}

#[test]
fn refusals_carry_suggestions_when_there_is_a_good_guess() {
    let table: &[(&str, Option<&str>)] = &[
        ("deplyo", Some("deploy")),
        ("xyzzy", None),
        ("deploy api --dryrun", Some("--dry-run")),
        ("deploy api prod", Some("deploy api to prod")),
        ("deploy api@main\nrm -rf /", None),
        ("deploy api prod staging", None),
        ("search status:faild", Some("failed")),
        ("search stauts:failed", Some("status:")),
        ("help hepl", Some("help help")),
        ("what's up", Some("what's live")),
    ];
    for &(text, want) in table {
        let err = error_of(parse_direct(text));
        assert_eq!(err.suggestion.as_deref(), want, "{text:?}");
    }
}

#[test]
fn hostile_strings_are_quoted_safely() {
    let err = error_of(parse_direct("deploy api@x\u{1b}[31m"));
    assert!(
        err.message.contains("`x\\u{1b}[31m` is not a valid ref"),
        "{err:?}"
    );
    let err = error_of(parse_direct(&format!("deploy {}", "a;".repeat(100))));
    assert!(err.message.contains('…'), "long names are cut: {err:?}");
    assert!(err.message.chars().count() < 200, "{err:?}");
}

fn channel() -> (Vec<String>, Vec<String>) {
    let prefixes = vec!["!".to_owned(), ".".to_owned(), String::new()];
    let mentions = ["deckhand", "@deckhand", "<@U0BOT>"]
        .map(String::from)
        .to_vec();
    (prefixes, mentions)
}

#[test]
fn addressing_in_a_channel() {
    let (prefixes, mentions) = channel();
    let addr = Addressing {
        prefixes: &prefixes,
        mentions: &mentions,
        direct: false,
    };
    let api = Parsed::Command(Command::Deploy(dep("api")));
    let table: &[(&str, Option<&Parsed>)] = &[
        ("!deploy api", Some(&api)),
        (".deploy api", Some(&api)),
        ("! deploy api", Some(&api)),
        ("  \t!deploy api", Some(&api)),
        ("@deckhand deploy api", Some(&api)),
        ("@Deckhand deploy api", Some(&api)),
        ("deckhand: deploy api", Some(&api)),
        ("deckhand, deploy api", Some(&api)),
        ("deckhand:deploy api", Some(&api)),
        ("DECKHAND deploy api", Some(&api)),
        ("<@U0BOT> deploy api", Some(&api)),
        ("<@U0BOT>deploy api", Some(&api)),
        ("<@u0bot>: deploy api", Some(&api)),
        ("@deckhand !deploy api", Some(&api)),
        ("deploy api", None),
        ("hey deckhand deploy api", None),
        ("deckhandbot deploy api", None),
        ("deckhand's great", None),
        ("...", None),
        ("... deploy api", None),
        ("!!!", None),
        (".5 seconds later", None),
        ("!1", None),
        ("", None),
    ];
    for &(text, want) in table {
        let got = parse(text, &addr);
        match want {
            Some(want) => assert_eq!(&got, want, "{text:?}"),
            None => assert_eq!(got, Parsed::NotAddressed, "{text:?}"),
        }
    }
    assert_eq!(
        parse("!#12", &addr),
        Parsed::Command(Command::Status { id: Some(12) })
    );
    for only in [
        "!",
        ".",
        "@deckhand",
        "deckhand:",
        " deckhand , ",
        "<@U0BOT>",
    ] {
        let err = error_of(parse(only, &addr));
        assert!(err.message.contains("Say `help`"), "{only:?}: {err:?}");
    }
    let err = error_of(parse("deckhand is broken", &addr));
    assert!(err.message.contains("`is`"), "{err:?}");
}

#[test]
fn addressing_in_a_direct_message() {
    let api = Parsed::Command(Command::Deploy(dep("api")));
    for text in [
        "deploy api",
        "!deploy api",
        ".deploy api",
        "deckhand deploy api",
        "@deckhand: deploy api",
    ] {
        assert_eq!(parse_direct(text), api, "{text:?}");
    }
    for blank in ["", "   ", "\n\t\u{00A0}"] {
        assert_eq!(parse_direct(blank), Parsed::NotAddressed, "{blank:?}");
    }
    for only in ["!", "deckhand", "@deckhand,"] {
        let err = error_of(parse_direct(only));
        assert!(err.message.contains("help"), "{only:?}: {err:?}");
    }
    let err = error_of(parse_direct("..."));
    assert!(err.message.contains("I don't know the command"), "{err:?}");
}

#[test]
fn oversized_messages_are_refused_by_length() {
    let long = format!("!deploy {}", "a".repeat(5000));
    let err = error_of(parse_direct(&long));
    assert_eq!(
        err.message,
        "That message is 5008 characters long; deckhand reads commands of at most 4000."
    );
    // Counted in characters, not bytes.
    let wide = format!("deploy {}", "é".repeat(3000));
    assert!(
        error_of(parse_direct(&wide))
            .message
            .contains("not a valid app name")
    );
    let exact = format!("search {}", "a".repeat(MAX_MESSAGE_CHARS - 7));
    assert!(matches!(
        parse_direct(&exact),
        Parsed::Command(Command::Search(_))
    ));
    let over = format!("{exact}b");
    assert!(
        error_of(parse_direct(&over))
            .message
            .contains("4001 characters")
    );
    // Not addressed in a channel: no answer at all, however long.
    let (prefixes, mentions) = channel();
    let addr = Addressing {
        prefixes: &prefixes,
        mentions: &mentions,
        direct: false,
    };
    assert_eq!(parse(&"chat ".repeat(2000), &addr), Parsed::NotAddressed);
}

#[test]
fn reasons_are_limited_to_500_characters() {
    let ok = format!("deny #1 {}", "x".repeat(MAX_REASON_CHARS));
    assert!(matches!(parse_direct(&ok), Parsed::Command(_)));
    let long = format!("deny #1 {}", "x".repeat(MAX_REASON_CHARS + 1));
    assert!(
        error_of(parse_direct(&long))
            .message
            .contains("501 characters long; at most 500")
    );
    let long = format!("lock prod --reason \"{}\"", "y ".repeat(300));
    assert!(
        error_of(parse_direct(&long))
            .message
            .contains("at most 500")
    );
}

#[test]
fn json_follows_section_8() {
    let table: Vec<(&str, Value)> = vec![
        (
            "deploy! api@v1 to prod/api-1 --dry-run",
            json!({"command": "deploy", "app": "api", "ref": "v1", "env": "prod", "host": "api-1",
                   "task": null, "force": true, "dry_run": true, "emergency": null}),
        ),
        (
            "deploy:migrate api --emergency \"db down\"",
            json!({"command": "deploy", "app": "api", "ref": null, "env": null, "host": null,
                   "task": "migrate", "force": false, "dry_run": false, "emergency": "db down"}),
        ),
        (
            "rollback api in prod",
            json!({"command": "rollback", "app": "api", "env": "prod", "version": null}),
        ),
        ("approve #12", json!({"command": "approve", "id": 12})),
        (
            "deny 3 nope",
            json!({"command": "deny", "id": 3, "reason": "nope"}),
        ),
        ("status", json!({"command": "status", "id": null})),
        (
            "what's live on prod",
            json!({"command": "live", "app": null, "env": "prod", "check": false}),
        ),
        (
            "deploys api@v2 in prod",
            json!({"command": "history", "app": "api", "ref": "v2", "env": "prod", "limit": null}),
        ),
        (
            "log Timeout env:prod since:2026-01-31",
            json!({"command": "search", "query": "timeout", "app": null, "env": "prod", "user": null,
                   "status": null, "since": "2026-01-31T00:00:00Z", "until": null}),
        ),
        (
            "lock prod",
            json!({"command": "lock", "target": "prod", "app": null, "env": null, "reason": null}),
        ),
        (
            "unlock api in prod",
            json!({"command": "unlock", "target": null, "app": "api", "env": "prod"}),
        ),
        ("locks", json!({"command": "locks"})),
        (
            "freeze prod for 90m --reason release",
            json!({"command": "freeze", "env": "prod", "duration": "1h 30m", "until": null, "reason": "release"}),
        ),
        ("wcid", json!({"command": "wcid", "app": null})),
        ("help log", json!({"command": "help", "topic": "search"})),
        (
            "deplyo api",
            json!({"command": null, "error": "I don't know the command `deplyo`. Did you mean `deploy`?",
                   "suggestion": "deploy"}),
        ),
    ];
    for (text, want) in table {
        assert_eq!(to_json(&parse_direct(text)), want, "{text:?}");
    }
    assert_eq!(to_json(&Parsed::NotAddressed), json!({"command": null}));
}

#[test]
fn quoted_strings_close_at_a_quote_before_a_space() {
    assert_eq!(split_quoted("\"a b\" c"), Some(("a b", "c")));
    assert_eq!(split_quoted("'can't stop' x"), Some(("can't stop", "x")));
    assert_eq!(split_quoted("“a” "), Some(("a", "")));
    assert_eq!(split_quoted("\"a"), None);
    assert_eq!(split_quoted("a\""), None);
}

/// Messages that go deep into the grammar: a command word, then a mix of keywords, names,
/// flags, quotes and junk.
fn messy_message() -> impl Strategy<Value = String> {
    let verbs: Vec<&str> = VERBS
        .iter()
        .map(|(w, _, _)| *w)
        .chain(["where is", "where can i deploy", "deploy!:x", "#1"])
        .collect();
    let bits = prop_oneof![
        Just("to".to_owned()),
        Just("in".to_owned()),
        Just("last".to_owned()),
        Just("for".to_owned()),
        Just("until".to_owned()),
        Just("--reason".to_owned()),
        Just("--emergency=".to_owned()),
        Just("—dry-run".to_owned()),
        Just("\"".to_owned()),
        Just("“".to_owned()),
        Just("'".to_owned()),
        Just("app:".to_owned()),
        Just("since:".to_owned()),
        "[a-z0-9#@/:._-]{1,12}",
        "\\PC{1,6}",
        any::<char>().prop_map(String::from),
    ];
    (
        proptest::sample::select(verbs),
        prop::collection::vec(bits, 0..12),
        "[ \t\u{a0}]{1,2}",
    )
        .prop_map(|(verb, bits, sep)| format!("{verb}{sep}{}", bits.join(&sep)))
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..2600).prop_map(String::from_iter),
        messy_message(),
        messy_message().prop_map(|m| format!("!{m}")),
        messy_message().prop_map(|m| format!("deckhand: {m}")),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics(text in any_text()) {
        let (prefixes, mentions) = channel();
        for direct in [false, true] {
            let addr = Addressing { prefixes: &prefixes, mentions: &mentions, direct };
            if let Parsed::NotUnderstood(e) = parse(&text, &addr) {
                prop_assert!(!e.message.is_empty());
                prop_assert!(!e.message.contains('\n'));
            }
        }
        let _ = to_json(&parse_direct(&text));
    }
}

#[test]
fn search_sha_takes_a_hex_prefix_lower_cased() {
    assert_eq!(
        parse_direct("search sha:ABC1234"),
        Parsed::Command(Command::Search(SearchArgs {
            sha: Some("abc1234".into()),
            ..words(&[])
        }))
    );
    let e = error_of(parse_direct("search sha:main"));
    assert!(e.message.contains("is not a commit SHA"), "{}", e.message);
    let e = error_of(parse_direct("search sha:abc"));
    assert!(e.message.contains("4 to 40 hex digits"), "{}", e.message);
    assert_eq!(
        Command::Search(SearchArgs {
            sha: Some("abc1234".into()),
            ..words(&["boom"])
        })
        .to_string(),
        "search boom sha:abc1234"
    );
    assert_eq!(
        to_json(&parse_direct("search sha:abc1234"))["sha"],
        json!("abc1234")
    );
}
