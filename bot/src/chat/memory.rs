//! An in-memory chat adapter, for tests and demos: it keeps every post and edit it receives
//! (with the [`tokio::time::Instant`] it received it), hands out ids `mem-1`, `mem-2`, …, and
//! declares whatever [`Limits`] it is given. It can be told to fail the next calls (rate
//! limited, unavailable, refused) or to answer slowly, as a real platform does on a bad day.
//!
//! It enforces nothing: a text longer than its limit or an edit sooner than its pace is
//! recorded like any other, so a test can check that the [`Outbox`](super::outbox::Outbox)
//! in front of it never sends one.

use super::{ChatError, ChatOut, Conversation, Limits, MsgId};
use async_trait::async_trait;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A failure [`MemoryChat`] can be told to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// [`ChatError::RateLimited`], with this `retry_after`.
    RateLimited(Option<Duration>),
    /// [`ChatError::Unavailable`].
    Unavailable,
    /// [`ChatError::Refused`].
    Refused,
}

impl Failure {
    fn error(&self) -> ChatError {
        match self {
            Failure::RateLimited(retry_after) => ChatError::RateLimited {
                retry_after: *retry_after,
            },
            Failure::Unavailable => {
                ChatError::Unavailable(anyhow::anyhow!("the memory chat was told to fail"))
            }
            Failure::Refused => {
                ChatError::Refused(anyhow::anyhow!("the memory chat was told to refuse"))
            }
        }
    }
}

/// What the adapter was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Post {
        to: Conversation,
        text: String,
    },
    Edit {
        channel: String,
        msg: MsgId,
        text: String,
    },
}

impl Request {
    /// The text of the post or edit.
    pub fn text(&self) -> &str {
        match self {
            Request::Post { text, .. } | Request::Edit { text, .. } => text,
        }
    }
}

/// How the adapter answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Posted, with this id.
    Posted(MsgId),
    Edited,
    /// Failed as it was told to.
    Failed(Failure),
}

/// One call the adapter received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// When it arrived (before any delay set with [`MemoryChat::answer_after`]).
    pub at: Instant,
    pub request: Request,
    pub outcome: Outcome,
}

/// The in-memory adapter: see the module's docs.
pub struct MemoryChat {
    limits: Limits,
    /// How the bot is mentioned on this platform (see [`ChatOut::mentions`]).
    mentions: Vec<String>,
    state: Mutex<State>,
}

struct State {
    next_id: u64,
    calls: Vec<Call>,
    /// How many of the next calls fail, and how (`usize::MAX`: all of them).
    failing: usize,
    failure: Failure,
    /// Only edits fail (posts are accepted meanwhile).
    only_edits: bool,
    delay: Duration,
}

impl MemoryChat {
    /// An adapter that accepts everything at once and declares `limits`.
    pub fn new(limits: Limits) -> MemoryChat {
        MemoryChat {
            limits,
            mentions: Vec::new(),
            state: Mutex::new(State {
                next_id: 1,
                calls: Vec::new(),
                failing: 0,
                failure: Failure::Unavailable,
                only_edits: false,
                delay: Duration::ZERO,
            }),
        }
    }

    /// The same adapter, on which people mention the bot as `mentions` (`<@U0BOT>`).
    pub fn with_mentions(mut self, mentions: &[&str]) -> MemoryChat {
        self.mentions = mentions.iter().map(|m| (*m).to_owned()).collect();
        self
    }

