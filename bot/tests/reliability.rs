//! deckhand never runs two deploys on one host at once, whatever happens to the bot
//! (docs/reliability.md). The real binary, killed with SIGKILL at random points of a deploy and
//! started again; stopped with SIGTERM (once, twice); started twice on one data directory.
//!
//! The number of kills is `DECKHAND_KILLS` (default 5; the README's reliability section runs
//! 20), their points come from `DECKHAND_KILL_SEED` (printed, so a failure can be replayed).

mod common;

use common::sshd::Sshd;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `deckhand console` process, driven line by line while it runs.
struct Console {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl Console {
    fn start(config: &Path, data: &Path) -> Console {
        let mut child = Command::new(env!("CARGO_BIN_EXE_deckhand"))
            .args(["console", "--config", config.to_str().unwrap()])
            .current_dir(common::repo())
            .env("DECKHAND_DATA", data)
            .env_remove("DECKHAND_NOW")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Console {
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        // The bot may be gone already (a kill test): that is what the test looks at after.
        let _ = stdin.write_all(format!("{line}\n").as_bytes());
        let _ = stdin.flush();
    }

    fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Waits until stdout contains `needle`; false if it did not within `limit`.
    fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.stdout().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself, at most `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the readers take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Closes stdin (end of input) and waits for the exit.
    fn finish(mut self, limit: Duration) -> (ExitStatus, String, String) {
        self.stdin.take();
        let status = self.exit_within(limit).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!(
                "the console did not exit within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            )
        });
        (status, self.stdout(), self.stderr())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            let mut t = sink.lock().unwrap();
            t.push_str(&line);
            t.push('\n');
        }
    });
    text
}

/// A task whose two steps each write `start`/`end` lines (deploy id, host, step) to `trace`
/// around a sleep, so overlapping steps of two deploys on one host show in the file.
fn slow_task(trace: &Path, secs: f64) -> String {
    let line = |what: &str, step: &str| {
        format!(
            "echo \"{what} $DECKHAND_DEPLOY_ID $DECKHAND_HOST {step}\" >> {}",
            trace.display()
        )
    };
    let mut text = String::new();
    for step in ["one", "two"] {
        text.push_str(&format!(
            "[[tasks.slow.steps]]\nname = \"{step}\"\nrun = '{}; sleep {secs}; {}'\n",
            line("start", step),
            line("end", step)
        ));
    }
    text
}

/// Steps of one host that ran at once in the trace: an `end` of deploy A written after a
/// `start` of another deploy B on the same host that came after A's `start`.
fn overlaps(trace: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    let mut found = Vec::new();
    for (j, end) in lines.iter().enumerate() {
        if end[0] != "end" {
            continue;
        }
        let (id, host) = (end[1], end[2]);
        let Some(i) = lines[..j]
            .iter()
            .rposition(|l| l[0] == "start" && l[1] == id && l[2] == host && l[3] == end[3])
        else {
            found.push(format!("end without start: {}", end.join(" ")));
            continue;
        };
        for other in &lines[i + 1..j] {
            if other[0] == "start" && other[1] != id && other[2] == host {
                found.push(format!(
                    "#{} started on {host} while #{id} still ran there",
                    other[1]
                ));
            }
        }
    }
    found
}

/// A bot whose deploy #1 (`deploy:slow`) runs its first step.
fn running_slow_deploy(config: &Path, data: &Path) -> Console {
    let mut bot = Console::start(config, data);
    bot.say("deploy:slow api to staging");
    assert!(
        bot.wait_for("step 1/2 (one)", Duration::from_secs(20)),
        "{}",
        bot.stdout()
    );
    bot
}

/// Every `#N` the bot printed.
fn ids_in(text: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    for (i, _) in text.match_indices('#') {
        let digits: String = text[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(id) = digits.parse() {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A small deterministic generator for the kill points (xorshift64*).
struct Points(u64);

impl Points {
    fn from_env() -> Points {
        let seed = std::env::var("DECKHAND_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        println!("kill points: DECKHAND_KILL_SEED={seed}");
        Points(seed)
    }

    /// A duration in `0..max`.
    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        max.mul_f64((r >> 11) as f64 / (1u64 << 53) as f64)
    }
}

fn kills() -> usize {
    std::env::var("DECKHAND_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

/// What the deploy log holds after the kills.
struct LogCheck {
    integrity: String,
    ids: Vec<i64>,
    in_flight: Vec<i64>,
    steps_running: i64,
    unreleased: Vec<i64>,
    interrupted: Vec<i64>,
}

async fn open_log(data: &Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}?mode=ro", data.join("deckhand.db").display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}

/// The ids a query selects.
async fn ids(pool: &sqlx::SqlitePool, sql: &'static str) -> Vec<i64> {
    sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
}

async fn check_log(data: &Path) -> LogCheck {
    let pool = open_log(data).await;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    let steps_running = sqlx::query_scalar("SELECT count(*) FROM steps WHERE outcome = 'running'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let check = LogCheck {
        integrity,
        ids: ids(&pool, "SELECT id FROM deploys ORDER BY id").await,
        in_flight: ids(
            &pool,
            "SELECT id FROM deploys WHERE state IN ('running', 'verifying') ORDER BY id",
        )
        .await,
        steps_running,
        unreleased: ids(
            &pool,
            "SELECT id FROM deploys WHERE state = 'interrupted' AND released_at IS NULL",
        )
        .await,
        interrupted: ids(
            &pool,
            "SELECT id FROM deploys WHERE state = 'interrupted' ORDER BY id",
        )
        .await,
    };
    pool.close().await;
    check
}

async fn state_of(data: &Path, id: i64) -> (String, Option<String>) {
    let pool = open_log(data).await;
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT state, reason FROM deploys WHERE id = ?")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    row
}

async fn step_outcomes(data: &Path, id: i64) -> Vec<String> {
    let pool = open_log(data).await;
    let rows = sqlx::query_scalar("SELECT outcome FROM steps WHERE deploy_id = ? ORDER BY id")
        .bind(id)
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

/// Kills the bot at random points of deploys, restarting it each time, then deploys once more
/// to the end; `root` is where the hosts' processes run (for the leftover check).
async fn kill_and_restart(config: &Path, data: &Path, trace: &Path, root: &Path, window: Duration) {
    let n = kills();
    let mut points = Points::from_env();
    let mut answered: Vec<i64> = Vec::new();
    let mut leftovers: Vec<String> = Vec::new();
    for round in 0..n {
        let mut bot = Console::start(config, data);
        bot.say("deploy:slow api to staging");
        let at = points.below(window);
        std::thread::sleep(at);
        bot.kill9();
        let out = bot.stdout();
        println!("kill {} at {:?}:\n{out}", round + 1, at);
        answered.extend(ids_in(&out));
        for id in ids_in(&out) {
            for pid in common::leftover_processes(root, id, Duration::from_secs(5)) {
                leftovers.push(format!("#{id}: pid {pid} after kill {}", round + 1));
            }
        }
    }
    let mut bot = Console::start(config, data);
    bot.say("deploy:slow api to staging");
    bot.say("/wait");
    let (status, out, err) = bot.finish(Duration::from_secs(60));
    println!("last run:\n{out}");
    assert!(status.success(), "{err}");
    assert!(out.contains("succeeded in"), "{out}");
    answered.extend(ids_in(&out));
    answered.sort_unstable();
    answered.dedup();

    let log = check_log(data).await;
    let lost: Vec<i64> = answered
        .iter()
        .filter(|id| !log.ids.contains(id))
        .copied()
        .collect();
    let overlaps = overlaps(trace);
    println!(
        "kills: {n}, overlaps: {}, lost records: {}, leftover processes: {}, interrupted deploys: {}",
        overlaps.len(),
        lost.len(),
        leftovers.len(),
        log.interrupted.len()
    );
    assert_eq!(
        overlaps,
        Vec::<String>::new(),
        "steps ran at once on a host"
    );
    assert_eq!(
        lost,
        Vec::<i64>::new(),
        "answered deploys missing from the log"
    );
    assert_eq!(
        leftovers,
        Vec::<String>::new(),
        "processes outlived their bot"
    );
    assert_eq!(log.integrity, "ok");
    assert_eq!(log.in_flight, Vec::<i64>::new(), "deploys left running");
    assert_eq!(log.steps_running, 0, "steps left running");
    assert_eq!(log.unreleased, Vec::<i64>::new(), "holds never released");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_points_never_lets_two_deploys_overlap_on_a_local_host() {
    let data = tempfile::tempdir().unwrap();
    let trace = data.path().join("trace");
    let config = common::example_with_recipe_tail(data.path(), "api", &slow_task(&trace, 0.8));
    // From before the request to after the end of a deploy of about 1.7 s.
    kill_and_restart(
        &config,
        data.path(),
        &trace,
        data.path(),
        Duration::from_millis(2600),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_points_leaves_no_step_running_on_ssh_hosts() {
    let sshd = Sshd::start(2);
    let data = tempfile::tempdir().unwrap();
    let trace = sshd.dir.path().join("trace");
    let config = sshd.config(
        &format!("{}\nstrategy = \"parallel\"", sshd.hosts_line(2)),
        &slow_task(&trace, 0.8),
        "",
    );
    kill_and_restart(
        &config,
        data.path(),
        &trace,
        sshd.dir.path(),
        Duration::from_millis(3000),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_that_cannot_be_checked_after_a_crash_keeps_its_target_locked() {
    let mut sshd = Sshd::start(2);
    let data = tempfile::tempdir().unwrap();
    let trace = sshd.dir.path().join("trace");
    let config = sshd.config(
        &format!("{}\nstrategy = \"parallel\"", sshd.hosts_line(2)),
        &slow_task(&trace, 5.0),
        "",
    );
    let mut bot = running_slow_deploy(&config, data.path());
    std::thread::sleep(Duration::from_millis(300));
    bot.kill9();
    sshd.stop(1);

    let mut bot = Console::start(&config, data.path());
    assert!(
        bot.wait_for("stays locked", Duration::from_secs(30)),
        "{}",
        bot.stdout()
    );
    bot.say("deploy api to staging");
    bot.say("locks");
    bot.say("/as carol");
    bot.say("unlock api in staging");
    let (status, out, err) = bot.finish(Duration::from_secs(60));
    assert!(status.success(), "{err}");
    assert!(
        out.contains("#1 api@main → staging: could not make sure nothing of it still runs on api-2 (could not reach api-2"),
        "{out}"
    );
    assert!(
        out.contains("so api in staging stays locked (by deckhand). Once you know those hosts are clear, someone in leads releases it with `unlock api in staging`."),
        "{out}"
    );
    assert!(out.contains("locked by deckhand"), "{out}");
    assert!(out.contains("🔒 api in staging · deckhand since"), "{out}");
    assert!(
        out.contains("carol broke deckhand's lock on api in staging"),
        "{out}"
    );
    // The host that could be reached was swept: nothing of #1 is left on it.
    assert_eq!(
        common::leftover_processes(sshd.dir.path(), 1, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
    assert_eq!(state_of(data.path(), 1).await.0, "interrupted");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_running_deploy_finish_and_exits_0() {
    let data = tempfile::tempdir().unwrap();
    let trace = data.path().join("trace");
    let config = common::example_with_recipe_tail(data.path(), "api", &slow_task(&trace, 1.0));
    let mut bot = running_slow_deploy(&config, data.path());
    bot.signal(Signal::SIGTERM);
    // Taken no more: the console stops reading.
    bot.say("deploy api@v2 to staging");
    let status = bot.exit_within(Duration::from_secs(30)).expect("it exits");
    let out = bot.stdout();
    assert_eq!(status.code(), Some(0), "{}", bot.stderr());
    assert!(
        out.contains("deckhand is stopping. #1 api@main → staging has 30s to finish; then it is stopped and the hosts it changed are rolled back."),
        "{out}"
    );
    assert!(out.contains("#1 api@main → staging: succeeded in"), "{out}");
    assert!(
        !out.contains("#2"),
        "a command after the signal was taken: {out}"
    );
    assert!(bot.stderr().contains("SIGTERM received: stopping"));
    assert_eq!(state_of(data.path(), 1).await.0, "succeeded");
    assert_eq!(overlaps(&trace), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_longer_than_the_grace_is_stopped_and_rolled_back() {
    let data = tempfile::tempdir().unwrap();
    let trace = data.path().join("trace");
    let config = common::example_edited(data.path(), "api", &slow_task(&trace, 30.0), |c| {
        c.replace("[bot]\n", "[bot]\nshutdown_grace = \"1s\"\n")
    });
    let mut bot = running_slow_deploy(&config, data.path());
    let sent = Instant::now();
    bot.signal(Signal::SIGINT);
    let status = bot.exit_within(Duration::from_secs(30)).expect("it exits");
    let took = sent.elapsed();
    let out = bot.stdout();
    assert_eq!(status.code(), Some(0), "{}", bot.stderr());
    assert!(
        took < Duration::from_secs(20),
        "the step was not stopped: {took:?}"
    );
    assert!(out.contains("has 1.0s to finish"), "{out}");
    assert!(
        out.contains("#1 api@main → staging: cancelled by deckhand's shutdown after"),
        "{out}"
    );
    let (state, reason) = state_of(data.path(), 1).await;
    assert_eq!(state, "cancelled");
    assert!(
        reason.unwrap_or_default().contains("api-staging is back"),
        "rolled back"
    );
    assert_eq!(step_outcomes(data.path(), 1).await, ["stopped"]);
    assert_eq!(
        common::leftover_processes(data.path(), 1, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_stops_at_once_and_records_the_deploy_interrupted() {
    let data = tempfile::tempdir().unwrap();
    let trace = data.path().join("trace");
    let config = common::example_with_recipe_tail(data.path(), "api", &slow_task(&trace, 30.0));
    let mut bot = running_slow_deploy(&config, data.path());
    bot.signal(Signal::SIGTERM);
    assert!(bot.wait_for("deckhand is stopping.", Duration::from_secs(10)));
    bot.signal(Signal::SIGTERM);
    let status = bot
        .exit_within(Duration::from_secs(10))
        .expect("it exits at once");
    assert_eq!(status.code(), Some(1), "{}", bot.stderr());
    assert!(
        bot.stdout()
            .contains("#1 api@main → staging was interrupted: deckhand was told to stop at once."),
        "{}",
        bot.stdout()
    );
    assert_eq!(state_of(data.path(), 1).await.0, "interrupted");
    assert_eq!(step_outcomes(data.path(), 1).await, ["interrupted"]);
    assert_eq!(
        common::leftover_processes(data.path(), 1, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
    // The next start still checks the host before it lets go of the target.
    let mut bot = Console::start(&config, data.path());
    bot.say("status #1");
    let (status, out, _) = bot.finish(Duration::from_secs(30));
    assert!(status.success());
    assert!(
        out.contains("#1 api@main → staging: nothing of it was still running on api-staging; its hold on api in staging is released."),
        "{out}"
    );
    assert!(out.contains("interrupted"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_bot_on_the_same_data_directory_is_refused_and_the_first_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let config = common::example_config();
    let mut first = Console::start(&config, data.path());
    first.say("deploy web@v1 to staging");
    assert!(first.wait_for("succeeded in", Duration::from_secs(30)));

    let second = Console::start(&config, data.path());
    let (status, out, err) = second.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1));
    assert_eq!(out, "", "the second bot said something");
    let dir: PathBuf = data.path().to_path_buf();
    assert!(
        err.contains(&format!(
            "the data directory {} is in use by another deckhand (pid {})",
            dir.display(),
            first.child.id()
        )),
        "{err}"
    );

    first.say("live web in staging");
    let (status, out, _) = first.finish(Duration::from_secs(30));
    assert!(status.success());
    assert!(out.contains("web in staging: v1"), "{out}");
}
