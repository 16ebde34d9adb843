//! The bot: turns chat events into core decisions, deploy-log writes and executor runs, and
//! says what happened.
//!
//! Invariant: every change of a deploy's state goes through `Store::transition` (which checks
//! the core state machine); the engine never talks to a platform, only to [`ChatOut`]; the
//! time it passes to the core and the store is always [`Clock::now`].

mod approval;
pub mod clock;
mod deploy;
mod dispatch;
mod gate;
mod hosts;
mod locks;
mod names;
mod progress;
mod queries;
mod recover;
mod resolve;
mod run;
mod shutdown;
mod source;
mod told;

pub use clock::Clock;

use crate::chat::{Account, ChatEvent, ChatOut, Conversation, Message};
use crate::config::Config;
use crate::core::command::{Command, DeployId};
use crate::core::parse::{self, Addressing, Parsed};
use crate::core::queue::Queues;
use crate::exec::Executor;
use crate::store::{OutputWriter, Store, Verdict};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// The running bot. Cheap to clone.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: Arc<Config>,
    pub store: Store,
    pub chat: Arc<dyn ChatOut>,
    pub exec: Arc<dyn Executor>,
    pub clock: Clock,
    /// Batches output lines into the log without slowing the step that prints them.
    pub output: OutputWriter,
    /// One deploy per app and env; the rest wait in order.
    pub queues: Mutex<Queues>,
    /// Set to ask a running deploy to stop after its current step (and to say who asked).
    pub cancels: Mutex<HashMap<DeployId, Arc<dispatch::CancelFlag>>>,
    /// Woken whenever a deploy ends, for `/wait` and shutdown.
    pub changed: Notify,
    /// Deploys whose turn has come; one dispatcher task starts them (see `run::dispatcher`).
    pub start_tx: mpsc::UnboundedSender<DeployId>,
    /// The mention forms that address the bot in a channel.
    pub mentions: Vec<String>,
    /// Explanations already given (deploy, user, what): one answer, not one per reaction.
    pub told: Mutex<told::Told>,
    /// Display names of accounts of nobody's, for what the bot says (`names`).
    pub names: Mutex<names::Names>,
    /// The platform groups `[groups]` names (`discord-role:…`), computed once: an account that
    /// comes with its groups updates these (`Inner::identity`, on every event).
    platform_groups: Vec<String>,
    /// Deploys holding their target but waiting for a freeze to end or a lock to go. They
    /// are not "in progress" for `/wait` and the console's end of input.
    pub parked: Mutex<HashSet<DeployId>>,
    /// This deploy log's mark, part of every step's tag (`exec::step_tag`).
    pub log_tag: String,
    /// Set when a shutdown begins: no deploy starts any more and messages are answered with
    /// "deckhand is stopping" (see `shutdown`).
    pub stopping: AtomicBool,
    /// Cancelled when a shutdown's grace runs out: every deploy step still running is stopped
    /// (its rollback is not).
    pub halt: tokio_util::sync::CancellationToken,
    /// GitHub, for apps whose recipe names a repository (`source`).
    pub source: source::Source,
}

impl Bot {
    /// Starts the bot: marks deploys that were running when it last stopped as interrupted
    /// (and says so in their channel), and puts approved or queued deploys back in line.
    pub async fn start(
        config: Arc<Config>,
        store: Store,
        chat: Arc<dyn ChatOut>,
        exec: Arc<dyn Executor>,
        clock: Clock,
    ) -> anyhow::Result<Bot> {
        Self::start_with_github(config, store, chat, exec, clock, None).await
    }

