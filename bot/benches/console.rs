//! `cargo bench --bench console`: how fast `deckhand console` is ready, how much memory it
//! holds while idle (issue targets: ready < 50 ms, idle RSS < 20 MB, release build), and how
//! fast a chatty step's output goes through the whole pipeline (executor → engine → deploy log
//! with its full-text index → chat thread), compared in the same run with the step alone.
//!
//! "Ready" is measured from spawning the process to the bot's first answer (`[m1] …` to a
//! `help` line written at once): start-up, config load, SQLite open + migrations, and one
//! command. RSS is read from /proc after the answer, with the console idle on open stdin.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 30;
/// Lines the chatty step prints.
const CHATTY_LINES: u64 = 500_000;

fn main() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let mut ready = Vec::new();
    let mut rss_kb = Vec::new();
    for run in 0..RUNS {
        let data = tempfile::tempdir().unwrap();
        // The first run creates the database; later ones reuse one, as a restart would.
        let data_path = if run == 0 {
            data.path().to_path_buf()
        } else {
            repo.join("target/bench-console-data")
        };
        let start = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_deckhand"))
            .arg("console")
            .current_dir(repo)
            .env("DECKHAND_DATA", &data_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("deckhand builds");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"help\n").unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let took = start.elapsed();
        assert!(line.starts_with("[m1] "), "unexpected first line {line:?}");
        std::thread::sleep(Duration::from_millis(300));
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
        let rss: u64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        drop(stdin);
        let _ = child.wait();
        if run > 0 {
            ready.push(took);
            rss_kb.push(rss);
        }
    }
    ready.sort();
    rss_kb.sort();
    let p = |q: f64| ready[((ready.len() as f64 * q) as usize).min(ready.len() - 1)];
    println!(
        "deckhand console, {} runs (existing database):",
        ready.len()
    );
    println!(
        "  ready (spawn → first answer): p50 {:?}  p95 {:?}  max {:?}",
        p(0.5),
        p(0.95),
        ready[ready.len() - 1]
    );
    println!(
        "  idle RSS: p50 {:.1} MB  max {:.1} MB",
        rss_kb[rss_kb.len() / 2] as f64 / 1024.0,
        rss_kb[rss_kb.len() - 1] as f64 / 1024.0
    );
    chatty(repo);
}

/// A deploy whose step prints `CHATTY_LINES` lines, end to end through the console.
fn chatty(repo: &std::path::Path) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::create_dir_all(root.join("deploy.d")).unwrap();
    std::fs::copy(
        repo.join("config/deckhand.toml"),
        root.join("config/deckhand.toml"),
    )
    .unwrap();
    std::fs::copy(
        repo.join("deploy.d/api.toml"),
        root.join("deploy.d/api.toml"),
    )
    .unwrap();
    let mut web = std::fs::read_to_string(repo.join("deploy.d/web.toml")).unwrap();
    web.push_str(&format!(
        "\n[[tasks.chatty.steps]]\nname = \"chatty\"\nrun = \"seq 1 {CHATTY_LINES}\"\n"
    ));
    std::fs::write(root.join("deploy.d/web.toml"), web).unwrap();

    let alone = Instant::now();
    let status = Command::new("sh")
        .args(["-c", &format!("seq 1 {CHATTY_LINES} > /dev/null")])
        .status()
        .unwrap();
    assert!(status.success());
    let alone = alone.elapsed();

    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deckhand"))
        .args(["console", "--config"])
        .arg(root.join("config/deckhand.toml"))
        .env("DECKHAND_DATA", root.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"deploy:chatty web to staging\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("succeeded in"),
        "the chatty deploy failed: {text}"
    );
    println!("a step printing {CHATTY_LINES} lines, through the console into the deploy log:");
    println!(
        "  end to end {:?} ({:.0} lines/s into the log, full-text indexed); the step alone {:?}",
        took,
        CHATTY_LINES as f64 / took.as_secs_f64(),
        alone
    );
}
