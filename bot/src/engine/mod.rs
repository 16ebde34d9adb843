//! The bot: turns chat events into core decisions, deploy-log writes and executor runs, and
//! says what happened.
//!
//! Invariant: every change of a deploy's state goes through `Store::transition` (which checks
//! the core state machine); the engine never talks to a platform, only to [`ChatOut`]; the
//! time it passes to the core and the store is always [`Clock::now`].

pub mod clock;
mod deploy;
mod progress;
mod queries;
mod resolve;
mod run;

pub use clock::Clock;

use crate::chat::{ChatEvent, ChatOut, console::ConsoleBot};
use crate::config::Config;
use crate::core::command::{Command, DeployId};
use crate::core::parse::{self, Addressing, Parsed};
use crate::core::queue::Queues;
use crate::exec::Executor;
use crate::store::{OutputWriter, Store};
use async_trait::async_trait;
use std::collections::HashMap;
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
    /// Set to ask a running deploy to stop after its current step.
    pub cancels: Mutex<HashMap<DeployId, Arc<AtomicBool>>>,
    /// Woken whenever a deploy ends, for `/wait` and shutdown.
    pub changed: Notify,
    /// Deploys whose turn has come; one dispatcher task starts them (see `run::dispatcher`).
    pub start_tx: mpsc::UnboundedSender<DeployId>,
    /// The mention forms that address the bot in a channel.
    pub mentions: Vec<String>,
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
        let (start_tx, start_rx) = mpsc::unbounded_channel();
        let name = config.bot.name.clone();
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
            mentions: vec![name.clone(), format!("@{name}")],
        });
        tokio::spawn(run::dispatcher(Arc::downgrade(&inner), start_rx));
        run::recover(&inner).await?;
        Ok(Bot { inner })
    }

    /// Handles one chat event. Returns once the bot has answered; deploys go on in the
    /// background.
    pub async fn handle(&self, event: ChatEvent) {
        let inner = &self.inner;
        match event {
            ChatEvent::Message {
                channel,
                user,
                text,
                direct,
                from_bot,
            } => {
                if from_bot {
                    return;
                }
                let addr = Addressing {
                    prefixes: &inner.config.bot.prefixes,
                    mentions: &inner.mentions,
                    direct,
                };
                match parse::parse(&text, &addr) {
                    Parsed::NotAddressed => {}
                    Parsed::NotUnderstood(err) => {
                        inner.say(&channel, &err.message).await;
                    }
                    Parsed::Command(cmd) => {
                        if let Err(err) = dispatch(inner, &channel, &user, cmd).await {
                            tracing::error!("handling a message from {user} in {channel}: {err:#}");
                            inner
                                .say(
                                    &channel,
                                    "Something went wrong on deckhand's side and nothing was changed. An operator can find the cause in deckhand's log.",
                                )
                                .await;
                        }
                    }
                }
            }
            // Reactions carry approvals, which this version does not take yet.
            ChatEvent::ReactionAdded(_) | ChatEvent::ReactionRemoved(_) => {}
        }
    }

    /// Returns once nothing is running or queued.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.queues.lock().expect("queues lock").is_idle() {
                return;
            }
            notified.await;
        }
    }

    /// Waits until every output line written so far is in the deploy log.
    pub async fn flush_log(&self) {
        self.inner.flush_output().await;
    }
}

#[async_trait]
impl ConsoleBot for Bot {
    async fn handle(&self, event: ChatEvent) {
        Bot::handle(self, event).await
    }

    async fn wait_idle(&self) {
        Bot::wait_idle(self).await;
        self.flush_log().await;
    }
}

impl Inner {
    /// Posts a message; a chat failure is logged, never fatal.
    pub async fn say(&self, channel: &str, text: &str) -> Option<String> {
        match self.chat.post(channel, text).await {
            Ok(id) => Some(id),
            Err(err) => {
                tracing::warn!("could not post to {channel}: {err:#}");
                None
            }
        }
    }

    /// Waits until every output line handed to the log writer is stored. A failure is logged:
    /// the deploy goes on, and the operator sees why lines are missing.
    pub async fn flush_output(&self) {
        if let Err(err) = self.output.flush().await {
            tracing::error!("the deploy log could not store command output: {err:#}");
        }
    }

    pub async fn edit(&self, channel: &str, msg: &str, text: &str) {
        if let Err(err) = self.chat.edit(channel, &msg.to_owned(), text).await {
            tracing::warn!("could not edit {msg} in {channel}: {err:#}");
        }
    }
}

/// Runs one understood command.
async fn dispatch(
    inner: &Arc<Inner>,
    channel: &str,
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
        Wcid { app } => queries::wcid(inner, channel, app).await,
        Windows { env } => queries::windows(inner, channel, env).await,
        Help { topic } => queries::help(inner, channel, topic).await,
        Approve { .. }
        | Deny { .. }
        | Lock { .. }
        | Unlock { .. }
        | Locks
        | Freeze { .. }
        | Unfreeze { .. } => {
            inner
                .say(
                    channel,
                    "Approvals, locks and one-off freezes are not available in this version of deckhand yet. Nothing was changed.",
                )
                .await;
            Ok(())
        }
    }
}
