//! The deploy log against real SQLite: in memory and in a temporary file.

use chrono::{DateTime, Duration, TimeZone, Utc};
use deckhand::core::command::{DeployId, SearchArgs};
use deckhand::core::lifecycle::DeployState::{self, *};
use deckhand::core::names::{AppName, EnvName, GitRef, HostName};
use deckhand::store::{
    DeployKind, NewDeploy, OutputLine, SearchHit, Store, Stream, TransitionError,
    spawn_output_writer,
};

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn app(s: &str) -> AppName {
    AppName::parse(s).unwrap()
}

fn env(s: &str) -> EnvName {
    EnvName::parse(s).unwrap()
}

fn request(a: &str, e: &str, version: &str, user: &str) -> NewDeploy {
    NewDeploy {
        app: app(a),
        env: env(e),
        git_ref: GitRef::parse(version).unwrap(),
        version: version.to_owned(),
        host: None,
        task: "deploy".to_owned(),
        kind: DeployKind::Deploy,
        force: false,
        emergency: None,
        requested_by: user.to_owned(),
        channel: "console".to_owned(),
        state: Approved,
        reason: None,
    }
}

/// Files a request and walks it to `end` through the normal states.
async fn run_to(store: &Store, d: &NewDeploy, end: DeployState, at: i64) -> DeployId {
    let id = store.create_deploy(d, t(at)).await.unwrap().id;
    for to in [Queued, Running] {
        store
            .transition(id, to, "deckhand", None, t(at))
            .await
            .unwrap();
    }
    if end != Running {
        store
            .transition(id, end, "deckhand", None, t(at + 1))
            .await
            .unwrap();
    }
    id
}

fn line(id: DeployId, at: DateTime<Utc>, text: &str) -> OutputLine {
    OutputLine {
        deploy_id: id,
        host: "api-1".to_owned(),
        stream: Stream::Stdout,
        at,
        text: text.to_owned(),
    }
}

fn words(ws: &[&str]) -> SearchArgs {
    SearchArgs {
        words: ws.iter().map(|w| w.to_string()).collect(),
        ..SearchArgs::default()
    }
}

#[tokio::test]
async fn a_fresh_file_is_migrated_in_wal_mode_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("deckhand.db");
    let store = Store::open(&path).await.unwrap();
    let id = store
        .create_deploy(&request("api", "staging", "v1", "alice"), t(0))
        .await
        .unwrap()
        .id;
    store.close().await;

    // Bytes 18 and 19 of the header are the read/write format versions: 2 means WAL.
    let header = std::fs::read(&path).unwrap();
    assert_eq!((header[18], header[19]), (2, 2), "not in WAL mode");

    let again = Store::open(&path).await.unwrap();
    let d = again
        .deploy(id)
        .await
        .unwrap()
        .expect("the deploy survived");
    assert_eq!((d.app.as_str(), d.state), ("api", Approved));
    let next = again
        .create_deploy(&request("api", "staging", "v2", "alice"), t(1))
        .await
        .unwrap();
    assert_eq!(next.id, id + 1);
}

#[tokio::test]
async fn transitions_are_events_and_set_times() {
    let store = Store::open_in_memory().await.unwrap();
    let created = store
        .create_deploy(&request("api", "staging", "v1.2.0", "alice"), t(0))
        .await
        .unwrap();
    let id = created.id;
    assert_eq!(created.state, Approved);
    assert_eq!(created.created_at, t(0));
    assert_eq!((created.started_at, created.finished_at), (None, None));

    store
        .transition(id, Queued, "deckhand", None, t(1))
        .await
        .unwrap();
    let running = store
        .transition(id, Running, "deckhand", None, t(2))
        .await
        .unwrap();
    assert_eq!(running.started_at, Some(t(2)));
    store
        .transition(id, Verifying, "deckhand", None, t(3))
        .await
        .unwrap();
    // Back to running for the next batch of hosts: started_at stays the first start.
    let again = store
        .transition(id, Running, "deckhand", None, t(4))
        .await
        .unwrap();
    assert_eq!(again.started_at, Some(t(2)));
    let done = store
        .transition(id, Succeeded, "carol", Some("all hosts healthy"), t(5))
        .await
        .unwrap();
    assert_eq!(done.state, Succeeded);
    assert_eq!(done.finished_at, Some(t(5)));
    assert_eq!(done.reason.as_deref(), Some("all hosts healthy"));

    let events = store.events(id).await.unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.from_state, e.to_state))
        .collect();
    assert_eq!(
        kinds,
        [
            ("requested", None, Some(Approved)),
            ("transition", Some(Approved), Some(Queued)),
            ("transition", Some(Queued), Some(Running)),
            ("transition", Some(Running), Some(Verifying)),
            ("transition", Some(Verifying), Some(Running)),
            ("transition", Some(Running), Some(Succeeded)),
        ]
    );
    assert_eq!(
        events[0].text,
        "alice requested deploy api@v1.2.0 to staging"
    );
    assert_eq!(events[0].actor, "alice");
    let last = events.last().unwrap();
    assert_eq!(
        last.text,
        format!("#{id} running → succeeded (carol): all hosts healthy")
    );
    assert_eq!((last.actor.as_str(), last.at), ("carol", t(5)));

    // The transition text is searchable.
    let hits = store.search(&words(&["healthy"]), 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].deploy_id, Some(id));
    assert_eq!(hits[0].kind, "event");
    assert_eq!(hits[0].state, Some(Succeeded));
}

