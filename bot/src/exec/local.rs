//! The local executor: runs steps as child processes on the machine the bot runs on, each
//! host in its own directory `<data>/hosts/<app>/<env>/<host>`.

use super::{ExecError, Executor, Exit, Job, Line, Place, Stream, Swept, drain, pump};
use async_trait::async_trait;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::mpsc;

/// How long a timed-out step gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// The only variables of the bot's own environment a step sees: the bot's environment may hold
/// chat tokens, which a recipe has no business reading.
const INHERITED_VARS: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

#[derive(Debug, Clone)]
pub struct LocalExecutor {
    root: PathBuf,
}

impl LocalExecutor {
    /// `data_dir` is the bot's data directory; hosts live under `data_dir/hosts`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("hosts"),
        }
    }

    /// The directory a local host's steps run in.
    pub fn host_dir(&self, app: &str, env: &str, host: &str) -> PathBuf {
        self.root.join(app).join(env).join(host)
    }
}

#[async_trait]
impl Executor for LocalExecutor {
    async fn run(&self, job: &Job, out: mpsc::Sender<Line>) -> Result<Exit, ExecError> {
        let dir = self.host_dir(&job.app, &job.env, &job.host);
        if job.look_only && !dir.is_dir() {
            return Ok(Exit::Code(0));
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| ExecError::Workdir {
                host: job.host.clone(),
                dir: dir.display().to_string(),
                source,
            })?;

        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(GUARD)
            .arg(job.tag.as_deref().unwrap_or("deckhand"))
            .arg(&job.script)
            .current_dir(&dir)
            .env_clear()
            // The lifeline: the guard's stdin, a pipe the bot holds open and never writes.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout (or the guard) can kill everything the step
            // started, and a Ctrl-C meant for the bot does not reach it.
            .process_group(0)
            .kill_on_drop(true);
        for name in INHERITED_VARS {
            if let Some(v) = std::env::var_os(name) {
                cmd.env(name, v);
            }
        }
        cmd.envs(job.vars.iter().map(|(k, v)| (k, v)));

        let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
            host: job.host.clone(),
            source,
        })?;
        // Held until the step has ended: dropping it (or the bot dying) ends the step.
        let lifeline = child.stdin.take();
        let pgid = child.id().map(|id| Pid::from_raw(id as i32));
        let readers = [
            child
                .stdout
                .take()
                .map(|r| tokio::spawn(pump(r, job.host.clone(), Stream::Stdout, out.clone()))),
            child
                .stderr
                .take()
                .map(|r| tokio::spawn(pump(r, job.host.clone(), Stream::Stderr, out.clone()))),
        ];

        let ended = tokio::select! {
            status = tokio::time::timeout(job.timeout, child.wait()) => status.map_err(|_| Exit::TimedOut),
            () = job.halt.cancelled() => Err(Exit::Stopped),
        };
        let exit = match ended {
            Ok(status) => {
                let status = status.map_err(|source| ExecError::Wait {
                    host: job.host.clone(),
                    source,
                })?;
                match (status.code(), status.signal()) {
                    (Some(code), _) => Exit::Code(code),
                    (None, Some(sig)) => Exit::Signal(sig),
                    (None, None) => Exit::Code(-1),
                }
            }
            Err(why) => {
                if let Some(pgid) = pgid {
                    kill_group(pgid, &mut child).await;
                }
                why
            }
        };
        drop(lifeline);

        drain(readers.into_iter().flatten()).await;
        Ok(exit)
    }

    async fn sweep(&self, host: &str, _place: &Place, tag: &str) -> Result<Swept, ExecError> {
        let tag = tag.to_owned();
        let found = tokio::task::spawn_blocking(move || sweep_local(&tag))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        found.map_err(|source| ExecError::Sweep {
            host: host.to_owned(),
            source,
        })
    }
}

/// The guard every local step runs under (`sh -c GUARD <tag> <script>`; the tag, its `$0`, is
/// in its command line for as long as the step runs, and the step is in its process group): it
/// runs the script as `sh -c <script>` in the background with stdin from /dev/null, and watches
/// its own stdin, the bot's lifeline: at end of file (the bot closed it, or died) it kills the
/// whole process group, itself included. A step that ends normally ends the watcher and passes
/// its exit code on. `read` is a builtin, so the watcher costs no process of its own.
const GUARD: &str = r#"exec 3<&0 </dev/null
sh -c "$1" sh 3<&- &
step=$!
{ while read -r _ <&3; do :; done; kill -KILL 0; } >/dev/null 2>&1 &
watch=$!
exec 3<&-
wait "$step"
rc=$?
kill "$watch" 2>/dev/null
exit "$rc"
"#;

