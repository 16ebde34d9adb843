//! The outbox: what stands between the engine and one adapter, so every platform's limits are
//! kept in one place and no deploy ever waits for chat.
//!
//! Invariants:
//! - **Nothing longer than the adapter's `max_chars` reaches it**: a longer text is cut (at a
//!   line end when one is near, else on a char boundary) and ends with [`CUT_POINTER`], the
//!   whole within the limit.
//! - **Edits are coalesced and paced, one writer per message**: [`Outbox::edit`] returns at
//!   once; the message's writer task sends only the latest text it holds (an older state never
//!   follows a newer one) and at most `edits` edits per `per` for that message. The writer
//!   stays until a `per` after its last edit, so the pace holds across quiet moments.
//! - **The final state is delivered**: a writer keeps trying (rate limits honoured, backoff on
//!   failures) for as long as [`EDIT_PATIENCE`]; [`Outbox::flush`] returns once every writer
//!   delivered or gave up.
//! - **Failures never block a deploy**: edits are fire-and-forget. A post is awaited, since its
//!   caller needs the id (the status message is edited by it, approvals are reactions on it),
//!   but for its retries at most [`POST_PATIENCE`], and only while the platform has been
//!   failing for less than [`DOWN_AFTER`]: an outage holds the engine that long at most, once;
//!   after that a post fails at its first try (the engine goes on without the message) until
//!   something gets through again.
//!
//! An adapter declaring no edit limit ([`Limits::NONE`], the console) is called in the
//! caller's task, in order with its posts, so its transcript is exactly what the engine said;
//! only an edit that fails is handed to a writer to retry.

use super::{ChatError, ChatOut, Conversation, Limits, MsgId};
use async_trait::async_trait;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How a cut text ends. The outbox does not know which deploy a text is about, so it names
/// the commands that show more.
pub const CUT_POINTER: &str =
    "… (cut to fit this chat; the deploy log has it all: `status`, `search`, `help <command>`)";

/// The first wait after a failure without a `retry_after`; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A post is tried this many times at most…
pub const POST_TRIES: u32 = 6;
/// … and never waited for longer than this: its caller needs the id to go on.
pub const POST_PATIENCE: Duration = Duration::from_secs(30);
/// A platform that has answered nothing but `Unavailable` for this long is down: a post gives
/// up at its first failure instead of holding its caller (a deploy) through the outage.
/// Writers keep trying in the background, and the first call that gets through ends it.
pub const DOWN_AFTER: Duration = Duration::from_secs(2);
/// A writer that could not deliver its message's latest text for this long gives it up (with
/// a warning); the next edit of that message tries afresh.
pub const EDIT_PATIENCE: Duration = Duration::from_secs(120);

/// `text` cut to `max_chars` characters at most, ending with [`CUT_POINTER`] when cut (and
/// simply truncated when the limit is too small even for the pointer).
pub fn fit(text: &str, max_chars: usize) -> Cow<'_, str> {
    if text.len() <= max_chars {
        // Never more chars than bytes.
        return Cow::Borrowed(text);
    }
    let Some((at_max, _)) = text.char_indices().nth(max_chars) else {
        return Cow::Borrowed(text);
    };
    let pointer = CUT_POINTER.chars().count();
    // One char for the separator between the kept text and the pointer.
    let Some(budget) = max_chars.checked_sub(pointer + 1).filter(|b| *b > 0) else {
        return Cow::Owned(text[..at_max].to_owned());
    };
    // `budget` < `max_chars` < the text's length, so this char exists.
    let end = text
        .char_indices()
        .nth(budget)
        .map_or(text.len(), |(i, _)| i);
    let kept = &text[..end];
    // Cut at a line end when it keeps at least half of what fits: a whole line reads better.
    let (kept, sep) = match kept.rfind('\n') {
        Some(nl) if kept[..nl].chars().count() >= budget / 2 => (&kept[..nl], '\n'),
        _ => (kept.trim_end(), ' '),
    };
    Cow::Owned(format!("{kept}{sep}{CUT_POINTER}"))
}

