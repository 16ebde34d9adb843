//! The console adapter (docs/console.md): each input line is a message from the current user in
//! channel `console`; each thing the bot says is printed as one line per the console protocol:
//! `[m<N>] text`, `[m<N> edited] text`, `[m<N> > m<P>] text`, further lines indented by four
//! spaces. Console errors (a bad `/react`, an unknown `/command`) go to stderr, so a script
//! reading stdout sees only the bot.

use super::{Account, ChatError, ChatEvent, ChatOut, Conversation, Message, MsgId, Reaction};
use async_trait::async_trait;
use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The channel every console message is in.
pub const CHANNEL: &str = super::CONSOLE;

/// Prints what the bot says, numbering the messages it posts.
pub struct ConsoleOut {
    state: Mutex<OutState>,
}

struct OutState {
    next: u64,
    /// Ids the bot has posted, so `/react` on anything else is refused.
    posted: HashSet<String>,
    sink: Box<dyn Write + Send>,
}

impl ConsoleOut {
    pub fn new(sink: Box<dyn Write + Send>) -> Self {
        Self {
            state: Mutex::new(OutState {
                next: 1,
                posted: HashSet::new(),
                sink,
            }),
        }
    }

    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }

    /// Whether the bot posted a message with this id.
    pub fn knows(&self, id: &str) -> bool {
        self.state.lock().expect("console lock").posted.contains(id)
    }

    fn print(&self, head: impl FnOnce(&mut OutState) -> String, text: &str) -> String {
        let mut st = self.state.lock().expect("console lock");
        let head = head(&mut st);
        let mut out = String::new();
        let mut lines = text.split('\n');
        out.push_str(&format!("[{head}] {}\n", lines.next().unwrap_or("")));
        for l in lines {
            out.push_str(&format!("    {l}\n"));
        }
        // A closed stdout (the reader went away) must not take the bot down mid-deploy.
        let _ = st.sink.write_all(out.as_bytes());
        let _ = st.sink.flush();
        head
    }

    fn new_id(st: &mut OutState) -> String {
        let id = format!("m{}", st.next);
        st.next += 1;
        st.posted.insert(id.clone());
        id
    }
}

#[async_trait]
impl ChatOut for ConsoleOut {
    async fn post(&self, to: &Conversation, text: &str) -> Result<MsgId, ChatError> {
        let head = self.print(
            |st| {
                let id = Self::new_id(st);
                match &to.thread {
                    Some(parent) => format!("{id} > {parent}"),
                    None => id,
                }
            },
            text,
        );
        Ok(head.split(' ').next().unwrap_or_default().to_owned())
    }

    async fn edit(&self, _channel: &str, msg: &MsgId, text: &str) -> Result<(), ChatError> {
        self.print(|_| format!("{msg} edited"), text);
        Ok(())
    }
}

/// What the console loop needs from the bot.
#[async_trait]
pub trait ConsoleBot: Send + Sync {
    /// Handles one event; returns once the bot has answered it (deploys go on in the background).
    async fn handle(&self, event: ChatEvent);
    /// Returns once nothing is running or queued.
    async fn wait_idle(&self);
}

#[async_trait]
impl ConsoleBot for crate::engine::Bot {
    async fn handle(&self, event: ChatEvent) {
        crate::engine::Bot::handle(self, event).await
    }

    async fn wait_idle(&self) {
        crate::engine::Bot::wait_idle(self).await;
        self.flush_log().await;
        // What was said to other platforms than the console (paced) is out too.
        self.flush_chat().await;
    }
}

/// A console control line, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Control {
    As(Account),
    React {
        msg: String,
        emoji: String,
        add: bool,
    },
    Wait,
    Sleep(Duration),
    Quit,
}

fn parse_control(line: &str) -> Result<Control, String> {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or("/");
    let args: Vec<&str> = words.collect();
    match (cmd, args.as_slice()) {
        ("/as", [user]) => account(user).map(Control::As),
        ("/as", _) => Err(
            "usage: /as <user> (a console user: letters, digits, `.`, `_`, `-`) or /as <platform>:<id> (an account, e.g. slack:U0CAROL)"
                .into(),
        ),
        ("/react" | "/unreact", [msg, emoji]) => Ok(Control::React {
            msg: (*msg).to_owned(),
            emoji: emoji.trim_matches(':').to_owned(),
            add: cmd == "/react",
        }),
        ("/react" | "/unreact", _) => Err(format!(
            "usage: {cmd} <msg> <emoji>, e.g. {cmd} m3 white_check_mark"
        )),
        ("/wait", []) => Ok(Control::Wait),
        ("/sleep", [d]) => humantime::parse_duration(d)
            .map(Control::Sleep)
            .map_err(|e| format!("/sleep needs a duration like 2s or 500ms: {e}")),
        ("/sleep", _) => Err("usage: /sleep <duration>, e.g. /sleep 2s".into()),
        ("/quit", []) => Ok(Control::Quit),
        _ => Err(format!(
            "unknown console command `{}`; try /as, /react, /unreact, /wait, /sleep or /quit",
            crate::core::names::shown(cmd)
        )),
    }
}