/// Kills, with their process groups, the processes of this machine whose command line carries
/// `tag`, until none is left; how many processes were killed.
fn sweep_local(tag: &str) -> std::io::Result<Swept> {
    let own = nix::unistd::getpgrp();
    let mut killed = HashSet::new();
    for _round in 0..20 {
        let procs = processes()?;
        let groups: HashSet<i32> = procs
            .iter()
            .filter(|p| p.cmdline.contains(tag))
            .map(|p| p.pgid)
            .filter(|&g| g > 1 && g != own.as_raw())
            .collect();
        let members: Vec<i32> = procs
            .iter()
            .filter(|p| groups.contains(&p.pgid))
            .map(|p| p.pid)
            .collect();
        if members.is_empty() {
            return Ok(Swept {
                killed: killed.len(),
            });
        }
        for g in &groups {
            let _ = killpg(Pid::from_raw(*g), Signal::SIGKILL);
        }
        killed.extend(members);
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(std::io::Error::other(format!(
        "processes marked {tag} were still there after being killed"
    )))
}

/// A live process of this machine, as `/proc` shows it.
struct Proc {
    pid: i32,
    pgid: i32,
    /// Its arguments joined by spaces.
    cmdline: String,
}

/// Every live (not zombie) process `/proc` lists. One that ends while it is read is skipped.
fn processes() -> std::io::Result<Vec<Proc>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let (Ok(stat), Ok(cmdline)) = (
            std::fs::read_to_string(entry.path().join("stat")),
            std::fs::read(entry.path().join("cmdline")),
        ) else {
            continue;
        };
        // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        let (Some(state), Some(pgid)) = (fields.first(), fields.get(2)) else {
            continue;
        };
        if *state == "Z" || *state == "X" {
            continue;
        }
        let Ok(pgid) = pgid.parse() else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        out.push(Proc { pid, pgid, cmdline });
    }
    Ok(out)
}