/// One adapter behind its limits and retries; see the module's docs. Cheap to share: writers
/// hold the same state.
pub struct Outbox {
    shared: Arc<Shared>,
}

struct Shared {
    adapter: Arc<dyn ChatOut>,
    limits: Limits,
    /// The messages with a writer, by (channel, message).
    slots: Mutex<HashMap<Key, Slot>>,
    /// Woken whenever a writer has nothing left to deliver, for `flush`.
    settled: Notify,
    /// Since when the platform has answered nothing but `Unavailable`.
    failing_since: Mutex<Option<Instant>>,
}

type Key = (String, MsgId);

/// What a message is to show: its text, and whether it is still a pending approval request
/// (whose controls the adapter keeps, see [`ChatOut::edit_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    text: String,
    request: Option<i64>,
}

/// What is posted: a message, an approval request, or a refusal.
#[derive(Clone, Copy)]
enum Kind {
    Post,
    Request(i64),
    Refusal,
}

/// A message's writer, as the outbox sees it.
struct Slot {
    /// The latest text handed over and not yet taken by the writer.
    next: Option<Edit>,
    /// The writer holds a text it has not delivered or given up yet.
    busy: bool,
    /// Tells the writer a text came.
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(adapter: Arc<dyn ChatOut>) -> Outbox {
        let limits = adapter.limits();
        Outbox {
            shared: Arc::new(Shared {
                adapter,
                limits,
                slots: Mutex::new(HashMap::new()),
                settled: Notify::new(),
                failing_since: Mutex::new(None),
            }),
        }
    }

    /// A post, the request of a deploy, or a refusal: see [`ChatOut::post`]. `None` for a
    /// refusal shown to its asker only.
    async fn post_as(
        &self,
        to: &Conversation,
        text: &str,
        kind: Kind,
    ) -> Result<Option<MsgId>, ChatError> {
        let sh = &self.shared;
        let text = fit(text, sh.limits.max_chars);
        let started = Instant::now();
        let mut backoff = Backoff::default();
        let mut tries = 1;
        loop {
            let posted = match kind {
                Kind::Request(id) => sh.adapter.post_request(to, &text, id).await.map(Some),
                Kind::Post => sh.adapter.post(to, &text).await.map(Some),
                Kind::Refusal => sh.adapter.refuse(to, &text).await,
            };
            let err = match posted {
                Ok(id) => {
                    sh.answered(None);
                    return Ok(id);
                }
                Err(err) => err,
            };
            sh.answered(Some(&err));
            let Some(wait) = backoff.after(&err) else {
                return Err(err);
            };
            let resume = Instant::now() + wait;
            let down = matches!(err, ChatError::Unavailable(_))
                && sh
                    .failing_since()
                    .is_some_and(|since| resume > since + DOWN_AFTER);
            if tries >= POST_TRIES || resume > started + POST_PATIENCE || down {
                return Err(err);
            }
            tracing::debug!(
                "posting to {} failed ({err}); trying again in {wait:?}",
                to.channel
            );
            tokio::time::sleep_until(resume).await;
            tries += 1;
        }
    }

    /// An edit, or one of a pending request: see [`ChatOut::edit`].
    async fn edit_as(
        &self,
        channel: &str,
        msg: &MsgId,
        text: &str,
        request: Option<i64>,
    ) -> Result<(), ChatError> {
        let sh = &self.shared;
        let edit = Edit {
            text: fit(text, sh.limits.max_chars).into_owned(),
            request,
        };
        let key = (channel.to_owned(), msg.clone());
        // For an unpaced adapter, a message with a writer (retrying a failed edit) gets this
        // text through it too, so an older text can never overtake it.
        if sh.limits.paces_edits() || sh.slots().contains_key(&key) {
            sh.clone().give(key, edit, None);
            return Ok(());
        }
        match sh.send(&key, &edit).await {
            Ok(()) => {
                sh.answered(None);
                Ok(())
            }
            Err(err @ ChatError::Refused(_)) => Err(err),
            Err(err) => {
                sh.answered(Some(&err));
                sh.clone().give(key, edit, Some(err));
                Ok(())
            }
        }
    }
}

