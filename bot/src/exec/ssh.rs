//! The SSH executor: runs steps on `user@host[:port]` hosts through the system's OpenSSH, one
//! multiplexed master connection per host (the `openssh` crate, native mux).
//!
//! - **Connections.** [`Executor::reach`] opens the masters of a deploy's hosts in parallel and
//!   holds a lease on each; every step of the deploy reuses them; [`Executor::close`] gives the
//!   leases back and a master is shut down once nobody holds it. A master that died is opened
//!   again by the next step that needs it (a rollback after a lost connection, say).
//! - **Isolation.** `ssh -F /dev/null`: the bot's own `~/.ssh/config` plays no part; only the
//!   `[ssh]` settings do (identity file, known_hosts file, host-key policy, connect timeout).
//!   Host keys are checked strictly unless `host_key_policy = "accept-new"`.
//! - **Sessions per host.** At most `max_sessions` commands run at once over one master (sshd
//!   refuses more than its `MaxSessions`, 10 by default); the rest wait their turn.
//! - **A step on the host** runs as `sh -c` of a small wrapper: `cd "$HOME"`, then enter the
//!   working directory (created when missing, never for a look-only job) (`deploy_to`, or `deckhand/<app>/<env>` when the recipe sets
//!   none; a relative path, or one starting with `~/`, is relative to the login user's home),
//!   export the `DECKHAND_*` values shell-quoted, and run the recipe's script as
//!   `timeout -k 2 <secs> sh -c '<script>'`, so the time limit is enforced *on the host* and
//!   kills the step's whole process group there (a local timeout would leave it running).
//!   The host needs a POSIX login shell and coreutils' `timeout`.
//! - **Exit codes.** The wrapper reports the step's real exit code on a marker line of its
//!   own on stderr (never shown): OpenSSH's mux protocol reports 127 as "not found" and 255 as
//!   "terminated", indistinguishable from a lost connection. No marker means the connection
//!   was lost (or the wrapper was killed): an [`ExecError::Lost`] naming the host.
//! - **Timeouts.** `timeout` exits 124 (or 137 when the step ignored SIGTERM and was killed
//!   after the grace period); such a code counts as [`Exit::TimedOut`] only when the step ran
//!   for at least its time limit, so a script that itself exits 124 early keeps its own code.

use super::{ExecError, Executor, Exit, Job, Line, LineReader, Place, Stream, Swept, drain, pump};
use crate::config::{HostAddress, HostKeyPolicy, SshSettings};
use async_trait::async_trait;
use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Between the step's SIGTERM and SIGKILL on the host.
const KILL_GRACE_SECS: u32 = 2;
/// How long a master with no session open stays (in seconds): one left behind by a bot that was
/// killed goes away by itself then. A live bot opens a master that exited again when it needs it.
const CONTROL_PERSIST: std::num::NonZeroUsize = std::num::NonZeroUsize::new(120).expect("not 0");
/// How often an idle master asks the server whether it is still there (3 missed answers and
/// the connection counts as lost).
const SERVER_ALIVE: Duration = Duration::from_secs(15);
/// How long past its time limit (and the kill grace) a step may stay silent before the bot
/// stops waiting for the host to report its end.
const REPORT_SLACK: Duration = Duration::from_secs(30);
/// How long to wait for the exit status once the step reported its end and its output ended.
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(5);

/// Runs steps on SSH hosts. Dropping it shuts down every master it still holds.
pub struct SshExecutor {
    settings: SshSettings,
    control_dir: PathBuf,
    /// By address (`user@host:port`): the connection and how many leases hold it.
    hosts: Mutex<HashMap<String, Entry>>,
    /// Makes each step's exit marker unique.
    runs: AtomicU64,
}

struct Entry {
    conn: Arc<Conn>,
    leases: usize,
}

/// One host: its master (opened lazily, again after it died) and its session slots.
struct Conn {
    /// As shown to users.
    address: String,
    user: Option<String>,
    host: String,
    port: Option<u16>,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    slots: Semaphore,
}