    /// [`Bot::start`], with GitHub for the apps whose recipe names a `repo` (without it, their
    /// requests are refused with a word on the missing credentials).
    pub async fn start_with_github(
        config: Arc<Config>,
        store: Store,
        chat: Arc<dyn ChatOut>,
        exec: Arc<dyn Executor>,
        clock: Clock,
        github: Option<Arc<dyn crate::github::GitHub>>,
    ) -> anyhow::Result<Bot> {
        let (start_tx, start_rx) = mpsc::unbounded_channel();
        let name = config.bot.name.clone();
        let log_tag = store.log_tag().await?;
        // The configured name, and however each platform's people mention the bot.
        let mentions = [name.clone(), format!("@{name}")]
            .into_iter()
            .chain(chat.mentions())
            .collect();
        let platform_groups = config
            .platform_group_entries()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let inner = Arc::new(Inner {
            output: crate::store::spawn_output_writer(store.clone()),
            config,
            store,
            chat,
            exec,
            clock,
            queues: Mutex::new(Queues::default()),
            cancels: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            start_tx,
            mentions,
            told: Mutex::new(told::Told::default()),
            names: Mutex::new(names::Names::default()),
            platform_groups,
            parked: Mutex::new(HashSet::new()),
            log_tag,
            stopping: AtomicBool::new(false),
            halt: Default::default(),
            source: source::Source::new(github),
        });
        tokio::spawn(dispatch::dispatcher(Arc::downgrade(&inner), start_rx));
        recover::recover(&inner).await?;
        tokio::spawn(ticker(Arc::downgrade(&inner)));
        Ok(Bot { inner })
    }

    /// Handles one chat event. Returns once the bot has answered; deploys go on in the
    /// background.
    pub async fn handle(&self, event: ChatEvent) {
        let inner = &self.inner;
        if !self.first_delivery(&event).await {
            return;
        }
        match event {
            ChatEvent::Message(Message {
                place,
                from,
                text,
                direct,
                from_bot,
                ..
            }) => {
                if from_bot {
                    return;
                }
                let user = inner.identity(&from);
                let addr = Addressing {
                    prefixes: &inner.config.bot.prefixes,
                    mentions: &inner.mentions,
                    direct,
                };
                match parse::parse(&text, &addr) {
                    Parsed::NotAddressed => {}
                    Parsed::NotUnderstood(err) => {
                        inner.refuse(&place, &err.message).await;
                    }
                    Parsed::Command(_) if self.is_stopping() => {
                        inner
                            .refuse(
                                &place,
                                "deckhand is stopping and takes no commands now; ask again once it is back.",
                            )
                            .await;
                    }
                    Parsed::Command(cmd) => {
                        if let Err(err) = dispatch(inner, &place, &user, cmd).await {
                            tracing::error!(
                                "handling a message from {user} in {}: {err:#}",
                                place.channel
                            );
                            inner
                                .say(
                                    &place,
                                    "Something went wrong on deckhand's side and nothing was changed. An operator can find the cause in deckhand's log.",
                                )
                                .await;
                        }
                    }
                }
            }
            ChatEvent::ReactionAdded(r) => {
                if let Err(err) = approval::on_reaction(inner, r, true).await {
                    tracing::error!("handling a reaction: {err:#}");
                }
            }
            ChatEvent::ReactionRemoved(r) => {
                if let Err(err) = approval::on_reaction(inner, r, false).await {
                    tracing::error!("handling a removed reaction: {err:#}");
                }
            }
            ChatEvent::Members { group, accounts } => inner.learn_members(&group, &accounts),
        }
    }

    /// Whether this event is new: a delivery the platform sends again (same delivery id) is
    /// handled once, also after a restart. Events without a delivery id are always new.
    async fn first_delivery(&self, event: &ChatEvent) -> bool {
        let (platform, delivery) = match event {
            ChatEvent::Message(m) => (&m.from.platform, &m.delivery),
            ChatEvent::ReactionAdded(r) | ChatEvent::ReactionRemoved(r) => {
                (&r.from.platform, &r.delivery)
            }
            ChatEvent::Members { .. } => return true,
        };
        let Some(delivery) = delivery else {
            return true;
        };
        let key = format!("{platform}:{delivery}");
        match self
            .inner
            .store
            .first_delivery(&key, self.inner.clock.now())
            .await
        {
            Ok(fresh) => {
                if !fresh {
                    tracing::debug!("delivery {key} was handled already");
                }
                fresh
            }
            // Better to risk handling it twice than to drop a command: the deploy log itself
            // is in trouble then, and says so.
            Err(err) => {
                tracing::error!("checking delivery {key}: {err:#}");
                true
            }
        }
    }