    /// The next `n` calls (posts and edits alike) fail with `failure`; then it accepts again.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        self.set_failing(n, failure, false);
    }

    /// The next `n` edits fail with `failure` (posts are accepted meanwhile).
    pub fn fail_next_edits(&self, n: usize, failure: Failure) {
        self.set_failing(n, failure, true);
    }

    fn set_failing(&self, n: usize, failure: Failure, only_edits: bool) {
        let mut st = self.lock();
        st.failing = n;
        st.failure = failure;
        st.only_edits = only_edits;
    }

    /// Every call fails with `failure` from now on (until [`MemoryChat::fail_next`] with 0).
    pub fn fail_always(&self, failure: Failure) {
        self.fail_next(usize::MAX, failure);
    }

    /// Each call takes `delay` to answer from now on, as a slow platform does.
    pub fn answer_after(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Every call received so far, in the order received.
    pub fn received(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The texts message `msg` had, in order: the one it was posted with, then each accepted
    /// edit's. The last one is what people see.
    pub fn texts_of(&self, msg: &str) -> Vec<String> {
        self.lock()
            .calls
            .iter()
            .filter(|c| match (&c.request, &c.outcome) {
                (Request::Post { .. }, Outcome::Posted(id)) => id == msg,
                (Request::Edit { msg: m, .. }, Outcome::Edited) => m == msg,
                _ => false,
            })
            .map(|c| c.request.text().to_owned())
            .collect()
    }

    /// Every edit of `msg` received, accepted or not.
    pub fn edits_of(&self, msg: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| matches!(&c.request, Request::Edit { msg: m, .. } if m == msg))
            .cloned()
            .collect()
    }

    /// The ids of the messages posted (accepted) in `channel`, in order; threads included.
    pub fn posted_in(&self, channel: &str) -> Vec<MsgId> {
        self.lock()
            .calls
            .iter()
            .filter_map(|c| match (&c.request, &c.outcome) {
                (Request::Post { to, .. }, Outcome::Posted(id)) if to.channel == channel => {
                    Some(id.clone())
                }
                _ => None,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory chat lock")
    }

    /// Records a call and decides its answer; returns the answer and how long to take.
    fn receive(&self, request: Request) -> (Outcome, Duration) {
        let mut st = self.lock();
        let is_post = matches!(request, Request::Post { .. });
        let outcome = if st.failing > 0 && !(is_post && st.only_edits) {
            if st.failing != usize::MAX {
                st.failing -= 1;
            }
            Outcome::Failed(st.failure.clone())
        } else if is_post {
            let id = format!("mem-{}", st.next_id);
            st.next_id += 1;
            Outcome::Posted(id)
        } else {
            Outcome::Edited
        };
        st.calls.push(Call {
            at: Instant::now(),
            request,
            outcome: outcome.clone(),
        });
        (outcome, st.delay)
    }
}

#[async_trait]
impl ChatOut for MemoryChat {
    fn limits(&self) -> Limits {
        self.limits
    }

    fn mentions(&self) -> Vec<String> {
        self.mentions.clone()
    }

    async fn post(&self, to: &Conversation, text: &str) -> Result<MsgId, ChatError> {
        let (outcome, delay) = self.receive(Request::Post {
            to: to.clone(),
            text: text.to_owned(),
        });
        tokio::time::sleep(delay).await;
        match outcome {
            Outcome::Posted(id) => Ok(id),
            Outcome::Failed(f) => Err(f.error()),
            Outcome::Edited => unreachable!("a post is never answered as an edit"),
        }
    }

    async fn edit(&self, channel: &str, msg: &MsgId, text: &str) -> Result<(), ChatError> {
        let (outcome, delay) = self.receive(Request::Edit {
            channel: channel.to_owned(),
            msg: msg.clone(),
            text: text.to_owned(),
        });
        tokio::time::sleep(delay).await;
        match outcome {
            Outcome::Failed(f) => Err(f.error()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_calls_hands_out_ids_and_fails_when_told() {
        let chat = MemoryChat::new(Limits::NONE);
        let ops = Conversation::channel("mem:ops");
        assert_eq!(chat.post(&ops, "one").await.unwrap(), "mem-1");
        chat.edit("mem:ops", &"mem-1".into(), "one, edited")
            .await
            .unwrap();
        chat.fail_next(2, Failure::RateLimited(Some(Duration::from_millis(5))));
        assert!(matches!(
            chat.post(&ops, "two").await,
            Err(ChatError::RateLimited {
                retry_after: Some(_)
            })
        ));
        assert!(chat.edit("mem:ops", &"mem-1".into(), "lost").await.is_err());
        // Failed calls take no id.
        assert_eq!(chat.post(&ops, "two").await.unwrap(), "mem-2");
        chat.fail_next_edits(1, Failure::Unavailable);
        assert_eq!(chat.post(&ops, "three").await.unwrap(), "mem-3");
        assert!(chat.edit("mem:ops", &"mem-3".into(), "lost").await.is_err());
        chat.edit("mem:ops", &"mem-3".into(), "three, edited")
            .await
            .unwrap();
        chat.fail_always(Failure::Refused);
        for _ in 0..3 {
            assert!(matches!(
                chat.post(&ops, "no").await,
                Err(ChatError::Refused(_))
            ));
        }
        assert_eq!(chat.texts_of("mem-1"), ["one", "one, edited"]);
        assert_eq!(chat.edits_of("mem-1").len(), 2);
        assert_eq!(chat.texts_of("mem-3"), ["three", "three, edited"]);
        assert_eq!(chat.posted_in("mem:ops"), ["mem-1", "mem-2", "mem-3"]);
        assert_eq!(chat.received().len(), 11);
        assert_eq!(
            chat.received()[2].outcome,
            Outcome::Failed(Failure::RateLimited(Some(Duration::from_millis(5))))
        );
    }
}