impl SshExecutor {
    /// Control sockets go to `settings.control_dir`, else `/tmp/deckhand-ssh-<uid>`; either
    /// is created (mode 0700) when missing.
    pub fn new(settings: &SshSettings) -> std::io::Result<Self> {
        let control_dir = match &settings.control_dir {
            Some(dir) => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?;
                dir.clone()
            }
            None => default_control_dir()?,
        };
        Ok(Self {
            settings: settings.clone(),
            control_dir,
            hosts: Mutex::new(HashMap::new()),
            runs: AtomicU64::new(0),
        })
    }

    /// The connection for an address, created (unopened) if new; with `lease`, held until
    /// [`SshExecutor::release`].
    fn conn(&self, address: &HostAddress, lease: bool) -> Option<Arc<Conn>> {
        let HostAddress::Ssh { user, host, port } = address else {
            return None;
        };
        let key = address.to_string();
        let mut hosts = self.hosts.lock().expect("ssh hosts lock");
        let entry = hosts.entry(key.clone()).or_insert_with(|| Entry {
            conn: Arc::new(Conn {
                address: key,
                user: user.clone(),
                host: host.clone(),
                port: *port,
                session: tokio::sync::Mutex::new(None),
                slots: Semaphore::new(self.settings.max_sessions.max(1) as usize),
            }),
            leases: 0,
        });
        if lease {
            entry.leases += 1;
        }
        Some(entry.conn.clone())
    }

    /// Gives back one lease; the last one closes the master.
    async fn release(&self, address: &HostAddress) {
        let gone = {
            let mut hosts = self.hosts.lock().expect("ssh hosts lock");
            let key = address.to_string();
            match hosts.get_mut(&key) {
                Some(e) if e.leases > 1 => {
                    e.leases -= 1;
                    None
                }
                Some(_) => hosts.remove(&key),
                None => None,
            }
        };
        if let Some(entry) = gone {
            let session = entry.conn.session.lock().await.take();
            if let Some(session) = session.and_then(|s| Arc::try_unwrap(s).ok())
                && let Err(err) = session.close().await
            {
                tracing::debug!("closing the ssh master of {}: {err}", entry.conn.address);
            }
            // A session still shared by a running step is shut down when that step drops it.
        }
    }

    fn builder(&self, conn: &Conn) -> SessionBuilder {
        let s = &self.settings;
        let mut b = SessionBuilder::default();
        if let Some(user) = &conn.user {
            b.user(user.clone());
        }
        if let Some(port) = conn.port {
            b.port(port);
        }
        if let Some(key) = &s.identity_file {
            b.keyfile(key);
        }
        b.known_hosts_check(match s.host_key_policy {
            HostKeyPolicy::Strict => KnownHosts::Strict,
            HostKeyPolicy::AcceptNew => KnownHosts::Add,
        });
        if let Some(known) = &s.known_hosts {
            b.user_known_hosts_file(known);
        }
        b.config_file("/dev/null")
            .control_persist(openssh::ControlPersist::IdleFor(CONTROL_PERSIST))
            .control_directory(&self.control_dir)
            .connect_timeout(s.connect_timeout.max(Duration::from_secs(1)))
            .server_alive_interval(SERVER_ALIVE);
        b
    }

    /// The open master of `conn`, opening it when there is none (or it died).
    async fn session(&self, conn: &Conn, host: &str) -> Result<Arc<Session>, ExecError> {
        let mut slot = conn.session.lock().await;
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let builder = self.builder(conn);
        // ssh's own ConnectTimeout covers the TCP connect and the key exchange; this is only a
        // backstop against a server that accepts and then says nothing at all.
        let limit = self.settings.connect_timeout * 3 + Duration::from_secs(5);
        let opened = tokio::time::timeout(limit, builder.connect_mux(&conn.host)).await;
        let session = match opened {
            Ok(Ok(s)) => Arc::new(s),
            Ok(Err(err)) => {
                return Err(ExecError::Unreachable {
                    host: host.to_owned(),
                    address: conn.address.clone(),
                    cause: connect_cause(&err, self.settings.connect_timeout),
                });
            }
            Err(_) => {
                return Err(ExecError::Unreachable {
                    host: host.to_owned(),
                    address: conn.address.clone(),
                    cause: format!("no answer within {}s", limit.as_secs()),
                });
            }
        };
        *slot = Some(session.clone());
        Ok(session)
    }

    /// Forgets `dead` as the master of `conn` (if it still is), so the next step reconnects.
    async fn forget(conn: &Conn, dead: &Arc<Session>) {
        let mut slot = conn.session.lock().await;
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, dead)) {
            *slot = None;
        }
    }
}