    /// Returns once nothing is running or queued.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let held = self.inner.queues.lock().expect("queues lock").running_all();
            let all_parked = {
                let parked = self.inner.parked.lock().expect("parked lock");
                held.iter().all(|(_, id)| parked.contains(id))
            };
            if all_parked {
                return;
            }
            notified.await;
        }
    }

    /// Waits until every output line written so far is in the deploy log.
    pub async fn flush_log(&self) {
        self.inner.flush_output().await;
    }

    /// Waits until chat has delivered what the bot said so far (see [`Inner::flush_chat`]).
    pub async fn flush_chat(&self) {
        self.inner.flush_chat().await;
    }
}

/// How long the bot waits for chat to deliver what it said before it stops (or answers the
/// console's `/wait`): a platform down for longer loses its last edits, never delays the end.
const CHAT_FLUSH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

impl Inner {
    /// Who an account is for every rule and record (its person, a console user, or
    /// `platform:id`): see docs/people.md. Never from its display name.
    /// When the account came with its platform groups (a Discord member's roles), what they
    /// say of the groups the configuration names is recorded for the identity.
    pub fn identity(&self, account: &Account) -> String {
        let identity = self.config.people.identity(&account.platform, &account.id);
        self.names
            .lock()
            .expect("names lock")
            .learn(&identity, &account.display);
        if let (Some(groups), Some(kind)) = (
            &account.groups,
            crate::core::people::group_platform_of(&account.platform),
        ) {
            for entry in &self.platform_groups {
                if entry.split_once(':').is_some_and(|(k, _)| k == kind) {
                    let member = groups.iter().any(|g| g == entry);
                    self.config.platform_groups.set(entry, &identity, member);
                }
            }
        }
        identity
    }

    /// A platform's member list of one of its groups: it replaces what was known of the group.
    fn learn_members(&self, group: &str, accounts: &[Account]) {
        let identities = accounts
            .iter()
            .map(|a| self.config.people.identity(&a.platform, &a.id));
        self.config.platform_groups.replace(group, identities);
    }

    /// `text` as shown in chat: accounts of nobody's by their display name (see `names`).
    fn shown(&self, text: &str) -> String {
        self.names.lock().expect("names lock").render(text)
    }

    /// Posts a message; a chat failure is logged, never fatal.
    pub async fn say(&self, to: impl Into<Conversation>, text: &str) -> Option<String> {
        self.post(to.into(), text, None).await
    }

    /// Says why deckhand will not do what was asked: to its asker only where the command
    /// came as a slash command ([`ChatOut::refuse`]); a chat failure is logged, never fatal.
    // Its callers are being wired on main; until the merge, the `discord` branch builds
    // clean with `-D warnings` through this allow (harmless once it is used).
    #[allow(dead_code)]
    pub async fn refuse(&self, to: impl Into<Conversation>, text: &str) {
        let to = to.into();
        if let Err(err) = self.chat.refuse(&to, &self.shown(text)).await {
            tracing::warn!("could not post to {}: {err:#}", to.channel);
        }
    }

    /// Posts the approval request of deploy `id` (an adapter may add controls, see
    /// [`ChatOut::post_request`]); a chat failure is logged, never fatal.
    pub async fn say_request(
        &self,
        to: impl Into<Conversation>,
        text: &str,
        id: DeployId,
    ) -> Option<String> {
        self.post(to.into(), text, Some(id)).await
    }

    /// A post, or the approval request of `request`, as shown; `None` (logged) when it failed.
    async fn post(
        &self,
        to: Conversation,
        text: &str,
        request: Option<DeployId>,
    ) -> Option<String> {
        let text = self.shown(text);
        let posted = match request {
            Some(id) => self.chat.post_request(&to, &text, id).await,
            None => self.chat.post(&to, &text).await,
        };
        posted
            .inspect_err(|err| tracing::warn!("could not post to {}: {err:#}", to.channel))
            .ok()
    }

    /// Says `text` unless this explanation was already given for this deploy and user.
    pub async fn say_once(
        &self,
        channel: impl Into<Conversation>,
        key: (DeployId, &str, &str),
        text: &str,
    ) {
        let fresh = self
            .told
            .lock()
            .expect("told lock")
            .first(key.0, key.1, key.2);
        if fresh {
            self.say(channel, text).await;
        }
    }