/// A post's id: a post (or request) the adapter took always has one.
fn posted(result: Result<Option<MsgId>, ChatError>) -> Result<MsgId, ChatError> {
    result?.ok_or_else(|| {
        ChatError::Refused(anyhow::anyhow!(
            "the chat adapter posted a message without an id"
        ))
    })
}

#[async_trait]
impl ChatOut for Outbox {
    fn limits(&self) -> Limits {
        self.shared.limits
    }

    fn mentions(&self) -> Vec<String> {
        self.shared.adapter.mentions()
    }

    /// Posts, retrying rate limits and failures within [`POST_TRIES`] and [`POST_PATIENCE`]
    /// (none once the platform is down, see [`DOWN_AFTER`]); then returns the last error.
    async fn post(&self, to: &Conversation, text: &str) -> Result<MsgId, ChatError> {
        posted(self.post_as(to, text, Kind::Post).await)
    }

    /// As [`Outbox::post`], handed to the adapter as the request of `deploy`.
    async fn post_request(
        &self,
        to: &Conversation,
        text: &str,
        deploy: i64,
    ) -> Result<MsgId, ChatError> {
        posted(self.post_as(to, text, Kind::Request(deploy)).await)
    }

    /// As [`Outbox::post`], handed to the adapter as a refusal.
    async fn refuse(&self, to: &Conversation, text: &str) -> Result<Option<MsgId>, ChatError> {
        self.post_as(to, text, Kind::Refusal).await
    }

    /// Hands the text to the message's writer and returns. Only an adapter without an edit
    /// limit is called here and now (see the module's docs); its refusal is returned.
    async fn edit(&self, channel: &str, msg: &MsgId, text: &str) -> Result<(), ChatError> {
        self.edit_as(channel, msg, text, None).await
    }

    /// As [`Outbox::edit`], handed to the adapter as the pending request of `deploy`.
    async fn edit_request(
        &self,
        channel: &str,
        msg: &MsgId,
        text: &str,
        deploy: i64,
    ) -> Result<(), ChatError> {
        self.edit_as(channel, msg, text, Some(deploy)).await
    }

    /// Waits until every writer delivered its latest text or gave it up, then flushes the
    /// adapter.
    async fn flush(&self) {
        let sh = &self.shared;
        loop {
            let settled = sh.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if sh.slots().values().all(|s| s.next.is_none() && !s.busy) {
                break;
            }
            settled.await;
        }
        sh.adapter.flush().await;
    }
}

impl Shared {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Slot>> {
        self.slots.lock().expect("outbox lock")
    }

    /// One try of an edit, as the adapter takes it.
    async fn send(&self, (channel, msg): &Key, edit: &Edit) -> Result<(), ChatError> {
        match edit.request {
            Some(id) => {
                self.adapter
                    .edit_request(channel, msg, &edit.text, id)
                    .await
            }
            None => self.adapter.edit(channel, msg, &edit.text).await,
        }
    }

    fn failing_since(&self) -> Option<Instant> {
        *self.failing_since.lock().expect("outbox health lock")
    }

    /// Notes how the platform answered: any success ends an outage; `Unavailable` starts one
    /// (a rate limit or a refusal says the platform is there).
    fn answered(&self, err: Option<&ChatError>) {
        let mut since = self.failing_since.lock().expect("outbox health lock");
        match err {
            None => *since = None,
            Some(ChatError::Unavailable(_)) => {
                since.get_or_insert_with(Instant::now);
            }
            Some(_) => {}
        }
    }

