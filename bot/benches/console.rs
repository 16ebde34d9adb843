//! `cargo bench --bench console`: how fast `deckhand console` is ready, and how much memory it
//! holds while idle (issue targets: ready < 50 ms, idle RSS < 20 MB, release build).
//!
//! "Ready" is measured from spawning the process to the bot's first answer (`[m1] …` to a
//! `help` line written at once): start-up, config load, SQLite open + migrations, and one
//! command. RSS is read from /proc after the answer, with the console idle on open stdin.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 30;

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
}
