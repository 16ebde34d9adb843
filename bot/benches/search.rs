//! How the deploy log holds up when it is big: `search`, `live` and output ingest on a file
//! database with DECKHAND_BENCH_DEPLOYS deploys (default 1,000,000) of 20 output lines each.
//!
//! `cargo bench --bench search` (release build). DECKHAND_BENCH_DB=path keeps the database
//! there and reuses it on the next run when it already holds enough deploys.
//!
//! Targets (issue): search p95 < 20 ms, live < 5 ms, ingest ≥ 200,000 lines/s.
//!
//! The generator writes rows directly with big multi-row INSERTs in long transactions (that is
//! what "as fast as possible" means here), and indexes each transaction's lines for search
//! with the statement `Store::append_output` uses. Every deploy and every line is a pure
//! function of its index, so the queries can be drawn from lines that exist even in a reused
//! database.

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use deckhand::core::command::SearchArgs;
use deckhand::core::names::{AppName, EnvName};
use deckhand::store::{OutputLine, Store, Stream, spawn_output_writer};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

const LINES_PER_DEPLOY: u64 = 20;
const SEARCH_LIMIT: u32 = 20;
const RUNS: usize = 200;
const INGEST_LINES: usize = 200_000;

fn main() -> anyhow::Result<()> {
    let deploys: u64 = match std::env::var("DECKHAND_BENCH_DEPLOYS") {
        Ok(n) => n
            .replace(['_', ','], "")
            .parse()
            .context("DECKHAND_BENCH_DEPLOYS")?,
        Err(_) => 1_000_000,
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (_tmp, path) = match std::env::var_os("DECKHAND_BENCH_DB") {
        Some(p) => (None, PathBuf::from(p)),
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("bench.db");
            (Some(dir), path)
        }
    };
    tokio.block_on(run(&path, deploys))
}

