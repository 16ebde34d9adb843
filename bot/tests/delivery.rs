//! Delivery to chat platforms (issue 9): the real engine with the shipped example, speaking
//! through a `Hub` that holds the console (printing into a buffer) and an in-memory adapter
//! registered as platform `mem` with a platform's limits. Messages in `mem:ops` come from a
//! `mem` account; the console's from console users, as ever.

mod common;

use common::{SharedBuf, clock, example_config, message};
use deckhand::chat::console::{CHANNEL, ConsoleOut};
use deckhand::chat::hub::Hub;
use deckhand::chat::memory::{Call, Failure, MemoryChat, Outcome, Request};
use deckhand::chat::outbox::{CUT_POINTER, DOWN_AFTER};
use deckhand::chat::{CONSOLE, ChatEvent, Limits};
use deckhand::core::lifecycle::DeployState;
use deckhand::engine::Bot;
use deckhand::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MEM: &str = "mem:ops";
/// The platform the test adapter plays: Discord-like, 200 characters, one edit a second.
const PLATFORM: Limits = Limits {
    max_chars: 200,
    edits: 1,
    per: Duration::from_secs(1),
};
/// Timers fire a little early or late on a busy machine; the pace itself is exact.
const TOLERANCE: Duration = Duration::from_millis(30);

struct Both {
    bot: Bot,
    store: Store,
    console: SharedBuf,
    mem: Arc<MemoryChat>,
    _data: tempfile::TempDir,
}

impl Both {
    /// One engine, two platforms: the console and `mem` with `limits`.
    async fn start(limits: Limits) -> Both {
        Both::start_with(example_config(), limits).await
    }

    /// The same with the configuration at `config`.
    async fn start_with(config: std::path::PathBuf, limits: Limits) -> Both {
        let data = tempfile::tempdir().unwrap();
        let console = SharedBuf::default();
        let mem = Arc::new(MemoryChat::new(limits));
        let hub = Hub::new()
            .with(
                CONSOLE,
                Arc::new(ConsoleOut::new(Box::new(console.clone()))),
            )
            .with("mem", mem.clone());
        let (bot, store) = common::start_bot(
            &config,
            data.path(),
            Arc::new(hub),
            clock("2026-11-23T10:00:00Z"),
        )
        .await;
        Both {
            bot,
            store,
            console,
            mem,
            _data: data,
        }
    }

    /// `mem:U0ALICE` writes `text` to the bot directly in `mem:ops`.
    async fn say_mem(&self, text: &str) {
        self.bot
            .handle(ChatEvent::Message(message(MEM, "mem:U0ALICE", text, true)))
            .await;
    }

    /// `alice` types `text` in the console.
    async fn say_console(&self, text: &str) {
        self.bot
            .handle(ChatEvent::Message(message(CHANNEL, "alice", text, true)))
            .await;
    }

    /// Until nothing runs, the log holds every line and chat has what was said.
    async fn wait(&self) {
        tokio::time::timeout(Duration::from_secs(60), async {
            self.bot.wait_idle().await;
            self.bot.flush_log().await;
            self.bot.flush_chat().await;
        })
        .await
        .expect("deploys finished within a minute");
    }

    async fn deploy(&self, id: i64) -> deckhand::store::Deploy {
        self.store.deploy(id).await.unwrap().expect("the deploy")
    }

    /// The deploy's status message on `mem`, as the log knows it.
    async fn status_msg(&self, id: i64) -> String {
        self.deploy(id).await.status_msg.expect("a status message")
    }

    /// What the deploy's status message on `mem` says in the end.
    async fn final_status(&self, id: i64) -> String {
        let texts = self.mem.texts_of(&self.status_msg(id).await);
        texts.last().expect("the message was posted").clone()
    }
}

/// The edits of one message, accepted or not, never closer than the pace allows.
fn assert_paced(edits: &[Call]) {
    for w in edits.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(
            gap + TOLERANCE >= PLATFORM.per,
            "two edits {gap:?} apart: {:?} then {:?}",
            w[0].request,
            w[1].request
        );
    }
}

