//! Whose turn it is: one task starts each deploy whose turn has come, runs it to its end
//! (`run::run`), gives back its connections, and frees its target for the next in line.

use super::Inner;
use super::run::{ACTOR, run};
use crate::core::command::DeployId;
use crate::core::lifecycle::DeployState;
use crate::exec::Place;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use tokio::sync::mpsc;

/// A request to stop a running deploy after its current step, and who made it.
#[derive(Default)]
pub struct CancelFlag {
    asked: AtomicBool,
    by: OnceLock<String>,
}

impl CancelFlag {
    /// Asks the deploy to stop. `Err` names whoever asked first: the deploy is already
    /// stopping, and the first person stays the one who cancelled it.
    pub fn ask(&self, user: &str) -> Result<(), String> {
        let first = self.by.set(user.to_owned());
        self.asked.store(true, Ordering::SeqCst);
        first.map_err(|_| self.by().unwrap_or_default().to_owned())
    }

    pub fn asked(&self) -> bool {
        self.asked.load(Ordering::SeqCst)
    }

    /// Who asked first, once someone has.
    pub fn by(&self) -> Option<&str> {
        self.by.get().map(String::as_str)
    }
}

/// Starts deploys whose turn has come, one task each. A separate task (rather than each
/// deploy spawning its successor) keeps the ownership simple and the futures non-recursive.
pub async fn dispatcher(inner: Weak<Inner>, mut starts: mpsc::UnboundedReceiver<DeployId>) {
    while let Some(id) = starts.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        tokio::spawn(async move {
            let next = run_and_release(&inner, id).await;
            if let Some(next) = next {
                let _ = inner.start_tx.send(next);
            }
            inner.changed.notify_waiters();
        });
    }
}

/// Runs a deploy to its end, then frees its target; returns the next deploy to start there.
async fn run_and_release(inner: &Arc<Inner>, id: DeployId) -> Option<DeployId> {
    let flag = Arc::new(CancelFlag::default());
    inner
        .cancels
        .lock()
        .expect("cancels lock")
        .insert(id, flag.clone());
    let mut opened: Vec<Place> = Vec::new();
    let result = run(inner, id, &flag, &mut opened).await;
    // Whatever way the deploy ended, give back the connections it opened.
    inner.exec.close(&opened.iter().collect::<Vec<_>>()).await;
    let target = match result {
        Ok(target) => target,
        Err(err) => {
            tracing::error!("deploy #{id} failed inside deckhand: {err:#}");
            let _ = inner
                .store
                .transition(
                    id,
                    DeployState::Failed,
                    ACTOR,
                    Some("deckhand hit an internal error; see its log"),
                    inner.clock.now(),
                )
                .await;
            inner
                .store
                .deploy(id)
                .await
                .ok()
                .flatten()
                .map(|d| (d.app.to_string(), d.env.to_string()))
        }
    };
    inner.cancels.lock().expect("cancels lock").remove(&id);
    inner.flush_output().await;
    let target = target?;
    inner
        .queues
        .lock()
        .expect("queues lock")
        .finish(&target, id)
}