/// SIGTERM to the whole group, then SIGKILL after the grace period.
async fn kill_group(pgid: Pid, child: &mut tokio::process::Child) {
    let _ = killpg(pgid, Signal::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = child.wait().await;
    }
    // The shell may be gone while its children linger in the group.
    let _ = killpg(pgid, Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn job(script: &str, timeout: Duration) -> Job {
        Job {
            app: "api".into(),
            env: "staging".into(),
            host: "h1".into(),
            place: super::super::Place::local(),
            script: script.into(),
            vars: vec![("DECKHAND_VERSION".into(), "$(touch pwned)`x`;|".into())],
            timeout,
            look_only: false,
            tag: Some("deckhand#1@test".into()),
            halt: Default::default(),
        }
    }

    async fn run(dir: &Path, script: &str, timeout: Duration) -> (Exit, Vec<Line>) {
        let exec = LocalExecutor::new(dir);
        let (tx, mut rx) = mpsc::channel(1024);
        let exit = exec.run(&job(script, timeout), tx).await.unwrap();
        let mut lines = vec![];
        while let Some(l) = rx.recv().await {
            lines.push(l);
        }
        (exit, lines)
    }

    #[tokio::test]
    async fn output_streams_line_by_line_with_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let (exit, lines) = run(
            dir.path(),
            "echo one; echo two >&2; exit 3",
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(exit, Exit::Code(3));
        assert!(
            lines
                .iter()
                .any(|l| l.text == "one" && l.stream == Stream::Stdout)
        );
        assert!(
            lines
                .iter()
                .any(|l| l.text == "two" && l.stream == Stream::Stderr)
        );
    }

    #[tokio::test]
    async fn values_arrive_as_data_never_as_shell_text() {
        let dir = tempfile::tempdir().unwrap();
        let (exit, lines) = run(
            dir.path(),
            "printf '%s\\n' \"$DECKHAND_VERSION\"",
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(exit, Exit::Code(0));
        assert_eq!(lines[0].text, "$(touch pwned)`x`;|");
        let host_dir = dir.path().join("hosts/api/staging/h1");
        assert!(!host_dir.join("pwned").exists());
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("still-alive");
        let script = format!("(sleep 3; touch '{}') & sleep 30", marker.display());
        let (exit, _) = run(dir.path(), &script, Duration::from_millis(300)).await;
        assert_eq!(exit, Exit::TimedOut);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!marker.exists(), "a child of the timed-out step survived");
    }

    #[tokio::test]
    async fn the_bots_secrets_are_not_passed_to_steps() {
        let dir = tempfile::tempdir().unwrap();
        // cargo sets CARGO_* and friends for the test process: none may reach the step.
        let (exit, lines) = run(
            dir.path(),
            "env | cut -d= -f1 | sort",
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(exit, Exit::Code(0));
        let names: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        for n in &names {
            assert!(
                INHERITED_VARS.contains(n)
                    || n.starts_with("DECKHAND_")
                    || *n == "PWD"
                    || *n == "SHLVL"
                    || *n == "OLDPWD"
                    || *n == "_",
                "step saw the bot's variable {n}"
            );
        }
    }

    #[tokio::test]
    async fn a_halt_stops_the_step_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("still-alive");
        let exec = LocalExecutor::new(dir.path());
        let j = job(
            &format!("(sleep 2; touch '{}') & sleep 30", marker.display()),
            Duration::from_secs(60),
        );
        let halt = j.halt.clone();
        let (tx, _rx) = mpsc::channel(16);
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            halt.cancel();
        });
        let started = std::time::Instant::now();
        assert_eq!(exec.run(&j, tx).await.unwrap(), Exit::Stopped);
        assert!(started.elapsed() < Duration::from_secs(10));
        stopper.await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!marker.exists(), "a child of the stopped step survived");
    }

    #[tokio::test]
    async fn a_daemon_holding_both_streams_costs_one_grace_period_not_two() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let (exit, lines) = run(
            dir.path(),
            "echo up; sleep 10 & echo started",
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(exit, Exit::Code(0));
        assert_eq!(lines.len(), 2);
        // One 2 s grace for stdout and stderr together; read one after the other they took 4 s.
        let took = started.elapsed();
        assert!(took < Duration::from_millis(3700), "{took:?}");
    }

    /// A step under the guard, as the executor starts it, tagged `tag`: it starts a child that
    /// touches `marker` 2 s later, then sleeps 30 s. The lifeline is the child's stdin.
    fn guarded(tag: &str, marker: &Path) -> std::process::Child {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(GUARD)
            .arg(tag)
            .arg(format!(
                "(sleep 2; touch '{}') & sleep 30",
                marker.display()
            ))
            .stdin(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_step_whose_lifeline_closes_dies_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("still-alive");
        let mut child = guarded("deckhand#7@lifeline", &marker);
        std::thread::sleep(Duration::from_millis(300));
        // What the kernel does when the bot dies: its end of the pipe closes.
        drop(child.stdin.take());
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "the guard killed its group");
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            !marker.exists(),
            "a child of the step outlived the lifeline"
        );
    }

    #[test]
    fn a_sweep_kills_what_carries_the_tag_and_its_group_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("still-alive");
        // The bot is "alive" for both: their lifelines stay open.
        let mut orphan = guarded("deckhand#12@sweeptest", &marker);
        let mut other = guarded("deckhand#1@sweeptest", &marker);
        std::thread::sleep(Duration::from_millis(300));
        let swept = sweep_local("deckhand#12@sweeptest").unwrap();
        // The guard, the step's shell, its subshell, `sleep 30`, the watcher (+ `sleep 2`).
        assert!(swept.killed >= 4, "{swept:?}");
        assert_eq!(orphan.wait().unwrap().signal(), Some(9));
        assert!(
            other.try_wait().unwrap().is_none(),
            "#1 is not #12: it must live on"
        );
        assert_eq!(sweep_local("deckhand#12@sweeptest").unwrap().killed, 0);
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            marker.exists(),
            "#1's step went on (only #12's were killed)"
        );
        let _ = other.kill();
        let _ = sweep_local("deckhand#1@sweeptest");
    }
}
