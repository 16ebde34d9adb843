//! What a running deploy shows: one status message edited as it advances, and its command
//! output batched into the thread under it (docs/lifecycle.md).

use super::Inner;
use crate::core::command::DeployId;
use crate::exec::{Line, Stream};
use crate::store::OutputLine;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Lines per thread message: enough to read, few enough not to flood the channel.
const LINES_PER_POST: usize = 20;
/// How long a line waits for companions before it is posted anyway.
const POST_AFTER: Duration = Duration::from_secs(1);
/// Output beyond this many lines goes to the log only; the thread says so once.
const MAX_THREAD_LINES: usize = 400;

/// The deploy's status message.
pub struct StatusLine {
    inner: Arc<Inner>,
    channel: String,
    msg: std::sync::Mutex<Option<String>>,
    label: String,
    /// Lines kept under every state (a GitHub-backed deploy's commit and changelog).
    footer: std::sync::Mutex<Option<String>>,
}

impl StatusLine {
    pub fn new(inner: Arc<Inner>, channel: String, msg: Option<String>, label: String) -> Self {
        Self {
            inner,
            channel,
            msg: std::sync::Mutex::new(msg),
            label,
            footer: std::sync::Mutex::new(None),
        }
    }

    /// Lines shown under the status from now on.
    pub fn set_footer(&self, text: &str) {
        *self.footer.lock().expect("status lock") = Some(text.to_owned());
    }

    /// Replaces the status with `label: text` (or posts it, when the first post failed).
    pub async fn set(&self, text: &str) {
        let mut full = format!("{}: {text}", self.label);
        if let Some(footer) = self.footer.lock().expect("status lock").as_deref() {
            full.push('\n');
            full.push_str(footer);
        }
        match self.msg() {
            Some(m) => self.inner.edit(&self.channel, &m, &full).await,
            None => {
                let posted = self.inner.say(&self.channel, &full).await;
                *self.msg.lock().expect("status lock") = posted;
            }
        }
    }

    pub fn msg(&self) -> Option<String> {
        self.msg.lock().expect("status lock").clone()
    }
}

/// Carries a deploy's output to the log (every line) and to the chat thread (batched).
pub struct Pump {
    lines: mpsc::Sender<Line>,
    flushes: mpsc::Sender<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Pump {
    pub fn spawn(
        inner: Arc<Inner>,
        deploy: DeployId,
        channel: String,
        parent: Option<String>,
    ) -> Self {
        let (lines, lines_rx) = mpsc::channel(1024);
        let (flushes, flushes_rx) = mpsc::channel(4);
        let task = tokio::spawn(pump(inner, deploy, channel, parent, lines_rx, flushes_rx));
        Self {
            lines,
            flushes,
            task,
        }
    }

    /// Where an executor sends the lines of a step.
    pub fn sender(&self) -> mpsc::Sender<Line> {
        self.lines.clone()
    }

    /// Returns once every line sent so far is posted and handed to the log writer.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.flushes.send(tx).await.is_ok() {
            let _ = rx.await;
        }
    }

    pub async fn close(self) {
        self.flush().await;
        drop(self.lines);
        drop(self.flushes);
        let _ = self.task.await;
    }
}

async fn pump(
    inner: Arc<Inner>,
    deploy: DeployId,
    channel: String,
    parent: Option<String>,
    mut lines: mpsc::Receiver<Line>,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
) {
    let max_chars = inner.chat.limits_for(&channel).max_chars;
    let mut thread = Thread {
        inner: inner.clone(),
        deploy,
        channel,
        parent,
        buf: Vec::new(),
        chars: 0,
        max_chars,
        posted: 0,
        cut: false,
    };
    let mut deadline = tokio::time::Instant::now();
    loop {
        tokio::select! {
            // Lines first: a flush asked for after a step ended must see all its lines.
            biased;
            line = lines.recv() => {
                let Some(line) = line else { break };
                let record = OutputLine {
                    deploy_id: deploy,
                    host: line.host.clone(),
                    stream: match line.stream {
                        Stream::Stdout => crate::store::Stream::Stdout,
                        Stream::Stderr => crate::store::Stream::Stderr,
                    },
                    at: inner.clock.now(),
                    text: line.text.clone(),
                };
                if let Err(err) = inner.output.send(record).await {
                    tracing::error!("deploy #{deploy}: a line of output could not be logged: {err:#}");
                }
                let text = thread.shown(&line);
                if thread.overflows(&text) {
                    thread.post().await;
                }
                if thread.buf.is_empty() {
                    deadline = tokio::time::Instant::now() + POST_AFTER;
                }
                thread.push(text);
                if thread.buf.len() >= LINES_PER_POST {
                    thread.post().await;
                }
            }
            ack = flushes.recv() => {
                let Some(ack) = ack else { break };
                thread.post().await;
                let _ = ack.send(());
            }
            _ = tokio::time::sleep_until(deadline), if !thread.buf.is_empty() => thread.post().await,
        }
    }
    thread.post().await;
}

struct Thread {
    inner: Arc<Inner>,
    deploy: DeployId,
    channel: String,
    parent: Option<String>,
    buf: Vec<String>,
    /// Characters in `buf`, line ends included.
    chars: usize,
    /// The longest message the channel's platform takes.
    max_chars: usize,
    posted: usize,
    cut: bool,
}

impl Thread {
    /// A line as the thread shows it (`host | text`, `!` for stderr), cut to what one message
    /// of the platform takes, with where to find the rest.
    fn shown(&self, line: &Line) -> String {
        let mark = match line.stream {
            Stream::Stdout => '|',
            Stream::Stderr => '!',
        };
        let text = format!("{} {mark} {}", line.host, line.text);
        if text.chars().count() <= self.max_chars {
            return text;
        }
        let pointer = format!(
            " … (line cut; all of it is in the deploy log: `status #{}`, `search`)",
            self.deploy
        );
        let keep = self.max_chars.saturating_sub(pointer.chars().count());
        let mut cut: String = text.chars().take(keep).collect();
        cut.push_str(&pointer);
        cut.chars().take(self.max_chars).collect()
    }

    /// Whether `text` would make the waiting batch longer than one message may be.
    fn overflows(&self, text: &str) -> bool {
        !self.buf.is_empty() && self.chars + 1 + text.chars().count() > self.max_chars
    }

    fn push(&mut self, text: String) {
        if self.posted + self.buf.len() >= MAX_THREAD_LINES {
            if !self.cut {
                self.cut = true;
                let note = format!(
                    "… more output than the thread shows; all of it is in the deploy log (`status #{}`, `search` finds it).",
                    self.deploy
                );
                self.chars += note.chars().count() + 1;
                self.buf.push(note);
            }
            return;
        }
        self.chars += text.chars().count() + 1;
        self.buf.push(text);
    }

    async fn post(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = self.buf.join("\n");
        self.posted += self.buf.len();
        self.buf.clear();
        self.chars = 0;
        if let Some(parent) = &self.parent
            && let Err(err) = self
                .inner
                .chat
                .post(
                    &crate::chat::Conversation {
                        invocation: None,
                        channel: self.channel.clone(),
                        thread: Some(parent.clone()),
                    },
                    &text,
                )
                .await
        {
            tracing::warn!("could not post output to the thread: {err:#}");
        }
    }
}