#[tokio::test]
async fn an_illegal_transition_is_refused_and_changes_nothing() {
    let store = Store::open_in_memory().await.unwrap();
    let id = run_to(&store, &request("api", "prod", "v1", "alice"), Failed, 0).await;
    let before = store.deploy(id).await.unwrap().unwrap();
    let events_before = store.events(id).await.unwrap();

    let err = store
        .transition(id, Running, "mallory", None, t(9))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransitionError::NotAllowed { id: i, from: Failed, to: Running } if i == id),
        "{err:?}"
    );
    assert_eq!(store.deploy(id).await.unwrap().unwrap(), before);
    assert_eq!(store.events(id).await.unwrap(), events_before);
    assert!(
        store
            .search(&words(&["mallory"]), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let err = store
        .transition(999, Running, "mallory", None, t(9))
        .await
        .unwrap_err();
    assert!(matches!(err, TransitionError::NotFound(999)), "{err:?}");

    // A deploy that starts blocked is final at once.
    let mut blocked = request("api", "prod", "v2", "bob");
    blocked.state = Blocked;
    blocked.reason = Some("prod is frozen (weekend) until Monday 08:00".to_owned());
    let b = store.create_deploy(&blocked, t(10)).await.unwrap();
    assert_eq!(b.finished_at, Some(t(10)));
    let text = &store.events(b.id).await.unwrap()[0].text;
    assert_eq!(
        text,
        "bob requested deploy api@v2 to prod — blocked: prod is frozen (weekend) until Monday 08:00"
    );
    // Only the three first states are accepted.
    let mut odd = request("api", "prod", "v3", "bob");
    odd.state = Running;
    assert!(store.create_deploy(&odd, t(11)).await.is_err());
}

#[tokio::test]
async fn live_is_the_newest_success_and_a_later_rollback_wins() {
    let store = Store::open_in_memory().await.unwrap();
    let v1 = run_to(&store, &request("api", "prod", "v1", "alice"), Succeeded, 0).await;
    let v2 = run_to(
        &store,
        &request("api", "prod", "v2", "alice"),
        Succeeded,
        10,
    )
    .await;
    run_to(&store, &request("api", "prod", "v3", "bob"), Failed, 20).await;
    run_to(&store, &request("api", "prod", "v4", "bob"), RolledBack, 30).await;
    let s1 = run_to(
        &store,
        &request("api", "staging", "v4", "bob"),
        Succeeded,
        40,
    )
    .await;
    let w1 = run_to(&store, &request("web", "prod", "w1", "dave"), Succeeded, 50).await;
    // In flight: not live either.
    run_to(&store, &request("web", "prod", "w2", "dave"), Running, 60).await;

    let live = store.live(None, None).await.unwrap();
    let seen: Vec<_> = live
        .iter()
        .map(|d| (d.app.as_str(), d.env.as_str(), d.id))
        .collect();
    assert_eq!(
        seen,
        [
            ("api", "prod", v2),
            ("api", "staging", s1),
            ("web", "prod", w1)
        ]
    );

    let mut rollback = request("api", "prod", "v1", "carol");
    rollback.kind = DeployKind::Rollback;
    let r = run_to(&store, &rollback, Succeeded, 70).await;
    let live = store
        .live(Some(&app("api")), Some(&env("prod")))
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].id, live[0].kind, live[0].version.as_str()),
        (r, DeployKind::Rollback, "v1")
    );

    let api = store.live(Some(&app("api")), None).await.unwrap();
    assert_eq!(api.iter().map(|d| d.id).collect::<Vec<_>>(), [r, s1]);
    let prod = store.live(None, Some(&env("prod"))).await.unwrap();
    assert_eq!(prod.iter().map(|d| d.id).collect::<Vec<_>>(), [r, w1]);
    assert!(
        store
            .live(Some(&app("nope")), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .live(Some(&app("web")), Some(&env("staging")))
            .await
            .unwrap()
            .is_empty()
    );
    let _ = v1;
}