/// `/as carol` (a console user) or `/as slack:U0CAROL` (that platform's account: the console
/// stands in for every platform).
fn account(word: &str) -> Result<Account, String> {
    let plain = |u: &str| {
        !u.is_empty()
            && u.len() <= 64
            && u.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    match word.split_once(':') {
        None if plain(word) => Ok(Account::console(word)),
        Some((platform, id))
            if plain(platform)
                && platform.chars().all(|c| c.is_ascii_lowercase())
                && platform != super::CONSOLE
                && plain(id) =>
        {
            Ok(Account {
                groups: None,
                platform: platform.to_owned(),
                id: id.to_owned(),
                display: word.to_owned(),
            })
        }
        _ => Err(format!(
            "`{}` is neither a console user (letters, digits, `.`, `_`, `-`) nor an account like slack:U0CAROL",
            crate::core::names::shown(word)
        )),
    }
}

/// Runs the console until end of input (or `/quit`), then waits for running and queued
/// deploys to finish. A line that is not valid UTF-8 is answered on stderr and skipped.
pub async fn run(
    bot: &dyn ConsoleBot,
    out: &ConsoleOut,
    mut input: impl AsyncBufRead + Unpin,
    user: &str,
) -> anyhow::Result<()> {
    let mut user = account(user).map_err(|e| anyhow::anyhow!("--user: {e}"))?;
    let mut raw = Vec::new();
    let mut number: u64 = 0;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw).await? == 0 {
            break;
        }
        number += 1;
        let Some(line) = text_of(&raw) else {
            eprintln!("console: line {number} is not valid UTF-8 and was ignored");
            continue;
        };
        let trimmed = line.trim();
        if trimmed.starts_with('/') {
            match parse_control(trimmed) {
                Ok(Control::As(u)) => user = u,
                Ok(Control::React { msg, emoji, add }) => {
                    if !out.knows(&msg) {
                        eprintln!(
                            "console: there is no message {} to react to; use the id the bot printed, like m3",
                            crate::core::names::shown(&msg)
                        );
                        continue;
                    }
                    let r = Reaction {
                        channel: CHANNEL.into(),
                        from: user.clone(),
                        message: msg,
                        emoji,
                        from_bot: false,
                        delivery: None,
                    };
                    bot.handle(if add {
                        ChatEvent::ReactionAdded(r)
                    } else {
                        ChatEvent::ReactionRemoved(r)
                    })
                    .await;
                }
                Ok(Control::Wait) => bot.wait_idle().await,
                Ok(Control::Sleep(d)) => tokio::time::sleep(d).await,
                Ok(Control::Quit) => break,
                Err(msg) => eprintln!("console: {msg}"),
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        bot.handle(ChatEvent::Message(Message {
            place: Conversation::channel(CHANNEL),
            id: None,
            delivery: None,
            from: user.clone(),
            text: line.to_owned(),
            direct: true,
            from_bot: false,
        }))
        .await;
    }
    bot.wait_idle().await;
    Ok(())
}

/// A line read as bytes, without its `\n` or `\r\n`, as text; `None` if it is not UTF-8.
fn text_of(raw: &[u8]) -> Option<&str> {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    std::str::from_utf8(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn prints_the_console_protocol() {
        let buf = Buf::default();
        let out = ConsoleOut::new(Box::new(buf.clone()));
        let m1 = out
            .post(&Conversation::channel(CHANNEL), "hello\nsecond line")
            .await
            .unwrap();
        out.edit(CHANNEL, &m1, "hello again").await.unwrap();
        let thread = Conversation::thread(CHANNEL, Some(m1.clone()));
        let m2 = out.post(&thread, "in a thread").await.unwrap();
        assert_eq!(m2, "m2");
        assert!(out.knows("m1") && out.knows("m2") && !out.knows("m3"));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "[m1] hello\n    second line\n[m1 edited] hello again\n[m2 > m1] in a thread\n"
        );
    }

    /// Records the messages it is given.
    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    #[async_trait]
    impl ConsoleBot for Heard {
        async fn handle(&self, event: ChatEvent) {
            if let ChatEvent::Message(Message { text, .. }) = event {
                self.0.lock().unwrap().push(text);
            }
        }
        async fn wait_idle(&self) {}
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_is_skipped_and_the_next_is_read() {
        let bot = Heard::default();
        let out = ConsoleOut::new(Box::new(Buf::default()));
        let input: &[u8] = b"deploy api\xff to staging\nstatus\r\n\xc3\nhelp";
        run(&bot, &out, input, "alice").await.unwrap();
        assert_eq!(*bot.0.lock().unwrap(), ["status", "help"]);
    }

    #[test]
    fn control_lines_parse_or_say_how_to_use_them() {
        assert_eq!(
            parse_control("/as carol"),
            Ok(Control::As(Account::console("carol")))
        );
        assert_eq!(
            parse_control("/as slack:U0CAROL"),
            Ok(Control::As(Account::new("slack", "U0CAROL", "slack:U0CAROL")))
        );
        assert!(parse_control("/as console:carol").is_err());
        assert!(parse_control("/as slack:").is_err());
        assert_eq!(
            parse_control("/react m3 :white_check_mark:"),
            Ok(Control::React {
                msg: "m3".into(),
                emoji: "white_check_mark".into(),
                add: true
            })
        );
        assert_eq!(
            parse_control("/sleep 2s"),
            Ok(Control::Sleep(Duration::from_secs(2)))
        );
        assert!(parse_control("/as").unwrap_err().contains("usage"));
        assert!(parse_control("/as $(x)").is_err());
        assert!(
            parse_control("/sleep soon")
                .unwrap_err()
                .contains("duration")
        );
        assert!(
            parse_control("/frobnicate")
                .unwrap_err()
                .contains("unknown console command")
        );
    }
}
