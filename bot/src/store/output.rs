//! Command output into the log: [`Store::append_output`] writes a batch in one transaction;
//! [`OutputWriter`] sits between steps that print and the database, so a chatty command never
//! waits on SQLite, only (when SQLite falls far behind) on a bounded channel.

use super::Store;
use super::deploys::BEGIN_WRITE;
use super::rows::millis;
use super::types::OutputLine;
use anyhow::{Context, anyhow};
use sqlx::SqliteConnection;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, timeout_at};

/// A batch is written when it holds this many lines…
pub const BATCH_LINES: usize = 10_000;
/// …or when its oldest line has waited this long.
pub const BATCH_WAIT: Duration = Duration::from_millis(50);
/// Lines (and flush requests) the channel holds before `send` waits: a few batches, so the
/// writer can commit one while producers fill the next.
const CHANNEL_CAPACITY: usize = 4 * BATCH_LINES;

/// Multi-row INSERTs of these sizes, largest first: each statement costs a round trip to sqlx's
/// SQLite worker thread, so a full batch is ten statements. 1000 rows × 5 parameters stays far
/// below SQLite's limit of 32766.
const ROWS_PER_INSERT: [usize; 4] = [1000, 100, 10, 1];

/// `INSERT … VALUES (…), (…), …` for each size in `ROWS_PER_INSERT`. Built once from constants
/// (no input goes into them) and `'static`, as sqlx requires of SQL text.
static INSERTS: LazyLock<[String; 4]> = LazyLock::new(|| {
    ROWS_PER_INSERT.map(|rows| {
        let mut sql =
            String::from("INSERT INTO log_lines (deploy_id, at, kind, host, stream, text) VALUES ");
        sql.push_str(&vec!["(?, ?, 'output', ?, ?, ?)"; rows].join(", "));
        sql
    })
});

impl Store {
    /// Writes `lines` in one transaction, and indexes them for search in the same one, with
    /// prepared statements that sqlx caches and reuses from call to call.
    pub async fn append_output(&self, lines: &[OutputLine]) -> anyhow::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .context("cannot start a transaction")?;
        // The write lock is ours: the new lines get the ids from `first` on.
        let first: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM log_lines")
            .fetch_one(&mut *tx)
            .await
            .context("cannot read the log's last line")?;
        insert_lines(&mut tx, lines)
            .await
            .with_context(|| format!("cannot write {} lines of output", lines.len()))?;
        index_lines(&mut tx, first).await?;
        tx.commit().await.context("cannot commit output")
    }
}

async fn insert_lines(conn: &mut SqliteConnection, mut lines: &[OutputLine]) -> anyhow::Result<()> {
    for (rows, sql) in ROWS_PER_INSERT.iter().zip(INSERTS.iter()) {
        while lines.len() >= *rows {
            let (chunk, rest) = lines.split_at(*rows);
            let mut query = sqlx::query(sql.as_str());
            for line in chunk {
                query = query
                    .bind(line.deploy_id)
                    .bind(millis(line.at))
                    .bind(line.host.as_str())
                    .bind(line.stream.as_str())
                    .bind(line.text.as_str());
            }
            query.execute(&mut *conn).await?;
            lines = rest;
        }
    }
    Ok(())
}

/// Indexes for search the lines from id `first` on, that is the lines the current write
/// transaction added: all in one statement and newest first, the ascending order of the
/// index's rowids (minus the ids). FTS5 starts a new segment whenever a rowid goes down, so
/// indexing row by row in id order would write one per line (migration 0003).
pub(crate) async fn index_lines(conn: &mut SqliteConnection, first: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO log_search (rowid, text, tags) \
         SELECT -id, text, tags FROM log_search_rows WHERE id >= ? ORDER BY id DESC",
    )
    .bind(first)
    .execute(conn)
    .await
    .context("cannot index lines for search")?;
    Ok(())
}