#[tokio::test]
async fn last_good_skips_the_live_version_and_bad_versions() {
    let store = Store::open_in_memory().await.unwrap();
    let (a, e) = (app("api"), env("prod"));
    assert_eq!(store.last_good(&a, &e).await.unwrap(), None);
    let v1 = run_to(&store, &request("api", "prod", "v1", "alice"), Succeeded, 0).await;
    assert_eq!(
        store.last_good(&a, &e).await.unwrap(),
        None,
        "nothing before the live one"
    );
    let v2 = run_to(
        &store,
        &request("api", "prod", "v2", "alice"),
        Succeeded,
        10,
    )
    .await;
    let v3 = run_to(
        &store,
        &request("api", "prod", "v3", "alice"),
        Succeeded,
        20,
    )
    .await;
    run_to(&store, &request("api", "prod", "v4", "alice"), Failed, 25).await;
    // v3 again (a re-deploy of the live version) must not be offered as the way back.
    let v3b = run_to(&store, &request("api", "prod", "v3", "bob"), Succeeded, 30).await;
    assert_eq!(store.live(Some(&a), Some(&e)).await.unwrap()[0].id, v3b);

    assert_eq!(store.last_good(&a, &e).await.unwrap().unwrap().id, v2);
    assert!(!store.is_bad(&a, &e, "v2").await.unwrap());
    store
        .mark_bad(&a, &e, "v2", v2, "health check failed on api-1", t(40))
        .await
        .unwrap();
    assert!(store.is_bad(&a, &e, "v2").await.unwrap());
    assert!(!store.is_bad(&a, &env("staging"), "v2").await.unwrap());
    assert_eq!(store.last_good(&a, &e).await.unwrap().unwrap().id, v1);
    store
        .mark_bad(&a, &e, "v1", v1, "data loss", t(41))
        .await
        .unwrap();
    assert_eq!(store.last_good(&a, &e).await.unwrap(), None);
    let _ = v3;
    let marked = store.events(v2).await.unwrap();
    assert_eq!(marked.last().unwrap().kind, "bad_version");
}

