//! Events back in the order Discord created them.
//!
//! serenity hands each dispatch to the event handler in a task of its own, and tokio runs the
//! newest spawned task first: two dispatches read together (a burst, a resume's replay) reach
//! the handler in reverse order. deckhand handles events in order (a `cancel #1` typed after a
//! `deploy` must not come first), so the handler does not send to the engine directly: each
//! event waits here [`HOLD`] and leaves in the order of its key — the snowflake of its message
//! or interaction, which Discord assigns in creation order, or, for a reaction (which has no
//! id), the snowflake of the moment it arrived.
//!
//! Invariant: an event leaves at most [`HOLD`] after it arrived (plus the engine's own pace),
//! and events that were waiting together leave in key order.

use crate::chat::ChatEvent;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long an event waits for ones created before it: far more than the microseconds that
/// separate the tasks of one burst, far less than a person notices.
pub const HOLD: Duration = Duration::from_millis(100);

/// Discord's epoch (2015-01-01T00:00:00Z), in Unix milliseconds: snowflakes count from it.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// The snowflake of now: the key of an event without an id of its own, after every snowflake
/// Discord made in the same millisecond.
pub fn now_key() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    (ms.saturating_sub(DISCORD_EPOCH_MS) << 22) | 0x3F_FFFF
}

/// Where the handler puts events, with their keys.
#[derive(Clone)]
pub struct Orderer {
    tx: mpsc::UnboundedSender<(u64, ChatEvent)>,
}

impl Orderer {
    /// Starts the task that passes events on to `events`, in order.
    pub fn start(events: mpsc::Sender<ChatEvent>) -> Orderer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(pass_on(rx, events, HOLD));
        Orderer { tx }
    }

    /// Hands `event` over, to leave in the order of `key`.
    pub fn send(&self, key: u64, event: ChatEvent) {
        if self.tx.send((key, event)).is_err() {
            tracing::debug!("Discord: an event arrived while stopping");
        }
    }
}

/// Passes what arrives on `rx` to `out`, each event held `hold` and the waiting ones in key
/// order; ends when `rx` closes (what waits is passed on first) or `out` does.
async fn pass_on(
    mut rx: mpsc::UnboundedReceiver<(u64, ChatEvent)>,
    out: mpsc::Sender<ChatEvent>,
    hold: Duration,
) {
    // (key, arrival number) → (due, event): the arrival number keeps equal keys apart, in
    // arrival order.
    let mut waiting: BTreeMap<(u64, u64), (Instant, ChatEvent)> = BTreeMap::new();
    let mut arrivals = 0u64;
    loop {
        // The first in key order leaves once it is due; the others wait behind it.
        let due = waiting.first_key_value().map(|(_, (due, _))| *due);
        tokio::select! {
            got = rx.recv() => match got {
                Some((key, event)) => {
                    arrivals += 1;
                    waiting.insert((key, arrivals), (Instant::now() + hold, event));
                }
                None => {
                    for (_, (_, event)) in std::mem::take(&mut waiting) {
                        if out.send(event).await.is_err() {
                            return;
                        }
                    }
                    return;
                }
            },
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                while let Some(entry) = waiting.first_entry() {
                    if entry.get().0 > Instant::now() {
                        break;
                    }
                    let (_, event) = entry.remove();
                    if out.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Account, Reaction};

    fn event(n: &str) -> ChatEvent {
        ChatEvent::ReactionAdded(Reaction {
            channel: "discord:1".into(),
            from: Account::new("discord", "2", "x"),
            message: n.into(),
            emoji: "✅".into(),
            from_bot: false,
            delivery: None,
        })
    }

    fn message_of(e: &ChatEvent) -> String {
        match e {
            ChatEvent::ReactionAdded(r) => r.message.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_leaves_in_key_order_and_nothing_waits_longer_than_the_hold() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (out, mut events) = mpsc::channel(16);
        tokio::spawn(pass_on(rx, out, HOLD));
        // Reversed, as serenity's tasks hand them over.
        for k in [3u64, 2, 1] {
            tx.send((k, event(&k.to_string()))).unwrap();
        }
        let start = Instant::now();
        let got: Vec<String> = [
            events.recv().await.unwrap(),
            events.recv().await.unwrap(),
            events.recv().await.unwrap(),
        ]
        .iter()
        .map(message_of)
        .collect();
        assert_eq!(got, ["1", "2", "3"]);
        assert!(Instant::now() - start <= HOLD);
        // One alone leaves after the hold; what waits when the input closes leaves at once.
        tx.send((9, event("9"))).unwrap();
        tx.send((8, event("8"))).unwrap();
        drop(tx);
        assert_eq!(message_of(&events.recv().await.unwrap()), "8");
        assert_eq!(message_of(&events.recv().await.unwrap()), "9");
        assert!(events.recv().await.is_none());
    }

    #[test]
    fn now_is_after_every_snowflake_of_the_past() {
        // A message id of 2026 (a real snowflake's shape).
        assert!(now_key() > 1_445_000_000_000_000_000);
    }
}