/// Starts the task that batches output into the log. Clone the writer to give each producer
/// its own; the task ends once every clone is dropped and what they sent is written.
pub fn spawn_output_writer(store: Store) -> OutputWriter {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    tokio::spawn(run(store, rx));
    OutputWriter { tx }
}

/// The sending side of the output writer task.
#[derive(Debug, Clone)]
pub struct OutputWriter {
    tx: mpsc::Sender<Msg>,
}

#[derive(Debug)]
enum Msg {
    Line(OutputLine),
    Flush(oneshot::Sender<anyhow::Result<()>>),
}

impl OutputWriter {
    /// Queues one line. Waits only when the channel is full, that is when the database has
    /// fallen several batches behind.
    pub async fn send(&self, line: OutputLine) -> anyhow::Result<()> {
        self.tx
            .send(Msg::Line(line))
            .await
            .map_err(|_| anyhow!("the output writer has stopped"))
    }

    /// Returns once every line sent before this call (by any clone) is in the database, or
    /// with the error that kept a batch out of it.
    pub async fn flush(&self) -> anyhow::Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Flush(done))
            .await
            .map_err(|_| anyhow!("the output writer has stopped"))?;
        wait.await
            .map_err(|_| anyhow!("the output writer stopped before flushing"))?
    }

    /// Flushes, then lets go of this handle.
    pub async fn close(self) -> anyhow::Result<()> {
        self.flush().await
    }
}

/// Attempts at writing one batch before its lines are given up (and the failure reported to
/// the next flush): some 40 s of retries, enough to ride out a busy or locked database.
const WRITE_ATTEMPTS: u32 = 12;

async fn run(store: Store, mut rx: mpsc::Receiver<Msg>) {
    let mut batch: Vec<OutputLine> = Vec::with_capacity(BATCH_LINES);
    let mut inbox: Vec<Msg> = Vec::with_capacity(BATCH_LINES);
    // The error of a batch that could not be written, until a flush reports it.
    let mut failed: Option<anyhow::Error> = None;
    let mut deadline: Option<Instant> = None;
    loop {
        let room = BATCH_LINES - batch.len();
        let received = match deadline {
            None => rx.recv_many(&mut inbox, room).await,
            Some(at) => match timeout_at(at, rx.recv_many(&mut inbox, room)).await {
                Ok(n) => n,
                Err(_) => {
                    // The oldest line has waited long enough.
                    write(&store, &mut batch, &mut failed).await;
                    deadline = None;
                    continue;
                }
            },
        };
        if received == 0 {
            // Every sender is gone and the channel is drained: write what is left, stop.
            write(&store, &mut batch, &mut failed).await;
            return;
        }
        for msg in inbox.drain(..) {
            match msg {
                Msg::Line(line) => {
                    if batch.is_empty() {
                        deadline = Some(Instant::now() + BATCH_WAIT);
                    }
                    batch.push(line);
                }
                Msg::Flush(done) => {
                    write(&store, &mut batch, &mut failed).await;
                    deadline = None;
                    // The flusher may have given up waiting; nothing to do then.
                    let _ = done.send(failed.take().map_or(Ok(()), Err));
                }
            }
        }
        if batch.len() >= BATCH_LINES {
            write(&store, &mut batch, &mut failed).await;
            deadline = None;
        }
    }
}

/// Writes and empties `batch`, retrying with back-off; after the last attempt the lines are
/// dropped and the error kept for the next flush (logging it too, as nobody may flush).
async fn write(store: &Store, batch: &mut Vec<OutputLine>, failed: &mut Option<anyhow::Error>) {
    if batch.is_empty() {
        return;
    }
    let mut pause = Duration::from_millis(50);
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.append_output(batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(e) if attempt == WRITE_ATTEMPTS => {
                tracing::error!(error = %format!("{e:#}"), lines = batch.len(), "output lost");
                *failed = Some(e.context(format!("{} lines of output were lost", batch.len())));
                batch.clear();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), attempt, "cannot write output yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}