/// How often a refused session is asked for again (about 1 s in all) before the step fails.
const SPAWN_RETRIES: u32 = 12;

/// An error with its causes, `a: b: c`, for messages that must say what really happened.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait]
impl Executor for SshExecutor {
    async fn run(&self, job: &Job, out: mpsc::Sender<Line>) -> Result<Exit, ExecError> {
        let Some(conn) = self.conn(&job.place.address, false) else {
            return Err(ExecError::Spawn {
                host: job.host.clone(),
                source: std::io::Error::other("not an SSH host"),
            });
        };
        let mut session = self.session(&conn, &job.host).await?;
        let _slot = conn.slots.acquire().await.expect("never closed");
        let marker = format!(
            "deckhand-exit-{}-{}",
            std::process::id(),
            self.runs.fetch_add(1, Ordering::Relaxed)
        );
        let lost = |cause: String| ExecError::Lost {
            host: job.host.clone(),
            address: conn.address.clone(),
            cause,
        };
        let command = remote_command(job, &marker).map_err(|why| ExecError::Spawn {
            host: job.host.clone(),
            source: std::io::Error::other(why),
        })?;
        // sshd may refuse a new session for a moment even below `max_sessions`: it counts a
        // finished session until its channel is closed, a round trip after we saw it end. The
        // command has not started then, so trying again is safe. A dead master (it went away,
        // or exited after `CONTROL_PERSIST` idle) is opened again, once.
        let mut attempt = 0u32;
        let mut reopened = false;
        let mut child = loop {
            let spawned = session
                .clone()
                .arc_raw_command(command.clone())
                // The lifeline: the step's watcher on the host ends it when this closes.
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .await;
            match spawned {
                Ok(child) => break child,
                Err(err) if attempt < SPAWN_RETRIES && session.check().await.is_ok() => {
                    attempt += 1;
                    tracing::debug!(host = %job.host, attempt, "session refused, retrying: {}", chain(&err));
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt.min(10))))
                        .await;
                }
                Err(err) if !reopened => {
                    Self::forget(&conn, &session).await;
                    reopened = true;
                    tracing::debug!(host = %job.host, "the master is gone, opening it again: {}", chain(&err));
                    session = self.session(&conn, &job.host).await?;
                }
                Err(err) => {
                    Self::forget(&conn, &session).await;
                    return Err(lost(format!(
                        "the step could not be started ({})",
                        chain(&err)
                    )));
                }
            }
        };
        let started = Instant::now();
        // Held until the step reported its end: closing it (or the bot dying, or the
        // connection going) makes the wrapper on the host end the step's process group.
        let mut lifeline = child.stdin().take();
        let (report, reported) = oneshot::channel();
        let stdout = child
            .stdout()
            .take()
            .map(|r| tokio::spawn(pump(r, job.host.clone(), Stream::Stdout, out.clone())));
        let stderr = child.stderr().take().map(|r| {
            tokio::spawn(pump_stderr(
                r,
                job.host.clone(),
                out.clone(),
                marker,
                report,
            ))
        });

        // The mux connection (held by `child`) must stay open until the output is read: the
        // master drops output it has not yet written when its client goes away. So: first the
        // wrapper's report, then the rest of the output, and only then the exit status.
        let limit = job.timeout + Duration::from_secs(KILL_GRACE_SECS.into()) + REPORT_SLACK;
        let reported = tokio::time::timeout(limit, async {
            tokio::pin!(reported);
            tokio::select! {
                rc = &mut reported => rc,
                () = job.halt.cancelled() => {
                    // Asked to stop: close the lifeline, and the host ends the step (SIGTERM,
                    // then SIGKILL after the grace); its report follows.
                    lifeline.take();
                    reported.await
                }
            }
        })
        .await;
        drop(lifeline);
        let elapsed = started.elapsed();
        drain([stdout, stderr].into_iter().flatten()).await;
        let ended = tokio::time::timeout(EXIT_STATUS_WAIT, child.wait()).await;
        match reported {
            Ok(Ok(_)) if job.halt.is_cancelled() => Ok(Exit::Stopped),
            Ok(Ok(rc)) => Ok(decode(rc, elapsed, job.timeout)),
            Err(_) => Err(lost(format!(
                "the host did not report the step's end within {}s",
                limit.as_secs()
            ))),
            // stderr ended without the report.
            Ok(Err(_)) => {
                if matches!(ended, Ok(Ok(_))) || session.check().await.is_ok() {
                    Err(lost(
                        "the step ended without reporting its exit code (was its shell killed?)"
                            .to_owned(),
                    ))
                } else {
                    Self::forget(&conn, &session).await;
                    Err(lost("the connection was closed".to_owned()))
                }
            }
        }
    }

    async fn reach(&self, hosts: &[(&str, &Place)]) -> Vec<Result<(), ExecError>> {
        futures::future::join_all(hosts.iter().map(|(name, place)| async move {
            let Some(conn) = self.conn(&place.address, true) else {
                return Ok(());
            };
            match self.session(&conn, name).await {
                Ok(_) => Ok(()),
                Err(err) => {
                    self.release(&place.address).await;
                    Err(err)
                }
            }
        }))
        .await
    }

    async fn close(&self, places: &[&Place]) {
        futures::future::join_all(
            places
                .iter()
                .filter(|p| matches!(p.address, HostAddress::Ssh { .. }))
                .map(|p| self.release(&p.address)),
        )
        .await;
    }

    async fn sweep(&self, host: &str, place: &Place, tag: &str) -> Result<Swept, ExecError> {
        let Some(conn) = self.conn(&place.address, false) else {
            return Err(ExecError::Spawn {
                host: host.to_owned(),
                source: std::io::Error::other("not an SSH host"),
            });
        };
        let mut session = self.session(&conn, host).await?;
        if session.check().await.is_err() {
            Self::forget(&conn, &session).await;
            session = self.session(&conn, host).await?;
        }
        let _slot = conn.slots.acquire().await.expect("never closed");
        let failed = |why: String| ExecError::Sweep {
            host: host.to_owned(),
            source: std::io::Error::other(why),
        };
        // The tag goes in two pieces, so the sweep's own command line never matches it.
        let (head, tail) = tag.split_at(tag.find('@').unwrap_or(tag.len()));
        let q = |s: &str| {
            shlex::try_quote(s)
                .map(|c| c.into_owned())
                .unwrap_or_default()
        };
        let command = format!("exec sh -c {} sweep {} {}", q(SWEEP), q(head), q(tail));
        let output = tokio::time::timeout(
            SWEEP_TIMEOUT,
            session.clone().arc_raw_command(command).output(),
        )
        .await
        .map_err(|_| failed(format!("no answer within {}s", SWEEP_TIMEOUT.as_secs())))?
        .map_err(|err| ExecError::Lost {
            host: host.to_owned(),
            address: conn.address.clone(),
            cause: chain(&err),
        })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        match stdout
            .lines()
            .find_map(|l| l.strip_prefix("deckhand-swept "))
            .and_then(|n| n.trim().parse().ok())
        {
            Some(killed) => Ok(Swept { killed }),
            None => Err(failed(
                last_line(&String::from_utf8_lossy(&output.stderr)).to_string(),
            )),
        }
    }
}

