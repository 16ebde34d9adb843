//! Executors run one recipe step (a shell script) on one host and stream its output.
//!
//! Invariant: this is the only module that starts processes and SSH sessions. What a user
//! typed reaches a step only as the value of an environment variable, never as script text:
//! the script comes from the recipe, the values from [`Job::vars`] (shell-quoted when they have
//! to cross SSH).
//!
//! Invariant: **a step never outlives its bot unnoticed.** Every step runs under a guard that
//! holds a lifeline to the bot (the step's stdin pipe, which the bot never writes): when the bot
//! goes away, by any signal including SIGKILL, the kernel closes the pipe and the guard kills
//! the step's whole process group (on an SSH host, sshd closes the session's stdin and the
//! wrapper does the same there). Every process of a deploy's steps carries the deploy's
//! [`Job::tag`] in its command line, so [`Executor::sweep`] can find and end what is left of
//! it after a crash. See docs/reliability.md.

pub mod health;
pub mod local;
pub mod router;
pub mod ssh;

use async_trait::async_trait;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Host, HostAddress, RecipeEnv};

pub use local::LocalExecutor;
pub use router::Router;
pub use ssh::SshExecutor;

/// Where a host's steps run: its address and, for SSH hosts, the recipe env's `deploy_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub address: HostAddress,
    /// The working directory on an SSH host (see [`ssh`] for how it is resolved). Unused for
    /// local hosts, which always run in their own directory under the data directory.
    pub deploy_to: Option<String>,
}

impl Place {
    /// The place of `host` in the recipe env `env`.
    pub fn of(env: &RecipeEnv, host: &Host) -> Place {
        Place {
            address: host.address.clone(),
            deploy_to: env.deploy_to.clone(),
        }
    }

    /// The machine the bot runs on.
    pub fn local() -> Place {
        Place {
            address: HostAddress::Local,
            deploy_to: None,
        }
    }
}

/// One step to run on one host.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which app/env/host the step is for; the executor maps this to a place (a directory for
    /// local hosts, a connection for SSH hosts).
    pub app: String,
    pub env: String,
    pub host: String,
    /// Where the host is; the router picks the executor by its address.
    pub place: Place,
    /// The recipe's shell text, run by `sh -c`.
    pub script: String,
    /// `DECKHAND_*` values, passed as environment variables so no value is ever pasted into
    /// the script.
    pub vars: Vec<(String, String)>,
    /// Wall-clock limit; the whole process tree is killed when it is reached.
    pub timeout: Duration,
    /// A look, not a change (the version probe, the release check): the host's directory is
    /// not created for it; where it does not exist the job prints nothing and exits 0, so a
    /// host that was never deployed to stays untouched.
    pub look_only: bool,
    /// The deploy's mark (`deckhand#12@<log>`, see [`step_tag`]), put in the command line of
    /// the step's processes so a later [`Executor::sweep`] can find them. `None` for looks.
    pub tag: Option<String>,
    /// Cancelled to stop the step now (a shutdown whose grace ran out): its process tree is
    /// ended as on a timeout, and the run returns [`Exit::Stopped`].
    pub halt: CancellationToken,
}

/// The mark every process of deploy `id`'s steps carries in its command line. `log` tells this
/// deploy log apart from any other deckhand's on the same host (deploy ids repeat across logs);
/// the `@` after the id keeps `#1` from matching `#12`.
pub fn step_tag(log: &str, id: i64) -> String {
    format!("deckhand#{id}@{log}")
}

/// What [`Executor::sweep`] found on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Swept {
    /// Processes that carried the tag (or shared a process group with one that did) and were
    /// killed.
    pub killed: usize,
}

/// Which stream a line of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of a step's output, as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub host: String,
    pub stream: Stream,
    pub text: String,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Killed by a signal it did not expect (not our timeout).
    Signal(i32),
    TimedOut,
    /// Stopped by deckhand through [`Job::halt`] (a shutdown whose grace ran out).
    Stopped,
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::TimedOut => f.write_str("timed out"),
            Exit::Stopped => f.write_str("stopped by deckhand"),
        }
    }
}