async fn run(path: &Path, deploys: u64) -> anyhow::Result<()> {
    println!(
        "deploy log benchmark: {} ({deploys} deploys; load average {})",
        path.display(),
        load_average()
    );
    let started = Instant::now();
    let store = Store::open(path).await?;
    println!(
        "  opened (schema brought up to date) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let have = store
        .history(None, None, None, 1)
        .await?
        .first()
        .map_or(0, |d| d.id as u64);
    if have < deploys {
        store.close().await;
        if have > 0 {
            println!("  {have} deploys there: regenerating");
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                let _ = std::fs::remove_file(&p);
            }
            Store::open(path).await?.close().await;
        }
        let started = Instant::now();
        generate(path, deploys).await?;
        let took = started.elapsed();
        let lines = deploys * LINES_PER_DEPLOY;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!(
            "  generated {deploys} deploys, {lines} lines in {:.1} s ({:.0} lines/s), {:.2} GB",
            took.as_secs_f64(),
            lines as f64 / took.as_secs_f64(),
            size as f64 / 1e9
        );
    } else {
        println!("  reusing {have} deploys");
    }
    let store = Store::open(path).await?;

    let mut table = Vec::new();
    let mut found = 0;
    let mut timings = Vec::with_capacity(RUNS);
    for q in 0..RUNS as u64 {
        let args = search_args(q, deploys);
        let started = Instant::now();
        let hits = store.search(&args, SEARCH_LIMIT).await?;
        timings.push(started.elapsed());
        found += usize::from(!hits.is_empty());
    }
    table.push(Row::new("search 2 words + app + env", timings, "20 ms"));

    let mut timings = Vec::with_capacity(RUNS);
    for q in 0..RUNS as u64 {
        let mut args = search_args(q, deploys);
        args.words.clear();
        let started = Instant::now();
        store.search(&args, SEARCH_LIMIT).await?;
        timings.push(started.elapsed());
    }
    table.push(Row::new("search app + env, no words", timings, ""));

    let mut timings = Vec::with_capacity(RUNS);
    for q in 0..RUNS as u64 {
        let spec = Spec::of(mix(q * 7919) % deploys);
        let (app, env) = (AppName::parse(spec.app)?, EnvName::parse(spec.env)?);
        let started = Instant::now();
        let live = store.live(Some(&app), Some(&env)).await?;
        timings.push(started.elapsed());
        anyhow::ensure!(live.len() <= 1);
    }
    table.push(Row::new("live one app/env", timings, "5 ms"));

    let mut timings = Vec::with_capacity(RUNS);
    let mut targets = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        targets = store.live(None, None).await?.len();
        timings.push(started.elapsed());
    }
    table.push(Row::new(
        &format!("live all ({targets} targets)"),
        timings,
        "5 ms",
    ));

    let mut timings = Vec::with_capacity(RUNS);
    for q in 0..RUNS as u64 {
        let spec = Spec::of(mix(q * 104_729) % deploys);
        let (app, env) = (AppName::parse(spec.app)?, EnvName::parse(spec.env)?);
        let started = Instant::now();
        store.history(Some(&app), Some(&env), None, 10).await?;
        timings.push(started.elapsed());
    }
    table.push(Row::new("history app/env last 10", timings, ""));

    println!();
    println!(
        "{:<32} {:>9} {:>9} {:>9}  target",
        "query (200 runs)", "p50", "p95", "p99"
    );
    for row in &table {
        println!(
            "{:<32} {:>9} {:>9} {:>9}  {}",
            row.name,
            ms(row.p(50)),
            ms(row.p(95)),
            ms(row.p(99)),
            if row.target.is_empty() {
                String::new()
            } else {
                format!("p95 < {}", row.target)
            }
        );
    }
    println!("(searches with at least one hit: {found}/{RUNS})");

    // Ingest, on top of the big log.
    // Lines like the generator's, for the newest deploys: the log grows as it normally does,
    // so a reused database keeps its shape from run to run.
    let recent = deploys.min(10_000);
    let now = Utc::now();
    let lines: Vec<OutputLine> = (0..INGEST_LINES as u64)
        .map(|j| {
            let i = deploys - 1 - (j / LINES_PER_DEPLOY) % recent;
            let k = (j % LINES_PER_DEPLOY) as u32;
            OutputLine {
                deploy_id: i as i64 + 1,
                host: format!("host-{}", mix(i) % 4),
                stream: if k % 7 == 6 {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                },
                at: now,
                text: line_text(i, k),
            }
        })
        .collect();
    let (started, cpu) = (Instant::now(), cpu_seconds());
    for batch in lines.chunks(1000) {
        store.append_output(batch).await?;
    }
    let direct = INGEST_LINES as f64 / started.elapsed().as_secs_f64();
    let direct_cpu = cpu_rate(cpu);

    let writer = spawn_output_writer(store.clone());
    let (started, cpu) = (Instant::now(), cpu_seconds());
    for line in lines {
        writer.send(line).await?;
    }
    let sent = started.elapsed();
    writer.flush().await?;
    let total = started.elapsed();
    let through_writer = INGEST_LINES as f64 / total.as_secs_f64();
    let writer_cpu = cpu_rate(cpu);
    println!();
    println!(
        "{:<32} {:>12}  target      lines per CPU-second",
        "ingest (200,000 lines)", "lines/s"
    );
    println!(
        "{:<32} {:>12.0}  ≥ 200000    {direct_cpu}",
        "append_output, batches of 1000", direct
    );
    println!(
        "{:<32} {:>12.0}  ≥ 200000    {writer_cpu}",
        "OutputWriter send + flush", through_writer
    );
    println!(
        "{:<32} {:>12.0}  (producer side: {:.0} ms for all sends)",
        "OutputWriter send only",
        INGEST_LINES as f64 / sent.as_secs_f64(),
        sent.as_secs_f64() * 1e3
    );
    store.close().await;
    println!("(load average at the end: {})", load_average());
    Ok(())
}