    /// The locks held and the one-off freezes not over, for the policy.
    pub async fn policy_state(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<(
        Vec<crate::core::policy::Lock>,
        Vec<crate::core::policy::Freeze>,
    )> {
        Ok((self.store.locks().await?, self.store.freezes(now).await?))
    }

    /// Waits until every output line handed to the log writer is stored. A failure is logged:
    /// the deploy goes on, and the operator sees why lines are missing.
    pub async fn flush_output(&self) {
        if let Err(err) = self.output.flush().await {
            tracing::error!("the deploy log could not store command output: {err:#}");
        }
    }

    /// Waits until everything handed to chat was delivered or given up on: edits are paced
    /// and retried behind `ChatOut`, so a deploy's final status may still be on its way when
    /// the deploy has ended. At most [`CHAT_FLUSH_PATIENCE`].
    pub async fn flush_chat(&self) {
        if tokio::time::timeout(CHAT_FLUSH_PATIENCE, self.chat.flush())
            .await
            .is_err()
        {
            tracing::warn!(
                "chat did not deliver everything within {CHAT_FLUSH_PATIENCE:?}; the last edits may not show"
            );
        }
    }

    /// Edits deploy `id`'s approval request while it still waits (the adapter keeps its
    /// controls, see [`ChatOut::edit_request`]).
    pub async fn edit_request(&self, channel: &str, msg: &str, text: &str, id: DeployId) {
        if let Err(err) = self
            .chat
            .edit_request(channel, &msg.to_owned(), &self.shown(text), id)
            .await
        {
            tracing::warn!("could not edit {msg} in {channel}: {err:#}");
        }
    }

    pub async fn edit(&self, channel: &str, msg: &str, text: &str) {
        if let Err(err) = self
            .chat
            .edit(channel, &msg.to_owned(), &self.shown(text))
            .await
        {
            tracing::warn!("could not edit {msg} in {channel}: {err:#}");
        }
    }
}

/// Runs one understood command.
async fn dispatch(
    inner: &Arc<Inner>,
    channel: &Conversation,
    user: &str,
    cmd: Command,
) -> anyhow::Result<()> {
    use Command::*;
    match cmd {
        Deploy(args) => deploy::request(inner, channel, user, args).await,
        Rollback { app, env, version } => {
            deploy::rollback(inner, channel, user, app, env, version).await
        }
        Cancel { id } => deploy::cancel(inner, channel, user, id).await,
        Status { id } => queries::status(inner, channel, id).await,
        Live { app, env, check } => queries::live(inner, channel, app, env, check).await,
        History {
            app,
            env,
            git_ref,
            limit,
        } => queries::history(inner, channel, app, env, git_ref, limit).await,
        Search(args) => queries::search(inner, channel, args).await,
        Wcid { app } => queries::wcid(inner, channel, user, app).await,
        Windows { env } => queries::windows(inner, channel, env).await,
        Help { topic } => queries::help(inner, channel, topic).await,
        Approve { id } => approval::command(inner, channel, user, id, Verdict::Approve, None).await,
        Deny { id, reason } => {
            approval::command(inner, channel, user, id, Verdict::Deny, reason.as_deref()).await
        }
        Lock { target, reason } => locks::lock(inner, channel, user, target, reason).await,
        Unlock { target } => locks::unlock(inner, channel, user, target).await,
        Locks => locks::list(inner, channel).await,
        Freeze { env, span, reason } => {
            locks::freeze(inner, channel, user, env, span, reason).await
        }
        Unfreeze { env } => locks::unfreeze(inner, channel, user, env).await,
    }
}

/// Once a second: expire approval requests nobody answered in time; once an hour (and at
/// start), forget chat deliveries older than a week. Stops with the bot.
async fn ticker(inner: std::sync::Weak<Inner>) {
    const PRUNE_EVERY: u32 = 3600;
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u32;
    loop {
        every.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(err) = approval::expire_due(&inner).await {
            tracing::error!("expiring approval requests: {err:#}");
        }
        if ticks.is_multiple_of(PRUNE_EVERY)
            && let Err(err) = inner.store.forget_old_deliveries(inner.clock.now()).await
        {
            tracing::error!("forgetting old chat deliveries: {err:#}");
        }
        ticks = ticks.wrapping_add(1);
    }
}
