//! Executors run one recipe step (a shell script) on one host and stream its output.
//!
//! Invariant: this is the only module that starts processes (and, later, SSH sessions). What a
//! user typed reaches a step only as the value of an environment variable, never as script
//! text: the script comes from the recipe, the values from [`Job::vars`].

pub mod health;
pub mod local;

use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::mpsc;

pub use local::LocalExecutor;

/// One step to run on one host.
#[derive(Debug, Clone)]
pub struct Job {
    /// Which app/env/host the step is for; the executor maps this to a place (a directory for
    /// local hosts, a connection for SSH hosts).
    pub app: String,
    pub env: String,
    pub host: String,
    /// The recipe's shell text, run by `sh -c`.
    pub script: String,
    /// `DECKHAND_*` values, passed as environment variables so no value is ever pasted into
    /// the script.
    pub vars: Vec<(String, String)>,
    /// Wall-clock limit; the whole process tree is killed when it is reached.
    pub timeout: Duration,
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
}

/// Runs steps on hosts. The engine owns one per kind of host address; the SSH executor will
/// implement the same trait.
#[async_trait]
pub trait Executor: Send + Sync {
    /// Runs `job` to the end, sending each line of output to `out` as it is printed. Output
    /// that cannot be delivered (the receiver is gone) is dropped, never blocks the step.
    async fn run(&self, job: &Job, out: mpsc::Sender<Line>) -> Result<Exit, ExecError>;
}