    /// Makes `text` the message's latest, for its writer (started when it has none). With
    /// `failed`, the text was just tried and failed so: the writer starts by retrying it.
    fn give(self: Arc<Self>, key: Key, text: Edit, failed: Option<ChatError>) {
        let mut slots = self.slots();
        if let Some(slot) = slots.get_mut(&key) {
            // A writer started while this failed text was being tried holds a later one.
            if failed.is_none() {
                slot.next = Some(text);
                slot.wake.notify_one();
            }
            return;
        }
        let wake = Arc::new(Notify::new());
        let first = match failed {
            Some(err) => {
                slots.insert(key.clone(), Slot::new(None, true, wake.clone()));
                Some((text, err))
            }
            None => {
                slots.insert(key.clone(), Slot::new(Some(text), false, wake.clone()));
                None
            }
        };
        drop(slots);
        tokio::spawn(writer(self, key, wake, first));
    }

    /// The message's latest text, if one came; the writer holds it from now on. When none
    /// came the writer is idle, which `flush` hears.
    fn take_next(&self, key: &Key) -> Option<Edit> {
        let mut slots = self.slots();
        let slot = slots.get_mut(key)?;
        let next = slot.next.take();
        slot.busy = next.is_some();
        if next.is_none() {
            self.settled.notify_waiters();
        }
        next
    }

    /// A text newer than the one the writer holds, if one came.
    fn newer(&self, key: &Key) -> Option<Edit> {
        self.slots().get_mut(key)?.next.take()
    }

    /// Ends the message's writer unless a text came; returns whether it ended.
    fn retire(&self, key: &Key) -> bool {
        let mut slots = self.slots();
        if slots.get(key).is_some_and(|s| s.next.is_some()) {
            return false;
        }
        slots.remove(key);
        self.settled.notify_waiters();
        true
    }

    /// Delivers `text` (or a newer text of the message, whichever is the latest when a try
    /// begins) within the pace, retrying until it gets through, is refused, or
    /// [`EDIT_PATIENCE`] has passed. `failed`: the text was just tried, and failed so.
    async fn deliver(
        &self,
        key: &Key,
        mut text: Edit,
        failed: Option<ChatError>,
        pace: &mut Pace,
    ) {
        let (channel, msg) = key;
        let mut backoff = Backoff::default();
        let mut failing_since: Option<Instant> = None;
        let mut failed = failed;
        loop {
            if let Some(err) = failed.take() {
                let Some(wait) = backoff.after(&err) else {
                    tracing::warn!("the platform refused an edit of {msg} in {channel}: {err:#}");
                    return;
                };
                let since = *failing_since.get_or_insert_with(Instant::now);
                let resume = Instant::now() + wait;
                if resume > since + EDIT_PATIENCE {
                    tracing::warn!(
                        "gave up editing {msg} in {channel} after {:?} of failures ({err:#}); it may show an older state until its next edit",
                        Instant::now() - since
                    );
                    return;
                }
                tracing::debug!(
                    "editing {msg} in {channel} failed ({err}); trying again in {wait:?}"
                );
                tokio::time::sleep_until(resume).await;
            }
            pace.wait_turn().await;
            // Latest wins: a state that came meanwhile replaces the one held.
            if let Some(newer) = self.newer(key) {
                text = newer;
            }
            pace.sent();
            match self.send(key, &text).await {
                Ok(()) => {
                    self.answered(None);
                    return;
                }
                Err(err) => {
                    self.answered(Some(&err));
                    failed = Some(err);
                }
            }
        }
    }
}

impl Slot {
    fn new(next: Option<Edit>, busy: bool, wake: Arc<Notify>) -> Slot {
        Slot { next, busy, wake }
    }
}

/// A message's writer: delivers its latest text whenever one comes, then stays until its pace
/// window has passed (a text coming meanwhile waits for its turn), then ends.
async fn writer(
    shared: Arc<Shared>,
    key: Key,
    wake: Arc<Notify>,
    mut first: Option<(Edit, ChatError)>,
) {
    let mut pace = Pace::new(shared.limits);
    loop {
        let (text, failed) = match first.take() {
            Some((text, err)) => (text, Some(err)),
            None => match shared.take_next(&key) {
                Some(text) => (text, None),
                None => {
                    if let Some(end) = pace.window_end()
                        && end > Instant::now()
                    {
                        tokio::select! {
                            () = wake.notified() => continue,
                            () = tokio::time::sleep_until(end) => {}
                        }
                    }
                    if shared.retire(&key) {
                        return;
                    }
                    continue;
                }
            },
        };
        shared.deliver(&key, text, failed, &mut pace).await;
    }
}