/// CPU time this process has used (user + system), from /proc: the machine is shared, and
/// lines per CPU-second say what wall-clock figures taken next to other builds cannot.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name: state is field 3, utime 14, stime 15 (in clock ticks,
    // 100 a second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn cpu_rate(before: Option<f64>) -> String {
    match (before, cpu_seconds()) {
        (Some(a), Some(b)) if b > a => format!("{:.0}", INGEST_LINES as f64 / (b - a)),
        _ => "?".to_owned(),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

struct Row {
    name: String,
    sorted: Vec<Duration>,
    target: &'static str,
}

impl Row {
    fn new(name: &str, mut timings: Vec<Duration>, target: &'static str) -> Row {
        timings.sort_unstable();
        Row {
            name: name.to_owned(),
            sorted: timings,
            target,
        }
    }

    fn p(&self, pct: usize) -> Duration {
        let i = (self.sorted.len() * pct).div_ceil(100).saturating_sub(1);
        self.sorted[i.min(self.sorted.len() - 1)]
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Two words of a line that exists, with the app and env of its deploy.
fn search_args(q: u64, deploys: u64) -> SearchArgs {
    let i = mix(q + 1) % deploys;
    let k = (mix(q + 2) % LINES_PER_DEPLOY) as u32;
    let text = line_text(i, k);
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphabetic()))
        .collect();
    let a = words[(mix(q + 3) % words.len() as u64) as usize];
    let b = words.iter().find(|w| **w != a).copied().unwrap_or(a);
    let spec = Spec::of(i);
    SearchArgs {
        words: vec![a.to_owned(), b.to_owned()],
        app: Some(AppName::parse(spec.app).expect("app")),
        env: Some(EnvName::parse(spec.env).expect("env")),
        ..SearchArgs::default()
    }
}

// ---- the generated log ----------------------------------------------------------------------

const APPS: [&str; 20] = [
    "api",
    "web",
    "billing",
    "auth",
    "search",
    "payments",
    "mailer",
    "worker",
    "gateway",
    "catalog",
    "orders",
    "inventory",
    "reports",
    "admin",
    "notifier",
    "media",
    "ledger",
    "scheduler",
    "profile",
    "analytics",
];
/// Most deploys go to the lower envs.
const ENVS: [(&str, u64); 4] = [("dev", 40), ("staging", 30), ("qa", 10), ("prod", 20)];
const FIRST: [&str; 40] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "nina", "oscar", "peggy", "quinn", "rupert", "sybil", "trent", "ursula", "victor", "walter",
    "xena", "yusuf", "zoe", "amir", "bea", "chen", "dmitri", "elif", "farah", "goran", "hana",
    "igor", "jana", "kofi", "lena", "mateo", "noor", "olga", "priya",
];
const STATES: [(&str, u64); 7] = [
    ("succeeded", 850),
    ("failed", 60),
    ("rolled_back", 30),
    ("cancelled", 20),
    ("denied", 15),
    ("expired", 15),
    ("blocked", 10),
];
const COMMON: [&str; 48] = [
    "error",
    "warning",
    "connection",
    "timeout",
    "migrate",
    "database",
    "cache",
    "restart",
    "healthy",
    "failed",
    "retry",
    "pull",
    "image",
    "layer",
    "build",
    "compile",
    "test",
    "deploy",
    "release",
    "symlink",
    "current",
    "config",
    "reload",
    "service",
    "worker",
    "queue",
    "disk",
    "memory",
    "upstream",
    "refused",
    "denied",
    "permission",
    "schema",
    "table",
    "index",
    "rows",
    "assets",
    "bundle",
    "checksum",
    "verified",
    "downloaded",
    "extracted",
    "started",
    "stopped",
    "listening",
    "port",
    "ready",
    "drained",
];

/// A synthetic vocabulary of ~4,000 pronounceable words, drawn with a heavy skew so a few are
/// everywhere and most are rare, as in real output.
static VOCAB: LazyLock<Vec<String>> = LazyLock::new(|| {
    const SYL: [&str; 16] = [
        "ka", "ro", "mi", "tes", "lun", "var", "do", "pe", "zor", "qui", "bra", "ne", "sol", "fi",
        "gal", "um",
    ];
    let mut v = Vec::new();
    for a in SYL {
        for b in SYL {
            for c in [
                "", "x", "n", "ta", "ler", "ion", "ed", "ing", "s", "al", "or", "um", "ic", "ax",
                "en",
            ] {
                v.push(format!("{a}{b}{c}"));
            }
        }
    }
    v
});

