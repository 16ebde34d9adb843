//! The local executor: runs steps as child processes on the machine the bot runs on, each
//! host in its own directory `<data>/hosts/<app>/<env>/<host>`.

use super::{ExecError, Executor, Exit, Job, Line, Stream, drain, pump};
use async_trait::async_trait;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
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
            .arg(&job.script)
            .current_dir(&dir)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout can kill everything the step started.
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

        let exit = match tokio::time::timeout(job.timeout, child.wait()).await {
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
            Err(_elapsed) => {
                if let Some(pgid) = pgid {
                    kill_group(pgid, &mut child).await;
                }
                Exit::TimedOut
            }
        };

        for reader in readers.into_iter().flatten() {
            drain(reader).await;
        }
        Ok(exit)
    }
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
}