#[tokio::test]
async fn history_is_newest_first_with_limit_and_ref() {
    let store = Store::open_in_memory().await.unwrap();
    let mut ids = Vec::new();
    for (i, (a, e, r)) in [
        ("api", "prod", "main"),
        ("api", "staging", "main"),
        ("web", "prod", "main"),
        ("api", "prod", "feature/login"),
        ("api", "prod", "main"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut d = request(a, e, "v1", "alice");
        d.git_ref = GitRef::parse(r).unwrap();
        ids.push(store.create_deploy(&d, t(i as i64)).await.unwrap().id);
    }
    let all: Vec<_> = store
        .history(None, None, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(all, ids.iter().rev().copied().collect::<Vec<_>>());
    let two: Vec<_> = store
        .history(None, None, None, 2)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(two, [ids[4], ids[3]]);
    let (a, e) = (app("api"), env("prod"));
    let api_prod: Vec<_> = store
        .history(Some(&a), Some(&e), None, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(api_prod, [ids[4], ids[3], ids[0]]);
    let main = GitRef::parse("main").unwrap();
    let on_main: Vec<_> = store
        .history(Some(&a), Some(&e), Some(&main), 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(on_main, [ids[4], ids[0]]);
    let login = GitRef::parse("feature/login").unwrap();
    let by_ref: Vec<_> = store
        .history(None, None, Some(&login), 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(by_ref, [ids[3]]);
    let api: Vec<_> = store
        .history(Some(&a), None, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(api, [ids[4], ids[3], ids[1], ids[0]]);
    let prod: Vec<_> = store
        .history(None, Some(&e), None, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(prod, [ids[4], ids[3], ids[2], ids[0]]);
}

/// One deploy per (app, env, user, final state), 100 minutes apart, each with the lines of
/// output `output` makes from its id, start (in minutes) and index.
async fn deploys_with_output(
    store: &Store,
    targets: &[(&str, &str, &str, DeployState)],
    output: impl Fn(DeployId, i64, usize) -> Vec<OutputLine>,
) -> Vec<DeployId> {
    let mut ids = Vec::new();
    for (i, &(a, e, u, end)) in targets.iter().enumerate() {
        let at = i as i64 * 100;
        let id = run_to(store, &request(a, e, "v1", u), end, at).await;
        store.append_output(&output(id, at, i)).await.unwrap();
        ids.push(id);
    }
    ids
}

/// What `q` finds (100 lines at most), each line reduced by `f`, in the order found.
async fn hits_of<T>(store: &Store, q: &SearchArgs, f: impl Fn(SearchHit) -> T) -> Vec<T> {
    store
        .search(q, 100)
        .await
        .unwrap()
        .into_iter()
        .map(f)
        .collect()
}

/// Four deploys with output: (app, env, user, final state), the same error in each.
async fn searchable() -> (Store, Vec<DeployId>) {
    let store = Store::open_in_memory().await.unwrap();
    let targets = [
        ("api", "prod", "alice", Failed),
        ("api", "staging", "alice", Succeeded),
        ("web", "prod", "bob", Succeeded),
        ("api", "prod", "bob", Succeeded),
    ];
    let ids = deploys_with_output(&store, &targets, |id, at, i| {
        vec![
            line(id, t(at + 2), "running migrations"),
            line(
                id,
                t(at + 3),
                &format!("Connection TIMEOUT to db-{i}: retrying"),
            ),
            line(id, t(at + 4), "done in 3s"),
        ]
    })
    .await;
    store
        .note(
            None,
            "carol",
            "lock",
            "carol locked prod: connection timeout drill",
            t(500),
        )
        .await
        .unwrap();
    (store, ids)
}

#[tokio::test]
async fn search_finds_output_by_words_and_filters_newest_first() {
    let (store, ids) = searchable().await;
    let hits = store
        .search(&words(&["connection", "timeout"]), 10)
        .await
        .unwrap();
    let found: Vec<_> = hits.iter().map(|h| h.deploy_id).collect();
    assert_eq!(
        found,
        [None, Some(ids[3]), Some(ids[2]), Some(ids[1]), Some(ids[0])]
    );
    let first = &hits[1];
    assert_eq!(first.text, "Connection TIMEOUT to db-3: retrying");
    assert_eq!(
        (first.kind.as_str(), first.host.as_deref()),
        ("output", Some("api-1"))
    );
    assert_eq!(
        (first.app.as_deref(), first.env.as_deref()),
        (Some("api"), Some("prod"))
    );
    assert_eq!(
        (first.version.as_deref(), first.requested_by.as_deref()),
        (Some("v1"), Some("bob"))
    );
    assert_eq!((first.state, first.at), (Some(Succeeded), t(303)));
    assert!(hits.windows(2).all(|w| w[0].at >= w[1].at));

    let with = |f: fn(&mut SearchArgs)| {
        let mut q = words(&["connection", "timeout"]);
        f(&mut q);
        let store = store.clone();
        async move { hits_of(&store, &q, |h| h.deploy_id).await }
    };
    assert_eq!(
        with(|q| q.app = Some(app("api"))).await,
        [Some(ids[3]), Some(ids[1]), Some(ids[0])]
    );
    assert_eq!(
        with(|q| q.env = Some(env("prod"))).await,
        [Some(ids[3]), Some(ids[2]), Some(ids[0])]
    );
    assert_eq!(
        with(|q| {
            q.app = Some(app("api"));
            q.env = Some(env("prod"));
        })
        .await,
        [Some(ids[3]), Some(ids[0])]
    );
    assert_eq!(
        with(|q| q.user = Some("alice".into())).await,
        [Some(ids[1]), Some(ids[0])]
    );
    assert_eq!(with(|q| q.status = Some(Failed)).await, [Some(ids[0])]);
    assert_eq!(
        with(|q| q.since = Some(t(103))).await,
        [None, Some(ids[3]), Some(ids[2]), Some(ids[1])]
    );
    assert_eq!(
        with(|q| q.until = Some(t(103))).await,
        [Some(ids[1]), Some(ids[0])]
    );
    assert_eq!(
        with(|q| {
            q.since = Some(t(103));
            q.until = Some(t(203));
        })
        .await,
        [Some(ids[2]), Some(ids[1])]
    );
    let limited = store
        .search(&words(&["connection", "timeout"]), 2)
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    assert_eq!(limited[1].deploy_id, Some(ids[3]));
    assert!(
        store
            .search(&words(&["connection", "nowhere"]), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search(&words(&["connection"]), 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn search_with_only_filters_lists_newest_first() {
    let (store, ids) = searchable().await;
    let q = SearchArgs {
        app: Some(app("web")),
        ..SearchArgs::default()
    };
    let hits = store.search(&q, 100).await.unwrap();
    assert!(hits.iter().all(|h| h.deploy_id == Some(ids[2])));
    // requested, approved→queued, queued→running, running→succeeded, 3 lines of output.
    assert_eq!(hits.len(), 7);
    assert_eq!(hits[0].text, "done in 3s");
    assert!(hits.windows(2).all(|w| w[0].at >= w[1].at));
    let everything = store.search(&SearchArgs::default(), 3).await.unwrap();
    assert_eq!(
        everything[0].text,
        "carol locked prod: connection timeout drill"
    );
    assert_eq!(everything.len(), 3);
}

#[tokio::test]
async fn hostile_words_are_plain_text() {
    let (store, _) = searchable().await;
    for hostile in [
        "\"",
        "*",
        "NEAR(",
        "OR",
        "-",
        "')--",
        "app:x",
        "conn*",
        "x\" OR \"y",
    ] {
        let alone = store.search(&words(&[hostile]), 10).await;
        assert!(
            alone.as_ref().is_ok_and(|h| h.is_empty()),
            "{hostile:?} alone: {alone:?}"
        );
        // With a real word, a hostile word never widens the match (as `OR` or `NEAR` would)
        // and never narrows it to a column (as `app:` would).
        let q = words(&["timeout", hostile, "zebra"]);
        let with = store.search(&q, 10).await;
        assert!(
            with.as_ref().is_ok_and(|h| h.is_empty()),
            "{hostile:?} with words: {with:?}"
        );
    }
    // Punctuation-only words carry no text to match, so they drop out next to real words.
    let hits = store
        .search(&words(&["-", "timeout", "*"]), 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 5);
    // A quoted phrase in user text is matched as the words it contains, in order.
    let hits = store
        .search(&words(&["\"connection timeout\""]), 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 5);
    // Filters are parameters: hostile filter values match nothing and break nothing.
    let q = SearchArgs {
        user: Some("' OR 1=1 --".into()),
        ..words(&["timeout"])
    };
    assert!(store.search(&q, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn interrupted_deploys_are_recovered() {
    let store = Store::open_in_memory().await.unwrap();
    let running = run_to(&store, &request("api", "prod", "v1", "alice"), Running, 0).await;
    let verifying = run_to(
        &store,
        &request("web", "prod", "v1", "alice"),
        Verifying,
        10,
    )
    .await;
    let done = run_to(
        &store,
        &request("api", "staging", "v1", "alice"),
        Succeeded,
        20,
    )
    .await;
    let waiting = store
        .create_deploy(&request("web", "staging", "v1", "bob"), t(30))
        .await
        .unwrap()
        .id;

    let active: Vec<_> = store.active().await.unwrap().iter().map(|d| d.id).collect();
    assert_eq!(active, [running, verifying, waiting]);

    let step = store
        .start_step(running, "api-1", "deploy", 0, "build", t(5))
        .await
        .unwrap();
    let recovered = store
        .interrupt_running("deckhand stopped while it ran", t(40))
        .await
        .unwrap();
    assert_eq!(
        recovered.iter().map(|d| d.id).collect::<Vec<_>>(),
        [running, verifying]
    );
    for d in &recovered {
        assert_eq!(d.state, Interrupted);
        assert_eq!(d.finished_at, Some(t(40)));
        assert_eq!(d.reason.as_deref(), Some("deckhand stopped while it ran"));
        let last = store.events(d.id).await.unwrap().pop().unwrap();
        assert_eq!(last.actor, "deckhand");
        assert_eq!(last.to_state, Some(Interrupted));
    }
    assert_eq!(store.deploy(done).await.unwrap().unwrap().state, Succeeded);
    assert_eq!(
        store
            .active()
            .await
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [waiting]
    );
    assert!(
        store
            .interrupt_running("again", t(50))
            .await
            .unwrap()
            .is_empty()
    );
    // No step of an interrupted deploy stays running.
    let steps = store.steps(running).await.unwrap();
    assert_eq!(steps[0].id, step);
    assert_eq!(steps[0].outcome, "interrupted");
    assert_eq!(steps[0].finished_at, Some(t(40)));
    // Their hold stays until recovery released it, once.
    let held: Vec<_> = store
        .unreleased()
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(held, [running, verifying]);
    assert!(store.release(running, "nothing left", t(60)).await.unwrap());
    assert!(!store.release(running, "twice", t(61)).await.unwrap());
    let held: Vec<_> = store
        .unreleased()
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(held, [verifying]);
    assert_eq!(
        store.events(running).await.unwrap().pop().unwrap().kind,
        "released"
    );
    assert_eq!(store.log_tag().await.unwrap().len(), 12);
}

#[tokio::test]
async fn steps_notes_and_messages() {
    let store = Store::open_in_memory().await.unwrap();
    let mut d = request("api", "prod", "v1", "alice");
    d.host = Some(HostName::parse("api-1").unwrap());
    d.task = "migrate".into();
    d.force = true;
    d.emergency = Some("payments down".into());
    d.state = AwaitingApproval;
    let id = store.create_deploy(&d, t(0)).await.unwrap().id;
    let got = store.deploy(id).await.unwrap().unwrap();
    assert_eq!(got.host.as_ref().map(|h| h.as_str()), Some("api-1"));
    assert_eq!((got.task.as_str(), got.force), ("migrate", true));
    assert_eq!(got.emergency.as_deref(), Some("payments down"));
    assert_eq!(
        store.events(id).await.unwrap()[0].text,
        "alice requested deploy:migrate api@v1 to prod/api-1 (CI check skipped) — emergency: payments down"
    );

    store.set_status_message(id, "m7").await.unwrap();
    store.set_approval_message(id, "m8").await.unwrap();
    store.set_commit_sha(id, "0123abcd").await.unwrap();
    let got = store.deploy(id).await.unwrap().unwrap();
    assert_eq!(
        (got.status_msg.as_deref(), got.commit_sha.as_deref()),
        (Some("m7"), Some("0123abcd"))
    );
    assert_eq!(
        store
            .deploy_by_approval_message("m8")
            .await
            .unwrap()
            .map(|d| d.id),
        Some(id)
    );
    assert_eq!(store.deploy_by_approval_message("m9").await.unwrap(), None);
    assert!(store.set_status_message(999, "m1").await.is_err());

    store
        .note(Some(id), "carol", "approval", "carol approved #1", t(1))
        .await
        .unwrap();
    let note = store.events(id).await.unwrap().pop().unwrap();
    assert_eq!(
        (note.kind.as_str(), note.from_state, note.to_state),
        ("approval", None, None)
    );

    let s1 = store
        .start_step(id, "api-1", "migrate", 0, "fetch", t(2))
        .await
        .unwrap();
    let s2 = store
        .start_step(id, "api-1", "migrate", 1, "migrate", t(3))
        .await
        .unwrap();
    store.finish_step(s1, Some(0), "ok", t(3)).await.unwrap();
    store
        .finish_step(s2, Some(3), "failed", t(4))
        .await
        .unwrap();
    assert!(store.finish_step(12345, None, "ok", t(4)).await.is_err());
    let steps = store.steps(id).await.unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        (
            steps[0].idx,
            steps[0].name.as_str(),
            steps[0].outcome.as_str()
        ),
        (0, "fetch", "ok")
    );
    assert_eq!(
        (steps[1].exit_code, steps[1].finished_at),
        (Some(3), Some(t(4)))
    );
    assert_eq!(
        (steps[1].started_at, steps[1].host.as_str()),
        (t(3), "api-1")
    );
}

#[tokio::test]
async fn the_output_writer_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("deckhand.db")).await.unwrap();
    let id = store
        .create_deploy(&request("api", "prod", "v1", "alice"), t(0))
        .await
        .unwrap()
        .id;
    let writer = spawn_output_writer(store.clone());
    const N: usize = 100_000;
    // Two producers, as two hosts printing at once.
    let halves = [0, N / 2].map(|start| {
        let writer = writer.clone();
        tokio::spawn(async move {
            for i in start..start + N / 2 {
                let mut l = line(id, t(1), &format!("line{i} of output"));
                l.stream = if i % 2 == 0 {
                    Stream::Stdout
                } else {
                    Stream::Stderr
                };
                writer.send(l).await.unwrap();
            }
        })
    });
    for h in halves {
        h.await.unwrap();
    }
    writer.flush().await.unwrap();
    let q = SearchArgs {
        app: Some(app("api")),
        ..SearchArgs::default()
    };
    let hits = store.search(&q, 2 * N as u32).await.unwrap();
    let mut seen: Vec<usize> = hits
        .iter()
        .filter(|h| h.kind == "output")
        .map(|h| {
            h.text
                .trim_start_matches("line")
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..N).collect::<Vec<_>>());
    assert_eq!(
        store
            .search(&words(&["line99999"]), 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // Lines sent just before the last handle goes away are written too.
    for i in 0..10 {
        writer
            .send(line(id, t(2), &format!("late{i}")))
            .await
            .unwrap();
    }
    writer.close().await.unwrap();
    assert_eq!(store.search(&words(&["late9"]), 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn dropping_the_writer_still_writes_what_was_sent() {
    let store = Store::open_in_memory().await.unwrap();
    let id = store
        .create_deploy(&request("api", "prod", "v1", "alice"), t(0))
        .await
        .unwrap()
        .id;
    let writer = spawn_output_writer(store.clone());
    for i in 0..2500 {
        writer
            .send(line(id, t(1), &format!("dropped{i}")))
            .await
            .unwrap();
    }
    drop(writer);
    // The task drains the channel after the last sender is gone.
    for _ in 0..100 {
        if store
            .search(&words(&["dropped2499"]), 1)
            .await
            .unwrap()
            .len()
            == 1
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("lines sent before the drop were not written");
}

/// Deploys whose names share prefixes and hold `-` and `.`, each with the same line of output:
/// a filter must match its name exactly, never a name that merely starts like it.
#[tokio::test]
async fn search_filters_match_whole_names_with_words() {
    let store = Store::open_in_memory().await.unwrap();
    let targets = [
        ("my", "prod", "bob", Succeeded),
        ("my-app", "prod", "bob.smith", Failed),
        ("my.app", "prod-eu", "bob-smith", Succeeded),
        ("my-app", "prod.eu", "Bob", Succeeded),
        ("my-app", "prod", "bob smith", RolledBack),
    ];
    let ids = deploys_with_output(&store, &targets, |id, at, i| {
        vec![line(
            id,
            t(at + 2),
            &format!("disk full on my-app.internal #{i}"),
        )]
    })
    .await;
    let search = |q: SearchArgs| {
        let store = store.clone();
        async move { hits_of(&store, &q, |h| h.deploy_id.unwrap()).await }
    };
    let disk = |f: fn(&mut SearchArgs)| {
        let mut q = words(&["disk", "full"]);
        f(&mut q);
        search(q)
    };
    assert_eq!(disk(|_| {}).await, [ids[4], ids[3], ids[2], ids[1], ids[0]]);
    assert_eq!(disk(|q| q.app = Some(app("my"))).await, [ids[0]]);
    assert_eq!(
        disk(|q| q.app = Some(app("my-app"))).await,
        [ids[4], ids[3], ids[1]]
    );
    assert_eq!(disk(|q| q.app = Some(app("my.app"))).await, [ids[2]]);
    assert_eq!(
        disk(|q| q.env = Some(env("prod"))).await,
        [ids[4], ids[1], ids[0]]
    );
    assert_eq!(disk(|q| q.env = Some(env("prod-eu"))).await, [ids[2]]);
    assert_eq!(
        disk(|q| {
            q.app = Some(app("my-app"));
            q.env = Some(env("prod"));
        })
        .await,
        [ids[4], ids[1]]
    );
    // Both hold for the same deploy: my-app went to prod and prod.eu, my.app to prod-eu.
    assert!(
        disk(|q| {
            q.app = Some(app("my-app"));
            q.env = Some(env("prod-eu"));
        })
        .await
        .is_empty()
    );
    // Users are matched exactly, case and spaces included.
    assert_eq!(disk(|q| q.user = Some("bob".into())).await, [ids[0]]);
    assert_eq!(disk(|q| q.user = Some("Bob".into())).await, [ids[3]]);
    assert_eq!(disk(|q| q.user = Some("bob smith".into())).await, [ids[4]]);
    assert_eq!(disk(|q| q.user = Some("bob.smith".into())).await, [ids[1]]);
    assert!(disk(|q| q.user = Some("smith".into())).await.is_empty());
    assert_eq!(
        disk(|q| {
            q.app = Some(app("my-app"));
            q.status = Some(Succeeded);
        })
        .await,
        [ids[3]]
    );
    assert_eq!(
        disk(|q| {
            q.app = Some(app("my-app"));
            q.since = Some(t(150));
            q.until = Some(t(400));
        })
        .await,
        [ids[3]]
    );
    assert_eq!(
        disk(|q| {
            q.app = Some(app("my-app"));
            q.env = Some(env("prod"));
            q.user = Some("bob smith".into());
            q.status = Some(RolledBack);
            q.since = Some(t(400));
        })
        .await,
        [ids[4]]
    );
    // Words are matched in the text only, never in the filter tokens (`appx` + hex of `my`).
    assert!(search(words(&["appx6d79"])).await.is_empty());
    // Filters alone go through the index too, and still list every line of the deploy
    // (requested, three transitions, one line of output), newest first.
    let q = SearchArgs {
        app: Some(app("my.app")),
        user: Some("bob-smith".into()),
        ..SearchArgs::default()
    };
    let hits = store.search(&q, 100).await.unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|h| h.deploy_id == Some(ids[2])));
    assert_eq!(hits[0].text, "disk full on my-app.internal #2");
    assert!(hits.windows(2).all(|w| w[0].at >= w[1].at));
    // Query syntax in words, next to filters, is plain text.
    for hostile in [
        "\"",
        "*",
        "NEAR",
        "OR",
        "-",
        "NOT",
        "disk\" OR \"x",
        "tags:x",
    ] {
        let mut q = words(&["disk", hostile, "zebra"]);
        q.app = Some(app("my"));
        assert!(search(q).await.is_empty(), "{hostile:?}");
    }
    let mut q = words(&["disk", "\"", "*", "-"]);
    q.env = Some(env("prod-eu"));
    assert_eq!(search(q).await, [ids[2]]);
}

/// A log written before migration 0003 (by migrations 0001 and 0002 only, with 0001's FTS
/// trigger indexing its lines) keeps its history searchable, words and filters, once `Store`
/// brings it up to date; new lines come first.
#[tokio::test]
async fn a_log_from_before_0003_is_migrated_and_stays_searchable() {
    use sqlx::{ConnectOptions, Connection};
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for name in ["0001_deploy_log.sql", "0002_policy.sql"] {
        std::fs::copy(shipped.join(name), old.join(name)).unwrap();
    }
    let path = dir.path().join("deckhand.db");
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    let migrator = sqlx::migrate::Migrator::new(old.as_path()).await.unwrap();
    assert_eq!(migrator.iter().count(), 2);
    migrator.run(&mut conn).await.unwrap();
    sqlx::query(
        "INSERT INTO deploys (id, app, env, git_ref, version, kind, requested_by, channel, \
         state, created_at, finished_at) VALUES \
         (1, 'api', 'prod', 'v1', 'v1', 'deploy', 'alice', 'console', 'succeeded', 0, 60000), \
         (2, 'my-app', 'prod.eu', 'v2', 'v2', 'deploy', 'bob', 'console', 'failed', 0, 60000)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO log_lines (deploy_id, at, kind, host, stream, text) VALUES \
         (1, 1000, 'output', 'api-1', 'stdout', 'old connection timeout'), \
         (2, 2000, 'output', 'web-1', 'stderr', 'old connection refused'), \
         (NULL, 3000, 'event', NULL, NULL, 'carol locked prod: connection drill')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // 0001's trigger indexed them in its own table.
    let indexed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM log_fts WHERE log_fts MATCH 'connection'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(indexed, 3);
    conn.close().await.unwrap();

    let store = Store::open(&path).await.unwrap();
    let texts = |q: SearchArgs| {
        let store = store.clone();
        async move { hits_of(&store, &q, |h| h.text).await }
    };
    assert_eq!(
        texts(words(&["connection"])).await,
        [
            "carol locked prod: connection drill",
            "old connection refused",
            "old connection timeout"
        ]
    );
    let q = SearchArgs {
        app: Some(app("my-app")),
        env: Some(env("prod.eu")),
        ..words(&["connection"])
    };
    assert_eq!(texts(q).await, ["old connection refused"]);
    let q = SearchArgs {
        user: Some("alice".into()),
        ..SearchArgs::default()
    };
    assert_eq!(texts(q).await, ["old connection timeout"]);
    // New lines and events are indexed alongside, newest first.
    let id = run_to(&store, &request("api", "prod", "v3", "alice"), Succeeded, 0).await;
    store
        .append_output(&[line(id, t(5), "new connection timeout")])
        .await
        .unwrap();
    let q = SearchArgs {
        app: Some(app("api")),
        ..words(&["connection", "timeout"])
    };
    assert_eq!(
        texts(q).await,
        ["new connection timeout", "old connection timeout"]
    );
    assert_eq!(
        texts(words(&["alice", "requested", "v3"])).await,
        ["alice requested deploy api@v3 to prod"]
    );
}

#[tokio::test]
async fn a_delivery_is_new_once_and_forgotten_after_a_week() {
    let store = Store::open_in_memory().await.unwrap();
    let day = chrono::Duration::days(1);
    let start = t(0);
    assert!(store.first_delivery("slack:Ev1", start).await.unwrap());
    assert!(
        !store
            .first_delivery("slack:Ev1", start + day)
            .await
            .unwrap()
    );
    assert!(store.first_delivery("discord:Ev1", start).await.unwrap());
    // Six days on, nothing is old enough; eight days on, both are forgotten.
    assert_eq!(
        store.forget_old_deliveries(start + day * 6).await.unwrap(),
        0
    );
    assert_eq!(
        store.forget_old_deliveries(start + day * 8).await.unwrap(),
        2
    );
    assert!(
        store
            .first_delivery("slack:Ev1", start + day * 8)
            .await
            .unwrap()
    );
}