fn mix(x: u64) -> u64 {
    // splitmix64: a fast, well-spread hash of the index.
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn weighted(r: u64, table: &[(&'static str, u64)]) -> &'static str {
    let total: u64 = table.iter().map(|(_, w)| w).sum();
    let mut r = r % total;
    for (name, w) in table {
        if r < *w {
            return name;
        }
        r -= w;
    }
    table[0].0
}

fn skewed(r: u64, words: &[String]) -> &str {
    let u = (r % 1_000_000) as f64 / 1e6;
    &words[((u * u * u) * words.len() as f64) as usize]
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 11, 1, 0, 0, 0).unwrap()
}

/// Deploy `i`: one every 95 s or so, a few minutes each.
struct Spec {
    app: &'static str,
    env: &'static str,
    user: String,
    git_ref: String,
    version: String,
    kind: &'static str,
    state: &'static str,
    created: i64,
    finished: i64,
}

impl Spec {
    fn of(i: u64) -> Spec {
        let r = mix(i);
        // A million deploys span three years.
        let created = start().timestamp_millis() + i as i64 * 94_608;
        let app = APPS[(mix(r) % 20) as usize];
        let user = format!("{}{}", FIRST[(r % 40) as usize], (r >> 8) % 5);
        let git_ref = match (r >> 16) % 10 {
            0 => format!("feature/{}", skewed(r >> 20, &VOCAB)),
            1 => "release/2026.11".to_owned(),
            _ => "main".to_owned(),
        };
        Spec {
            app,
            env: weighted(r >> 24, &ENVS),
            user,
            git_ref,
            version: format!(
                "v{}.{}.{}",
                1 + i / 200_000,
                (i / 2000) % 100,
                (i / 20) % 100
            ),
            kind: if (r >> 32).is_multiple_of(30) {
                "rollback"
            } else {
                "deploy"
            },
            state: weighted(r >> 40, &STATES),
            created,
            finished: created + 60_000 + (r % 600_000) as i64,
        }
    }
}

/// Line `k` of deploy `i`.
fn line_text(i: u64, k: u32) -> String {
    let r = mix(i ^ ((k as u64) << 48) ^ 0x5151);
    let w = |n: u64| skewed(mix(r ^ n), &VOCAB);
    let c = |n: u64| COMMON[(mix(r ^ n) % COMMON.len() as u64) as usize];
    let n = r % 1000;
    match (r >> 10) % 12 {
        0 => format!("step {}/5: {} {} on host-{}", k % 5 + 1, c(1), w(2), n % 16),
        1 => format!(
            "{}: {} to {}-{}.internal:{} ({})",
            c(1),
            c(2),
            w(3),
            n % 8,
            5000 + n,
            w(4)
        ),
        2 => format!("fetched {} objects, {} {} {}", n * 37, w(1), c(2), w(3)),
        3 => format!("WARN {} {} is deprecated, use {} instead", c(1), w(2), w(3)),
        4 => format!(
            "ERROR {} {} while {} {} after {}ms",
            c(1),
            c(2),
            w(3),
            w(4),
            n * 3
        ),
        5 => format!("compiled {} {} in {}.{}s", n, w(1), n % 60, n % 10),
        6 => format!(
            "health check on {}-{} returned {} in {}ms",
            w(1),
            n % 4,
            200,
            n % 300
        ),
        7 => format!("{} {} {} {} {}", w(1), w(2), c(3), w(4), w(5)),
        8 => format!("migrating {} {}: {} rows {}", c(1), w(2), n * 113, c(3)),
        9 => format!("symlink current -> releases/{} {}", w(1), c(2)),
        10 => format!(
            "{} {} {} {} listening on port {}",
            c(1),
            w(2),
            c(3),
            w(4),
            8000 + n
        ),
        _ => format!("INFO {} {} {} {} {}", w(1), c(2), w(3), c(4), w(5)),
    }
}

const DEPLOYS_PER_TX: u64 = 20_000;
const DEPLOY_ROWS: usize = 50;
const LINE_ROWS: usize = 1000;

static INSERT_DEPLOYS: LazyLock<String> = LazyLock::new(|| {
    let mut s = String::from(
        "INSERT INTO deploys (id, app, env, git_ref, version, task, kind, requested_by, \
         channel, state, created_at, started_at, finished_at) VALUES ",
    );
    let row = "(?, ?, ?, ?, ?, 'deploy', ?, ?, 'general', ?, ?, ?, ?)";
    s.push_str(&vec![row; DEPLOY_ROWS].join(", "));
    s
});

static INSERT_LINES: LazyLock<String> = LazyLock::new(|| {
    let mut s =
        String::from("INSERT INTO log_lines (deploy_id, at, kind, host, stream, text) VALUES ");
    s.push_str(&vec!["(?, ?, 'output', ?, ?, ?)"; LINE_ROWS].join(", "));
    s
});

/// Fills the log at `path` (already migrated, empty) with `deploys` deploys and their lines,
/// in deploy order so rowid order is time order, as in production.
async fn generate(path: &Path, deploys: u64) -> anyhow::Result<()> {
    let mut conn: SqliteConnection = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        // A benchmark database: a crash during generation just means generating again.
        .synchronous(SqliteSynchronous::Off)
        .pragma("cache_size", "-1048576")
        .pragma("temp_store", "memory")
        .connect()
        .await?;
    anyhow::ensure!(
        deploys.is_multiple_of(DEPLOY_ROWS as u64),
        "deploys must be a multiple of {DEPLOY_ROWS}"
    );
    let report = Instant::now();
    let mut first = 0;
    while first < deploys {
        let last = (first + DEPLOYS_PER_TX).min(deploys);
        let mut tx = conn.begin().await?;
        let first_line: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM log_lines")
            .fetch_one(&mut *tx)
            .await?;
        for chunk in (first..last).collect::<Vec<_>>().chunks(DEPLOY_ROWS) {
            let mut q = sqlx::query(INSERT_DEPLOYS.as_str());
            for &i in chunk {
                let s = Spec::of(i);
                let final_ = s.state != "blocked";
                q = q
                    .bind(i as i64 + 1)
                    .bind(s.app)
                    .bind(s.env)
                    .bind(s.git_ref)
                    .bind(s.version)
                    .bind(s.kind)
                    .bind(s.user)
                    .bind(s.state)
                    .bind(s.created)
                    .bind(final_.then_some(s.created + 5000))
                    .bind(s.finished);
            }
            q.execute(&mut *tx).await?;
        }
        let lines: Vec<(u64, u32)> = (first..last)
            .flat_map(|i| (0..LINES_PER_DEPLOY as u32).map(move |k| (i, k)))
            .collect();
        for chunk in lines.chunks(LINE_ROWS) {
            let mut q = sqlx::query(INSERT_LINES.as_str());
            for &(i, k) in chunk {
                let s_created = Spec::of(i).created;
                q = q
                    .bind(i as i64 + 1)
                    .bind(s_created + 5000 + k as i64 * 2500)
                    .bind(format!("host-{}", mix(i) % 4))
                    .bind(if k % 7 == 6 { "stderr" } else { "stdout" })
                    .bind(line_text(i, k));
            }
            q.execute(&mut *tx).await?;
        }
        // Indexed for search as `Store::append_output` does: in the same transaction, newest
        // first (migration 0003).
        sqlx::query(
            "INSERT INTO log_search (rowid, text, tags) \
             SELECT -id, text, tags FROM log_search_rows WHERE id >= ? ORDER BY id DESC",
        )
        .bind(first_line)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        first = last;
        if first % 100_000 == 0 || first == deploys {
            let secs = report.elapsed().as_secs_f64();
            println!(
                "  … {first} deploys, {} lines, {secs:.0} s",
                first * LINES_PER_DEPLOY
            );
        }
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    // No ANALYZE: production logs have no statistics either, and the plans must not need them.
    conn.close().await?;
    Ok(())
}
