//! `cargo bench --bench slack`: deckhand in Slack under a steady stream of events (issue 10's
//! target: 200 events a second for 60 s through Socket Mode, p99 from the envelope sent to the
//! bot's answer under 10 ms, RSS under 30 MB).
//!
//! The real `deckhand serve` (release build) runs against the fake Slack of the tests
//! (`tests/common/fake_slack.rs`) on 127.0.0.1, over Socket Mode. Every 5 ms the fake sends one
//! `events_api` envelope with a message `!live zq<N>`: parsed, looked up, refused with an
//! answer naming `zq<N>`, posted with `chat.postMessage`. The latency of event N is from the
//! moment the fake sent its envelope to the moment it received the answer naming `zq<N>`; both
//! clocks are the bench's own. deckhand's CPU time (user + system, from /proc) and its RSS
//! (now and peak) are read at the end.
//!
//! `DECKHAND_BENCH_SECS` (default 60) and `DECKHAND_BENCH_RATE` (events a second, default 200)
//! change the load.

#[path = "../tests/common/fake_slack.rs"]
mod fake_slack;

use fake_slack::FakeSlack;
use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn main() {
    let secs: u64 = env_or("DECKHAND_BENCH_SECS", 60);
    let rate: u64 = env_or("DECKHAND_BENCH_RATE", 200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(secs, rate));
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(secs: u64, rate: u64) {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let fake = FakeSlack::start().await;
    fake.add_user("U0ALICE", "Alice");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("deckhand.toml");
    let shipped = std::fs::read_to_string(repo.join("config/deckhand.toml")).unwrap();
    std::fs::write(
        &config,
        format!(
            "{}\n[slack]\n",
            shipped.replace(
                "recipes = \"../deploy.d\"",
                &format!("recipes = {:?}", repo.join("deploy.d"))
            )
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(dir.path().join("data"))
        .env("SLACK_BOT_TOKEN", "xoxb-bench")
        .env("SLACK_APP_TOKEN", "xapp-bench")
        .env("SLACK_API_URL", &fake.api_url)
        .env_remove("SLACK_SIGNING_SECRET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("deckhand builds");
    let pid = child.id().unwrap();
    // Both of slack-morphism's connections (the second opens ~5 s after the first): events are
    // sent on the oldest, as Slack would.
    fake.wait_connections(2, 30).await;
    // Warm-up: the first answer (users.info, the first SQLite reads).
    fake.send(&event("warm", "!live zqwarm"));
    wait_answers(&fake, 1, Duration::from_secs(10)).await;

    let cpu_before = cpu_ticks(pid);
    let events = secs * rate;
    let mut sent: HashMap<String, Instant> = HashMap::with_capacity(events as usize);
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    for n in 0..events {
        tick.tick().await;
        let name = format!("zq{n}");
        sent.insert(name.clone(), Instant::now());
        assert!(fake.send(&event(&n.to_string(), &format!("!live {name}"))));
    }
    let sending = started.elapsed();
    wait_answers(&fake, events as usize + 1, Duration::from_secs(60)).await;
    let elapsed = started.elapsed();
    let cpu = cpu_ticks(pid) - cpu_before;
    let (rss, peak) = rss_kb(pid);

    let mut latencies: Vec<Duration> = fake
        .calls_of("chat.postMessage")
        .iter()
        .filter_map(|c| {
            let text = c.body["text"].as_str()?;
            let name = text.split('`').nth(1)?;
            Some(c.at.saturating_duration_since(*sent.get(name)?))
        })
        .collect();
    assert_eq!(latencies.len() as u64, events, "every event answered once");
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let cpu_secs = cpu as f64 / ticks_per_sec;
    println!(
        "slack: {events} events at {rate}/s in {:.1} s (sent in {:.1} s); envelope → answer p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        sending.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(*latencies.last().unwrap()),
    );
    println!(
        "slack: deckhand used {cpu_secs:.2} CPU-s ({:.1}% of one core over the run), RSS {:.1} MB at the end, peak {:.1} MB; load average {}",
        100.0 * cpu_secs / elapsed.as_secs_f64(),
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim(),
    );
    let _ = child.kill().await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// An `events_api` envelope: alice typed `text` in #C0OPS.
fn event(n: &str, text: &str) -> serde_json::Value {
    fake_slack::envelope(
        &format!("env-{n}"),
        &format!("Ev{n}"),
        fake_slack::message("C0OPS", "U0ALICE", text, &format!("1764756000.{n:0>6}")),
    )
}

/// Waits until the fake received `n` answers in all.
async fn wait_answers(fake: &FakeSlack, n: usize, patience: Duration) {
    let deadline = Instant::now() + patience;
    while fake.calls_of("chat.postMessage").len() < n {
        assert!(
            Instant::now() < deadline,
            "no {n} answers within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The process's user + system CPU time, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces, inside parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after `) `.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The process's RSS now and its peak, in KB.
fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