/// The shell between `timeout` and the step's own: `sh -c TAGGED <tag> <script>` carries the tag
/// in its command line for as long as the step runs, while the step's shell keeps `sh` as its
/// `$0` (it names itself in error messages). The `exit` keeps a shell that would `exec` its
/// last command from replacing itself with the step's.
const TAGGED: &str = r#"sh -c "$1" sh; exit $?"#;

/// How long a sweep may take on a host.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`Executor::sweep`] runs on a host (`sh -c SWEEP sweep <tag up to @> <rest>`): kills
/// the process group of every process whose command line carries the tag, until none is
/// left; prints `deckhand-swept <processes killed>`. Needs `ps` (procps on Linux).
const SWEEP: &str = r#"tag="$1$2"
command -v ps >/dev/null 2>&1 || { echo "ps is missing on this host (install procps)" >&2; exit 2; }
me=$(ps -o pgid= -p $$ | tr -d ' ')
groups() {
  ps -ww -eo pgid=,stat=,args= | while read -r g st a; do
    case "$st" in Z*) continue ;; esac
    case "$a" in *"$tag"*) [ "$g" -gt 1 ] && [ "$g" != "$me" ] && echo "$g" ;; esac
  done | sort -u
}
killed=0
round=0
while [ "$round" -lt 50 ]; do
  gs=$(groups)
  if [ -z "$gs" ]; then echo "deckhand-swept $killed"; exit 0; fi
  for g in $gs; do
    n=$(ps -eo pgid=,stat= | awk -v g="$g" '$1 == g && $2 !~ /^Z/' | wc -l)
    killed=$((killed + n))
    kill -KILL -"$g" 2>/dev/null
  done
  sleep 0.1 2>/dev/null || sleep 1
  round=$((round + 1))