fn assert_within_limit(calls: &[Call]) {
    for c in calls {
        let n = c.request.text().chars().count();
        assert!(n <= PLATFORM.max_chars, "{n} chars: {:?}", c.request);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_platform_gets_nothing_too_long_no_edit_too_soon_and_the_final_state() {
    let both = Both::start(PLATFORM).await;
    both.say_mem("deploy api@v1 to staging").await;
    both.wait().await;
    assert_eq!(both.deploy(1).await.state, DeployState::Succeeded);
    let status = both.status_msg(1).await;
    let texts = both.mem.texts_of(&status);
    assert!(
        texts[0].starts_with("#1 api@v1 → staging: starting (requested by mem:U0ALICE)"),
        "{texts:?}"
    );
    assert!(
        texts.last().unwrap().contains("succeeded in"),
        "the last edit is the final state: {texts:?}"
    );
    let edits = both.mem.edits_of(&status);
    assert_paced(&edits);
    // The deploy changed its status 7 times within a fraction of a second (the console shows
    // each); this platform was sent at most one edit a second of it.
    let ran = both.deploy(1).await.finished_at.unwrap() - both.deploy(1).await.created_at;
    let most = 2 + ran.num_seconds() as usize;
    assert!(
        !edits.is_empty() && edits.len() <= most,
        "{} edits for a deploy of {ran}",
        edits.len()
    );
    // Its output went to the thread under the status message.
    let thread: Vec<String> = both
        .mem
        .received()
        .into_iter()
        .filter_map(|c| match c.request {
            Request::Post { to, text } if to.thread.as_deref() == Some(status.as_str()) => {
                Some(text)
            }
            _ => None,
        })
        .collect();
    assert!(
        thread.iter().any(|t| t.contains("api-staging | ok: v1")),
        "{thread:?}"
    );

    // A long answer arrives cut to the platform's length, with the pointer.
    both.say_mem("help").await;
    let calls = both.mem.received();
    let help = calls.last().unwrap();
    assert!(help.request.text().starts_with("Commands"), "{help:?}");
    assert!(help.request.text().ends_with(CUT_POINTER), "{help:?}");
    assert!(help.request.text().chars().count() <= PLATFORM.max_chars);
    assert_within_limit(&calls);
    // The console said nothing: every message was in `mem:ops`.
    assert_eq!(both.console.text(), "");
    eprintln!(
        "paced platform: {} edits of the status message for a deploy of {ran} ({} calls in all)",
        edits.len(),
        calls.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_platform_still_gets_the_final_state() {
    let both = Both::start(Limits {
        edits: 5,
        ..PLATFORM
    })
    .await;
    let retry_after = Duration::from_millis(200);
    both.mem
        .fail_next_edits(3, Failure::RateLimited(Some(retry_after)));
    both.say_mem("deploy api@v1 to staging").await;
    both.wait().await;
    assert_eq!(both.deploy(1).await.state, DeployState::Succeeded);
    let status = both.status_msg(1).await;
    let edits = both.mem.edits_of(&status);
    let limited: Vec<&Call> = edits
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
        .collect();
    assert_eq!(limited.len(), 3, "{edits:?}");
    // Each retry waited the platform's retry_after.
    for w in edits.windows(2).take(3) {
        assert!(w[1].at - w[0].at + TOLERANCE >= retry_after, "{w:?}");
    }
    let last = both.final_status(1).await;
    assert!(last.contains("succeeded in"), "{last}");

    // Posts too: the answer to a request comes after three rate limits, with its id.
    both.mem
        .fail_next(3, Failure::RateLimited(Some(retry_after)));
    both.say_mem("deploy api@v2 to staging").await;
    both.wait().await;
    assert_eq!(both.deploy(2).await.state, DeployState::Succeeded);
    let last = both.final_status(2).await;
    assert!(last.contains("succeeded in"), "{last}");
}

/// From the request to the log's last word, and how long the deploy ran, by the log.
async fn deploy_times(both: &Both, id: i64, text: &str) -> (Duration, Duration) {
    let asked = Instant::now();
    both.say_mem(text).await;
    tokio::time::timeout(Duration::from_secs(60), both.bot.wait_idle())
        .await
        .expect("the deploy ended within a minute");
    let whole = asked.elapsed();
    let d = both.deploy(id).await;
    assert_eq!(d.state, DeployState::Succeeded, "{d:?}");
    let ran = (d.finished_at.unwrap() - d.started_at.unwrap())
        .to_std()
        .unwrap();
    (whole, ran)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_platform_never_slows_a_deploy() {
    let both = Both::start(PLATFORM).await;
    let (whole_ok, ran_ok) = deploy_times(&both, 1, "deploy api@v1 to staging").await;
    both.bot.flush_chat().await;

    both.mem.fail_always(Failure::Unavailable);
    let calls_before = both.mem.received().len();
    let (whole, ran) = deploy_times(&both, 2, "deploy api@v2 to staging").await;
    // The request's answer waited DOWN_AFTER at most for the platform; then every post failed
    // at once and the deploy ran as fast as with a healthy platform. Bounds are generous: the
    // machine is shared.
    let margin = Duration::from_secs(3);
    assert!(
        whole <= whole_ok + DOWN_AFTER + margin,
        "{whole:?} with a failing platform, {whole_ok:?} without"
    );
    assert!(
        ran <= ran_ok + margin,
        "ran {ran:?} with a failing platform, {ran_ok:?} without"
    );
    // It was tried, and nothing got through; the log has it all.
    let tried = both.mem.received().len() - calls_before;
    assert!(tried > 0);
    assert!(both.deploy(2).await.status_msg.is_none());
    let bounded = Instant::now();
    both.bot.flush_chat().await;
    assert!(bounded.elapsed() < Duration::from_secs(15));
    eprintln!(
        "failing platform: request to end {whole:?} (healthy {whole_ok:?}), ran {ran:?} (healthy {ran_ok:?}), {tried} calls tried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_speaks_to_the_console_and_to_mem_each_in_its_own_way() {
    let both = Both::start(PLATFORM).await;
    both.say_console("deploy web@v1 to staging").await;
    both.say_mem("deploy api@v1 to staging").await;
    both.wait().await;
    assert_eq!(both.deploy(1).await.state, DeployState::Succeeded);
    assert_eq!(both.deploy(2).await.state, DeployState::Succeeded);

    // The console printed its protocol, for its own deploy only.
    let console = both.console.text();
    assert!(
        console.starts_with("[m1] #1 web@v1 → staging: starting (requested by alice)\n"),
        "{console}"
    );
    assert!(console.contains("\n[m1 edited] #1 web@v1 → staging: succeeded in"));
    assert!(console.contains("[m2 > m1] web-staging | "), "{console}");
    assert!(!console.contains("api@v1"), "{console}");
    let console_edits = console.matches("[m1 edited]").count();

    // mem got its channel's messages only, paced.
    let calls = both.mem.received();
    assert!(calls.iter().all(|c| match &c.request {
        Request::Post { to, .. } => to.channel == MEM,
        Request::Edit { channel, .. } => channel == MEM,
    }));
    assert!(calls.iter().all(|c| !c.request.text().contains("web@v1")));
    let status = both.status_msg(2).await;
    assert_eq!(status, "mem-1");
    assert_paced(&both.mem.edits_of(&status));
    let last = both.final_status(2).await;
    assert!(
        last.starts_with("#2 api@v1 → staging: succeeded in"),
        "{last}"
    );
    let mem_edits = both.mem.edits_of(&status).len();
    assert!(
        mem_edits < console_edits,
        "mem {mem_edits} edits, console {console_edits}"
    );
    eprintln!(
        "one engine: the console's status message was edited {console_edits} times, mem's {mem_edits} times"
    );
}

#[tokio::test]
async fn output_in_the_thread_fits_the_platform_and_a_long_line_says_where_the_rest_is() {
    let dir = tempfile::tempdir().unwrap();
    let chatty = r#"[[tasks.chatty.steps]]
name = "chatty"
run = '''
for i in 1 2 3 4 5 6 7 8 9 10; do echo "line $i of the chatty step"; done
printf 'x%.0s' $(seq 1 500); echo
'''
"#;
    let config = common::example_with_recipe_tail(dir.path(), "api", chatty);
    let both = Both::start_with(config, PLATFORM).await;
    both.say_mem("deploy:chatty api to staging").await;
    both.wait().await;
    assert_eq!(both.deploy(1).await.state, DeployState::Succeeded);
    let calls = both.mem.received();
    for c in &calls {
        assert!(
            c.request.text().chars().count() <= PLATFORM.max_chars,
            "over the limit: {:?}",
            c.request.text()
        );
    }
    let thread: Vec<&str> = calls
        .iter()
        .filter(|c| matches!(&c.request, Request::Post { to, .. } if to.thread.is_some()))
        .map(|c| c.request.text())
        .collect();
    // Batched by what one message holds, not cut by the outbox: every line arrives whole.
    let all = thread.join("\n");
    for i in 1..=10 {
        assert!(
            all.contains(&format!("api-staging | line {i} of the chatty step")),
            "{all}"
        );
    }
    assert!(
        all.contains("api-staging | xxxx")
            && all.contains("… (line cut; all of it is in the deploy log: `status #1`, `search`)"),
        "{all}"
    );
    assert!(
        !all.contains(CUT_POINTER),
        "the engine fitted its own output: {all}"
    );
}