/// A step could not be run at all (as opposed to running and failing).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("could not prepare host {host}'s directory {dir}")]
    Workdir {
        host: String,
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start the step on host {host}")]
    Spawn {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lost track of the step on host {host}")]
    Wait {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// Looking for (or killing) what is left of a deploy on a host failed.
    #[error("could not check host {host} for processes left by the deploy")]
    Sweep {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// An SSH host could not be connected to. `cause` is written for a user ("connection
    /// refused", "its host key does not match known_hosts …").
    #[error("could not reach {host} ({address}): {cause}")]
    Unreachable {
        host: String,
        address: String,
        cause: String,
    },
    /// The step was started on an SSH host but its end was never reported: the connection was
    /// lost (or the wrapper around the step was killed). What it did on the host is unknown.
    #[error("lost the connection to {host} ({address}) during the step: {cause}")]
    Lost {
        host: String,
        address: String,
        cause: String,
    },
}

/// Runs steps on hosts. The engine holds one (a [`Router`]) that sends each job to the
/// executor for its host's address.
#[async_trait]
pub trait Executor: Send + Sync {
    /// Runs `job` to the end, sending each line of output to `out` as it is printed. Output
    /// that cannot be delivered (the receiver is gone) is dropped, never blocks the step.
    async fn run(&self, job: &Job, out: mpsc::Sender<Line>) -> Result<Exit, ExecError>;

    /// Opens what `hosts` (name, place) need before any step runs there, all at once, and holds
    /// it until [`Executor::close`]. One result per host, in order; an `Err` names the host and
    /// the cause. Local hosts need nothing.
    async fn reach(&self, hosts: &[(&str, &Place)]) -> Vec<Result<(), ExecError>> {
        hosts.iter().map(|_| Ok(())).collect()
    }

    /// Gives back what [`Executor::reach`] opened, for the places it reached (not those it
    /// returned an error for). A connection is closed once nobody holds it any more.
    async fn close(&self, _places: &[&Place]) {}

    /// Kills every process on `host` whose command line carries `tag` (see [`step_tag`]), with
    /// the rest of its process group, and makes sure none is left. Crash recovery calls it
    /// before it lets another deploy reach the host.
    async fn sweep(&self, host: &str, place: &Place, tag: &str) -> Result<Swept, ExecError>;
}

/// How long to keep reading output after a step's shell exited: a daemon the step started
/// may hold the pipes open for ever, and must not hold the deploy with it.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Waits for output readers to reach the end of their streams, all of them together within
/// one [`DRAIN_AFTER_EXIT`] (a leftover process holding both stdout and stderr costs one grace
/// period, not one per stream); the readers still going then are stopped.
pub(crate) async fn drain(readers: impl IntoIterator<Item = tokio::task::JoinHandle<()>>) {
    let readers: Vec<_> = readers.into_iter().collect();
    let aborts: Vec<_> = readers.iter().map(|r| r.abort_handle()).collect();
    if tokio::time::timeout(DRAIN_AFTER_EXIT, futures::future::join_all(readers))
        .await
        .is_err()
    {
        for abort in aborts {
            abort.abort();
        }
    }
}

/// Lines longer than this are cut: one runaway line must not eat the log or the chat.
const MAX_LINE_BYTES: usize = 8 * 1024;

/// Reads a stream line by line as bytes, so invalid UTF-8 cannot stop it; line ends are
/// stripped and overlong lines cut.
pub(crate) struct LineReader<R> {
    reader: BufReader<R>,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader: BufReader::new(reader),
            buf: Vec::with_capacity(256),
        }
    }

    /// The next line, or `None` at the end of the stream (or on a read error). At most
    /// `MAX_LINE_BYTES` (and its line end) of a line are kept in memory: the rest is read and
    /// dropped, so a step printing gigabytes without a newline costs no more than that.
    pub(crate) async fn next_line(&mut self) -> Option<String> {
        self.buf.clear();
        let mut read_any = false;
        loop {
            let chunk = self.reader.fill_buf().await.ok()?;
            if chunk.is_empty() {
                break;
            }
            read_any = true;
            let (len, ends) = match chunk.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (chunk.len(), false),
            };
            let room = (MAX_LINE_BYTES + 2).saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..len.min(room)]);
            self.reader.consume(len);
            if ends {
                break;
            }
        }
        if !read_any {
            return None;
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        self.buf.truncate(MAX_LINE_BYTES);
        Some(String::from_utf8_lossy(&self.buf).into_owned())
    }
}

/// Forwards every line of `reader` to `out` as it is printed. A slow consumer applies
/// backpressure; a gone one means nobody listens, and reading stops.
pub(crate) async fn pump(
    reader: impl AsyncRead + Unpin,
    host: String,
    stream: Stream,
    out: mpsc::Sender<Line>,
) {
    let mut lines = LineReader::new(reader);
    while let Some(text) = lines.next_line().await {
        let line = Line {
            host: host.clone(),
            stream,
            text,
        };
        if out.send(line).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[tokio::test]
    async fn an_endless_line_is_cut_without_being_held_whole() {
        let mut input = vec![b'x'; 1 << 20];
        input.extend_from_slice(b"\r\nnext\n\nlast without newline");
        let mut lines = LineReader::new(&input[..]);
        let first = lines.next_line().await.unwrap();
        assert_eq!(first.len(), MAX_LINE_BYTES);
        assert!(
            lines.buf.capacity() < 4 * MAX_LINE_BYTES,
            "never held the whole line"
        );
        assert_eq!(lines.next_line().await.as_deref(), Some("next"));
        assert_eq!(lines.next_line().await.as_deref(), Some(""));
        assert_eq!(
            lines.next_line().await.as_deref(),
            Some("last without newline")
        );
        assert_eq!(lines.next_line().await, None);
    }
}