done
echo "processes marked $tag are still there after being killed" >&2
exit 1
"#;

/// Reads stderr like [`pump`], taking out the wrapper's exit marker (which may follow output
/// that did not end its line).
async fn pump_stderr(
    reader: impl tokio::io::AsyncRead + Unpin,
    host: String,
    out: mpsc::Sender<Line>,
    marker: String,
    report: oneshot::Sender<i32>,
) {
    let mut lines = LineReader::new(reader);
    let mut listening = true;
    let mut report = Some(report);
    // An empty line is held back one line: the newline the wrapper prints before its marker
    // makes one when the step's output ended its last line, and that one is not output.
    let mut held_empty = false;
    while let Some(text) = lines.next_line().await {
        if let Some(rest) = text.strip_prefix(marker.as_str()) {
            if let Some(rc) = rest.trim().parse::<i32>().ok()
                && let Some(report) = report.take()
            {
                let _ = report.send(rc);
            }
            held_empty = false;
            continue;
        }
        if std::mem::replace(&mut held_empty, text.is_empty()) && listening {
            listening = out
                .send(Line {
                    host: host.clone(),
                    stream: Stream::Stderr,
                    text: String::new(),
                })
                .await
                .is_ok();
        }
        if held_empty {
            continue;
        }
        if listening {
            let line = Line {
                host: host.clone(),
                stream: Stream::Stderr,
                text,
            };
            // Nobody listens any more; keep reading for the marker.
            listening = out.send(line).await.is_ok();
        }
    }
    // The stream ended without the marker (the connection went): an empty line held back
    // was the step's own.
    if held_empty && listening {
        let _ = out
            .send(Line {
                host,
                stream: Stream::Stderr,
                text: String::new(),
            })
            .await;
    }
}

/// The control directory when `[ssh]` names none: short (socket paths are limited to ~107
/// bytes), shared by this user's bots (each master gets a fresh directory inside it), and
/// refused unless it is a directory private to this user.
fn default_control_dir() -> std::io::Result<PathBuf> {
    let uid = nix::unistd::getuid();
    let dir = PathBuf::from(format!("/tmp/deckhand-ssh-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != uid.as_raw() || meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a directory private to this user; remove it, or set `control_dir` in [ssh]",
            dir.display()
        )));
    }
    Ok(dir)
}

/// A step's exit code as reported by the wrapper, with `timeout`'s own codes read as a
/// timeout when the step did run that long.
fn decode(rc: i32, elapsed: Duration, limit: Duration) -> Exit {
    if matches!(rc, 124 | 137) && elapsed >= limit {
        Exit::TimedOut
    } else {
        Exit::Code(rc)
    }
}

