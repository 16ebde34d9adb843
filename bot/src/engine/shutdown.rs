//! Stopping the bot (docs/reliability.md).
//!
//! - **Graceful** ([`Bot::shutdown`], on the first SIGTERM or SIGINT): no command is taken and
//!   no deploy starts any more (queued ones stay queued in the log for the next start); the
//!   channels where deploys run are told; running deploys get the grace period to finish; those
//!   still running then are stopped as `cancel` does, but at once: the step in progress is
//!   ended, the hosts already changed rolled back, and each deploy's true end recorded.
//! - **Forced** ([`Bot::abort`], on a second signal): every deploy in flight is recorded
//!   `interrupted`, and the process exits; its steps die with it (their lifelines close), and
//!   the next start sweeps their hosts before anything else deploys there.

use super::{Bot, Inner, run::label};
use crate::core::command::DeployId;
use crate::core::format;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Bot {
    /// Stops gracefully: see the module's docs. Returns once no deploy runs any more, every
    /// output line is in the log and chat has delivered what was said (or a while has passed).
    pub async fn shutdown(&self, grace: Duration) {
        let inner = &self.inner;
        inner.stopping.store(true, Ordering::SeqCst);
        // Parked deploys leave their gate within a second: the dispatcher starts nothing.
        let running = in_flight(inner);
        for id in &running {
            if let Ok(Some(d)) = inner.store.deploy(*id).await {
                let text = format!(
                    "deckhand is stopping. {} has {} to finish; then it is stopped and the hosts it changed are rolled back.",
                    label(&d),
                    format::duration(grace)
                );
                inner.say(&d.channel, &text).await;
            }
        }
        if tokio::time::timeout(grace, wait_none_running(inner))
            .await
            .is_err()
        {
            let left = in_flight(inner);
            let now = inner.clock.now();
            for id in &left {
                let why = format!(
                    "deckhand stopped #{id}: it did not finish within the {} grace of a shutdown",
                    format::duration(grace)
                );
                if let Err(err) = inner
                    .store
                    .note(Some(*id), "deckhand", "cancel", &why, now)
                    .await
                {
                    tracing::error!("recording the stop of #{id}: {err:#}");
                }
                if let Some(flag) = inner.cancels.lock().expect("cancels lock").get(id) {
                    // Whoever cancelled it before keeps the credit.
                    let _ = flag.ask("deckhand's shutdown");
                }
            }
            // Ends the step in progress of every deploy, wherever it runs; rollbacks follow.
            inner.halt.cancel();
            wait_none_running(inner).await;
        }
        inner.flush_output().await;
        // The deploys' last status edits, paced behind chat, go out before the process ends.
        inner.flush_chat().await;
    }

    /// Stops at once: every deploy in flight is recorded `interrupted` (and its steps too).
    /// The caller exits right after; see the module's docs.
    pub async fn abort(&self) {
        let inner = &self.inner;
        inner.stopping.store(true, Ordering::SeqCst);
        match inner
            .store
            .interrupt_running(
                "deckhand was told to stop at once while it ran",
                inner.clock.now(),
            )
            .await
        {
            Ok(stopped) => {
                for d in stopped {
                    let text = format!(
                        "{} was interrupted: deckhand was told to stop at once. Its steps end with it; when deckhand starts again it makes sure nothing of it still runs before anything else deploys to {} in {}.",
                        label(&d),
                        d.app,
                        d.env
                    );
                    inner.say(&d.channel, &text).await;
                }
            }
            Err(err) => tracing::error!("recording deploys as interrupted: {err:#}"),
        }
    }

    /// Whether a shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }
}

/// Deploys being run (from their turn to their end), not counting those parked at their gate.
fn in_flight(inner: &Inner) -> Vec<DeployId> {
    let parked: HashSet<DeployId> = inner.parked.lock().expect("parked lock").clone();
    let mut ids: Vec<DeployId> = inner
        .cancels
        .lock()
        .expect("cancels lock")
        .keys()
        .filter(|id| !parked.contains(id))
        .copied()
        .collect();
    ids.sort_unstable();
    ids
}

/// Returns once no deploy is being run (parked ones leave their gate when stopping).
async fn wait_none_running(inner: &Inner) {
    loop {
        let notified = inner.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if inner.cancels.lock().expect("cancels lock").is_empty() {
            return;
        }
        // A deploy ending notifies; a parked one leaving its gate may not, so look again soon.
        let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
    }
}