/// The edits of one message sent within the last `per`, so no more than `edits` are.
struct Pace {
    limits: Limits,
    sent: VecDeque<Instant>,
}

impl Pace {
    fn new(limits: Limits) -> Pace {
        Pace {
            limits,
            sent: VecDeque::new(),
        }
    }

    /// Waits until one more edit keeps within the limit.
    async fn wait_turn(&mut self) {
        if !self.limits.paces_edits() {
            return;
        }
        let most = self.limits.edits.max(1) as usize;
        while self.sent.len() >= most {
            let free_at = self.sent[0] + self.limits.per;
            tokio::time::sleep_until(free_at).await;
            self.sent.pop_front();
        }
    }

    /// Counts an edit sent now (tried: the platform counts it, answered or not).
    fn sent(&mut self) {
        if self.limits.paces_edits() {
            self.sent.push_back(Instant::now());
        }
    }

    /// When the last edit sent stops counting; `None` when edits are not paced.
    fn window_end(&self) -> Option<Instant> {
        self.sent.back().map(|t| *t + self.limits.per)
    }
}

/// The wait before the next try: the platform's `retry_after`, else a doubling backoff.
#[derive(Default)]
struct Backoff {
    tries: u32,
}

impl Backoff {
    /// How long to wait after `err` before trying again; `None` when trying again is no use.
    fn after(&mut self, err: &ChatError) -> Option<Duration> {
        let doubled = FIRST_BACKOFF
            .saturating_mul(1 << self.tries.min(16))
            .min(MAX_BACKOFF);
        self.tries += 1;
        match err {
            ChatError::Refused(_) => None,
            ChatError::RateLimited {
                retry_after: Some(after),
            } => Some(*after),
            ChatError::RateLimited { retry_after: None } | ChatError::Unavailable(_) => {
                Some(doubled)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::memory::{Failure, MemoryChat, Outcome, Request};

    const SECOND: Duration = Duration::from_secs(1);

    fn limits(max_chars: usize, edits: u32, per: Duration) -> Limits {
        Limits {
            max_chars,
            edits,
            per,
        }
    }

    /// A memory adapter with `limits` behind an outbox.
    fn outbox(limits: Limits) -> (Arc<MemoryChat>, Outbox) {
        let chat = Arc::new(MemoryChat::new(limits));
        (chat.clone(), Outbox::new(chat))
    }

    fn ops() -> Conversation {
        Conversation::channel("mem:ops")
    }

    /// The times between consecutive calls.
    fn gaps(calls: &[crate::chat::memory::Call]) -> Vec<Duration> {
        calls.windows(2).map(|w| w[1].at - w[0].at).collect()
    }

    #[test]
    fn a_text_over_the_limit_is_cut_with_the_pointer_within_the_limit() {
        assert_eq!(fit("short", 200), "short");
        assert_eq!(fit("exactly", 7), "exactly");
        let pointer = CUT_POINTER.chars().count();
        // Multi-byte chars everywhere, lines of several lengths: every cut is on a char
        // boundary (or slicing would panic) and within the limit.
        let text: String = (0..60)
            .map(|i| format!("é{}🚀 line {i}\n", "ab".repeat(i % 7)))
            .collect();
        for max in 0..text.chars().count() + 2 {
            let cut = fit(&text, max);
            assert!(cut.chars().count() <= max, "{max}: {cut:?}");
            if cut != text && max > pointer + 1 {
                assert!(cut.ends_with(CUT_POINTER), "{max}: {cut:?}");
                let kept = cut.strip_suffix(CUT_POINTER).unwrap();
                assert!(text.starts_with(kept.trim_end()), "{max}: {cut:?}");
            }
        }
        // A line end near the limit is where it is cut.
        let lines = "first line\nsecond line\n".repeat(20);
        let cut = fit(&lines, 200);
        assert!(cut.ends_with(&format!("line\n{CUT_POINTER}")), "{cut}");
        // One long line: cut mid-line, no newline added.
        let one_line = "x".repeat(500);
        let cut = fit(&one_line, 200);
        assert_eq!(cut.chars().count(), 200);
        assert_eq!(cut, format!("{} {CUT_POINTER}", "x".repeat(199 - pointer)));
        // Too small a limit even for the pointer: simply truncated.
        assert_eq!(fit("abcdefgh", 3), "abc");
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_longer_than_the_limit_reaches_the_adapter() {
        let (chat, out) = outbox(limits(100, 1, SECOND));
        let long = "word ".repeat(100);
        let id = out.post(&ops(), &long).await.unwrap();
        out.edit("mem:ops", &id, &long).await.unwrap();
        out.post(&ops(), "short").await.unwrap();
        out.flush().await;
        let calls = chat.received();
        assert_eq!(calls.len(), 3);
        for c in &calls {
            assert!(c.request.text().chars().count() <= 100);
        }
        assert!(calls[0].request.text().ends_with(CUT_POINTER));
        assert!(chat.edits_of(&id)[0].request.text().ends_with(CUT_POINTER));
        assert_eq!(chat.texts_of("mem-2"), ["short"]);
    }

    #[tokio::test(start_paused = true)]
    async fn edits_are_coalesced_latest_wins() {
        let (chat, out) = outbox(limits(usize::MAX, 1, SECOND));
        let id = out.post(&ops(), "0").await.unwrap();
        for i in 1..=50 {
            out.edit("mem:ops", &id, &i.to_string()).await.unwrap();
        }
        out.flush().await;
        // Handed over faster than the writer could start: only the last is worth sending.
        assert_eq!(chat.texts_of(&id), ["0", "50"]);
    }

    #[tokio::test(start_paused = true)]
    async fn edits_of_one_message_are_paced_and_end_with_the_final_state() {
        let (chat, out) = outbox(limits(usize::MAX, 2, SECOND));
        let id = out.post(&ops(), "posted").await.unwrap();
        let other = out.post(&ops(), "other").await.unwrap();
        // Ten states a second for three seconds, as a fast deploy gives them.
        for i in 1..=30 {
            out.edit("mem:ops", &id, &format!("state {i}"))
                .await
                .unwrap();
            out.edit("mem:ops", &other, &format!("other {i}"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out.flush().await;
        for (msg, last) in [(&id, "state 30"), (&other, "other 30")] {
            let edits = chat.edits_of(msg);
            // 2 a second for ~3 s, plus the final one: far fewer than the 30 given.
            assert!((4..=9).contains(&edits.len()), "{}", edits.len());
            // Never a third within a second of the first of two.
            for w in edits.windows(3) {
                assert!(w[2].at - w[0].at >= SECOND, "{w:?}");
            }
            assert_eq!(chat.texts_of(msg).last().unwrap(), last);
            // Never an older state after a newer one.
            let numbers: Vec<u32> = chat.texts_of(msg)[1..]
                .iter()
                .map(|t| t.rsplit(' ').next().unwrap().parse().unwrap())
                .collect();
            assert!(numbers.is_sorted(), "{numbers:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_holds_across_a_quiet_moment() {
        let (chat, out) = outbox(limits(usize::MAX, 1, SECOND));
        let id = out.post(&ops(), "0").await.unwrap();
        out.edit("mem:ops", &id, "1").await.unwrap();
        out.flush().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        out.edit("mem:ops", &id, "2").await.unwrap();
        out.flush().await;
        assert_eq!(gaps(&chat.edits_of(&id)), [SECOND]);
        // Once the window has passed, an edit goes at once.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = Instant::now();
        out.edit("mem:ops", &id, "3").await.unwrap();
        out.flush().await;
        assert_eq!(chat.edits_of(&id).last().unwrap().at, before);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_adapter_never_holds_an_edit() {
        let (chat, out) = outbox(limits(usize::MAX, 1, SECOND));
        let id = out.post(&ops(), "0").await.unwrap();
        chat.answer_after(Duration::from_secs(20));
        let before = Instant::now();
        out.edit("mem:ops", &id, "1").await.unwrap();
        out.edit("mem:ops", &id, "2").await.unwrap();
        assert_eq!(Instant::now(), before);
        out.flush().await;
        assert_eq!(chat.texts_of(&id), ["0", "2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limited_edit_is_retried_after_retry_after() {
        let (chat, out) = outbox(limits(usize::MAX, 10, SECOND));
        let id = out.post(&ops(), "0").await.unwrap();
        chat.fail_next(3, Failure::RateLimited(Some(Duration::from_millis(200))));
        out.edit("mem:ops", &id, "final").await.unwrap();
        out.flush().await;
        let edits = chat.edits_of(&id);
        assert_eq!(edits.len(), 4);
        assert_eq!(gaps(&edits), [Duration::from_millis(200); 3]);
        assert_eq!(edits[3].outcome, Outcome::Edited);
        assert_eq!(chat.texts_of(&id), ["0", "final"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_edit_backs_off_takes_the_latest_state_and_gives_up_in_the_end() {
        let (chat, out) = outbox(limits(usize::MAX, 10, SECOND));
        let id = out.post(&ops(), "0").await.unwrap();
        chat.fail_always(Failure::Unavailable);
        let start = Instant::now();
        out.edit("mem:ops", &id, "1").await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        out.edit("mem:ops", &id, "2").await.unwrap();
        out.flush().await;
        let edits = chat.edits_of(&id);
        // 0.5 s doubling up to 30 s, for two minutes: a handful of tries, not a storm.
        assert_eq!(
            gaps(&edits)[..6],
            [500, 1000, 2000, 4000, 8000, 16000].map(Duration::from_millis)
        );
        assert!(gaps(&edits).iter().all(|g| *g <= MAX_BACKOFF));
        assert!(edits.len() <= 10, "{}", edits.len());
        // The state handed over during the outage (at 2 s) replaced the older one at the
        // next try (at 3.5 s).
        assert_eq!(edits[2].request.text(), "1");
        assert_eq!(edits[3].request.text(), "2");
        let gave_up = Instant::now() - start;
        assert!(gave_up <= EDIT_PATIENCE, "{gave_up:?}");
        assert!(gave_up >= EDIT_PATIENCE - MAX_BACKOFF, "{gave_up:?}");
        // Back again: the next edit goes through at once.
        chat.fail_next(0, Failure::Unavailable);
        out.edit("mem:ops", &id, "3").await.unwrap();
        out.flush().await;
        assert_eq!(chat.texts_of(&id), ["0", "3"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_edit_is_not_retried() {
        let (chat, out) = outbox(limits(usize::MAX, 10, SECOND));
        let id = out.post(&ops(), "0").await.unwrap();
        chat.fail_next(1, Failure::Refused);
        out.edit("mem:ops", &id, "1").await.unwrap();
        out.flush().await;
        assert_eq!(chat.edits_of(&id).len(), 1);
        out.edit("mem:ops", &id, "2").await.unwrap();
        out.flush().await;
        assert_eq!(chat.texts_of(&id), ["0", "2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_post_waits_for_its_retries_then_returns_its_id() {
        let (chat, out) = outbox(limits(usize::MAX, 1, SECOND));
        chat.fail_next(3, Failure::RateLimited(Some(Duration::from_millis(200))));
        let before = Instant::now();
        assert_eq!(out.post(&ops(), "hello").await.unwrap(), "mem-1");
        assert_eq!(Instant::now() - before, Duration::from_millis(600));
        // Without a retry_after: the backoff.
        chat.fail_next(2, Failure::RateLimited(None));
        let before = Instant::now();
        assert_eq!(out.post(&ops(), "again").await.unwrap(), "mem-2");
        assert_eq!(Instant::now() - before, Duration::from_millis(1500));
        // A blip of unavailability is waited out too.
        chat.fail_next(2, Failure::Unavailable);
        assert_eq!(out.post(&ops(), "blip").await.unwrap(), "mem-3");
    }

    #[tokio::test(start_paused = true)]
    async fn a_post_gives_up_within_its_bounds() {
        let (chat, out) = outbox(limits(usize::MAX, 1, SECOND));
        // Refused: once.
        chat.fail_next(1, Failure::Refused);
        assert!(matches!(
            out.post(&ops(), "x").await,
            Err(ChatError::Refused(_))
        ));
        assert_eq!(chat.received().len(), 1);
        // A retry_after beyond its patience: not waited for.
        chat.fail_next(1, Failure::RateLimited(Some(Duration::from_secs(60))));
        let before = Instant::now();
        assert!(out.post(&ops(), "x").await.is_err());
        assert_eq!(Instant::now(), before);
        // Rate limited again and again: POST_TRIES tries.
        chat.fail_always(Failure::RateLimited(Some(SECOND)));
        let calls = chat.received().len();
        assert!(out.post(&ops(), "x").await.is_err());
        assert_eq!(chat.received().len() - calls, POST_TRIES as usize);
        // Down: posts wait DOWN_AFTER in all since the outage began, then not at all.
        chat.fail_always(Failure::Unavailable);
        let outage = Instant::now();
        for _ in 0..2 {
            assert!(matches!(
                out.post(&ops(), "x").await,
                Err(ChatError::Unavailable(_))
            ));
            let waited = Instant::now() - outage;
            assert!(
                waited > Duration::ZERO && waited <= DOWN_AFTER,
                "{waited:?}"
            );
        }
        tokio::time::sleep(DOWN_AFTER).await;
        let before = Instant::now();
        let calls = chat.received().len();
        assert!(out.post(&ops(), "x").await.is_err());
        assert_eq!(Instant::now(), before);
        assert_eq!(chat.received().len(), calls + 1);
        // Back: the first success ends the outage, and posts wait out blips again.
        chat.fail_next(0, Failure::Unavailable);
        out.post(&ops(), "back").await.unwrap();
        chat.fail_next(1, Failure::Unavailable);
        out.post(&ops(), "blip").await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn without_limits_it_passes_everything_through_in_order() {
        let (chat, out) = outbox(Limits::NONE);
        let long = "y".repeat(100_000);
        let a = out.post(&ops(), &long).await.unwrap();
        out.edit("mem:ops", &a, "a1").await.unwrap();
        // Delivered before edit() returned: in order with the next post.
        assert_eq!(chat.texts_of(&a).last().unwrap(), "a1");
        let b = out.post(&ops(), "b").await.unwrap();
        out.edit("mem:ops", &a, "a2").await.unwrap();
        out.edit("mem:ops", &b, "b1").await.unwrap();
        let texts: Vec<String> = chat
            .received()
            .iter()
            .map(|c| c.request.text().to_owned())
            .collect();
        assert_eq!(texts, [long.as_str(), "a1", "b", "a2", "b1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_limits_a_failed_edit_is_retried_and_never_overtaken() {
        let (chat, out) = outbox(Limits::NONE);
        let a = out.post(&ops(), "a").await.unwrap();
        let b = out.post(&ops(), "b").await.unwrap();
        chat.fail_next(1, Failure::Unavailable);
        out.edit("mem:ops", &a, "a1").await.unwrap();
        // While a1 waits for its retry, a2 goes to the same writer, not past it.
        out.edit("mem:ops", &a, "a2").await.unwrap();
        // Another message is not held by it.
        out.edit("mem:ops", &b, "b1").await.unwrap();
        assert_eq!(chat.texts_of(&b), ["b", "b1"]);
        out.flush().await;
        assert_eq!(chat.texts_of(&a), ["a", "a2"]);
        let a_edits: Vec<Request> = chat.edits_of(&a).into_iter().map(|c| c.request).collect();
        assert_eq!(a_edits.len(), 2);
        // A refused edit without limits is the caller's to log.
        chat.fail_next(1, Failure::Refused);
        assert!(matches!(
            out.edit("mem:ops", &a, "a3").await,
            Err(ChatError::Refused(_))
        ));
    }
}