/// The working directory of a step on an SSH host, as the wrapper's `cd` will read it after
/// `cd "$HOME"`: absolute, or relative to the login user's home.
pub fn work_dir(job: &Job) -> String {
    match job.place.deploy_to.as_deref() {
        None => format!("deckhand/{}/{}", job.app, job.env),
        Some("~") => ".".to_owned(),
        Some(d) => d.strip_prefix("~/").unwrap_or(d).to_owned(),
    }
}

/// The command line sent to the host: `sh -c` of the wrapper (see the module's docs).
fn remote_command(job: &Job, marker: &str) -> Result<String, String> {
    let q = |s: &str| {
        shlex::try_quote(s)
            .map(|c| c.into_owned())
            .map_err(|_| format!("a value for the step contains a NUL byte: {s:?}"))
    };
    let dir = q(&work_dir(job))?;
    let mut w = String::with_capacity(job.script.len() + 512);
    w.push_str("cd \"$HOME\" 2>/dev/null || cd /\n");
    if job.look_only {
        // Nothing to look at where nothing was deployed: succeed with no output.
        w.push_str(&format!(
            "if ! [ -d {dir} ]; then\n  rc=0\nelif cd -- {dir}; then\n"
        ));
    } else {
        // `mkdir` only when needed: every process spawned here is paid on every step.
        w.push_str(&format!(
            "if cd -- {dir} 2>/dev/null || {{ mkdir -p -- {dir} && cd -- {dir}; }}; then\n"
        ));
    }
    for (name, value) in &job.vars {
        if !is_var_name(name) {
            return Err(format!("`{name}` is not a valid variable name"));
        }
        w.push_str(&format!("  export {name}={}\n", q(value)?));
    }
    let secs = job.timeout.as_secs_f64().max(0.001);
    // The step runs in the background, in `timeout`'s own process group, under a shell that
    // carries the tag (see [`TAGGED`]); the watcher reads the session's stdin, the bot's lifeline, and at its end
    // (the bot closed it, died, or the connection went) ends the step's group.
    w.push_str("  exec 3<&0 </dev/null\n");
    w.push_str(&format!(
        "  timeout -k {KILL_GRACE_SECS} {secs:.3} sh -c {} {} {} 3<&- &\n",
        q(TAGGED)?,
        q(job.tag.as_deref().unwrap_or("deckhand"))?,
        q(&job.script)?
    ));
    w.push_str("  t=$!\n");
    w.push_str(&format!(
        "  {{ while read -r _ <&3; do :; done; kill -TERM $t; sleep {}; kill -KILL -$t; }} >/dev/null 2>&1 &\n",
        KILL_GRACE_SECS + 1
    ));
    w.push_str("  w=$!\n  exec 3<&-\n  wait $t\n  rc=$?\n  kill $w 2>/dev/null\n");
    w.push_str("else\n  rc=$?\nfi\n");
    // On a line of its own even after output that did not end its line (which may be cut
    // at the line limit): the reader drops the one empty line this may add.
    w.push_str(&format!(
        "printf '\\n%s %s\\n' {} \"$rc\" >&2\n",
        q(marker)?
    ));
    Ok(format!("exec sh -c {}", q(&w)?))
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a master could not be opened, for a user: the first sentence of what ssh said, or the
/// plain cause for the usual ones.
fn connect_cause(err: &openssh::Error, timeout: Duration) -> String {
    let text = match err {
        openssh::Error::Connect(io) => io.to_string(),
        other => chain(other),
    };
    let lower = text.to_lowercase();
    if lower.contains("remote host identification has changed")
        || lower.contains("has changed and you have requested strict")
    {
        return "its host key does not match the one in known_hosts (it changed, or someone is \
                in between); refused under the strict host-key policy"
            .to_owned();
    }
    if lower.contains("host key is known for") || lower.contains("no matching host key") {
        return "its host key is not in known_hosts; refused under the strict host-key policy \
                (add the key to known_hosts, or set host_key_policy = \"accept-new\")"
            .to_owned();
    }
    if lower.contains("host key verification failed") {
        return "host key verification failed (check known_hosts)".to_owned();
    }
    if lower.contains("connection refused") {
        return "connection refused".to_owned();
    }
    if lower.contains("timed out") {
        return format!(
            "no answer within {}s (connection timed out)",
            timeout.as_secs()
        );
    }
    if lower.contains("permission denied") {
        return format!(
            "authentication failed: the server refused the key ({})",
            last_line(&text)
        );
    }
    if lower.contains("could not resolve") {
        return format!("unknown host name ({})", last_line(&text));
    }
    last_line(&text)
}

/// The last non-empty line of what ssh said, without its `ssh: ` prefix.
fn last_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("ssh failed without saying why")
        .trim_start_matches("ssh: ")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(deploy_to: Option<&str>) -> Job {
        Job {
            app: "api".into(),
            env: "prod".into(),
            host: "api-1".into(),
            place: Place {
                address: HostAddress::parse("deploy@10.0.0.5:2222").unwrap(),
                deploy_to: deploy_to.map(str::to_owned),
            },
            script: "echo \"$DECKHAND_USER\"".into(),
            vars: vec![("DECKHAND_USER".into(), "o'brien $(id) `x`".into())],
            timeout: Duration::from_millis(1500),
            look_only: false,
            tag: Some("deckhand#1@test".into()),
            halt: Default::default(),
        }
    }

    #[test]
    fn the_working_directory_is_relative_to_home_unless_absolute() {
        assert_eq!(work_dir(&job(None)), "deckhand/api/prod");
        assert_eq!(work_dir(&job(Some("/srv/api"))), "/srv/api");
        assert_eq!(work_dir(&job(Some("~/apps/api"))), "apps/api");
        assert_eq!(work_dir(&job(Some("apps/api"))), "apps/api");
        assert_eq!(work_dir(&job(Some("~"))), ".");
    }

    #[test]
    fn the_wrapper_quotes_values_and_limits_time_on_the_host() {
        let cmd = remote_command(&job(Some("/srv/my app")), "M-1").unwrap();
        assert!(cmd.starts_with("exec sh -c '"), "{cmd}");
        // The inner text as the outer shell hands it to sh.
        let inner = shlex::split(&cmd).unwrap().pop().unwrap();
        assert!(inner.contains("timeout -k 2 1.500 sh -c "), "{inner}");
        assert!(inner.contains("mkdir -p -- '/srv/my app'"), "{inner}");
        let export = inner
            .lines()
            .find(|l| l.contains("export DECKHAND_USER="))
            .unwrap();
        let value = shlex::split(export.trim()).unwrap();
        assert_eq!(value[1], "DECKHAND_USER=o'brien $(id) `x`");
    }

    #[test]
    fn a_nul_byte_or_a_bad_name_is_refused_not_sent() {
        let mut j = job(None);
        j.vars = vec![("DECKHAND_X".into(), "a\0b".into())];
        assert!(remote_command(&j, "M").is_err());
        j.vars = vec![("X;rm".into(), "a".into())];
        assert!(remote_command(&j, "M").is_err());
    }

    #[test]
    fn timeouts_are_told_from_a_scripts_own_exit_code() {
        let limit = Duration::from_secs(2);
        assert_eq!(decode(124, Duration::from_secs(2), limit), Exit::TimedOut);
        assert_eq!(decode(137, Duration::from_secs(5), limit), Exit::TimedOut);
        assert_eq!(decode(124, Duration::from_secs(1), limit), Exit::Code(124));
        assert_eq!(decode(255, Duration::from_secs(3), limit), Exit::Code(255));
        assert_eq!(decode(127, Duration::ZERO, limit), Exit::Code(127));
    }

    #[test]
    fn connection_errors_read_as_causes() {
        let e = |s: &str| {
            connect_cause(
                &openssh::Error::Connect(std::io::Error::other(s.to_owned())),
                Duration::from_secs(10),
            )
        };
        assert_eq!(
            e("connect to host 127.0.0.3 port 2202: Connection refused"),
            "connection refused"
        );
        assert!(
            e("No ED25519 host key is known for [127.0.0.2]:2201 and you have requested strict checking.\r\nHost key verification failed.")
                .contains("not in known_hosts")
        );
        assert!(
            e("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.")
                .contains("does not match")
        );
        assert!(
            e("root@127.0.0.2: Permission denied (publickey).")
                .starts_with("authentication failed")
        );
    }
}
