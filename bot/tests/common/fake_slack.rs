//! A fake Slack on 127.0.0.1 for the real slack-morphism client: the Web API methods deckhand
//! calls (`auth.test`, `apps.connections.open`, `chat.postMessage`, `chat.postEphemeral`,
//! `chat.update`, `reactions.add`, `users.info`, `usergroups.users.list`), answering
//! with Slack's documented payload shapes and recording each call, and a Socket Mode WebSocket
//! that sends `hello` and then the envelopes a test hands it, recording the acknowledgements.
//!
//! The shapes follow api.slack.com: a Web API answer is `{"ok": true, …}` or
//! `{"ok": false, "error": "<code>"}` (HTTP 200 either way); an envelope is
//! `{"type": "events_api", "envelope_id", "accepts_response_payload", "payload": {event_callback}}`
//! and its acknowledgement `{"envelope_id": …}`; a button click is an `interactive` envelope
//! whose payload is a `block_actions` interaction ([`block_actions`]). A payload slack-morphism cannot decode is
//! dropped silently by it, so tests assert what the bot did, not only that nothing failed.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The bot's user id in the fake workspace (`auth.test`).
pub const BOT_USER: &str = "U0BOT";

/// One Web API call as the fake received it.
#[derive(Debug, Clone)]
pub struct Call {
    /// `chat.postMessage`, …
    pub method: String,
    /// The JSON body (`Null` when there was none).
    pub body: Value,
    /// The `Authorization` header: `Bearer <token>`.
    pub auth: String,
    /// When the fake received it (for the benchmark's latencies).
    pub at: std::time::Instant,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    acks: Vec<String>,
    /// The open Socket Mode connections, oldest first (closed ones are removed when found).
    sockets: Vec<mpsc::UnboundedSender<String>>,
    connections: usize,
    /// `auth.test` answers `{"ok": false, "error": <this>}` when set.
    auth_error: Option<String>,
    /// The next call of this method answers HTTP 429 with `Retry-After: <secs>`.
    limited: Option<(String, u64)>,
    /// `users.info`: display names by user id (others are `user_not_found`).
    users: std::collections::HashMap<String, String>,
    /// `usergroups.users.list`: members by user group id (others are `no_such_subteam`).
    groups: std::collections::HashMap<String, Vec<String>>,
}

#[derive(Clone)]
pub struct FakeSlack {
    /// The Web API base to give deckhand as `SLACK_API_URL` (`http://127.0.0.1:PORT/api`).
    pub api_url: String,
    state: Arc<Mutex<State>>,
}

impl FakeSlack {
    /// Starts both servers on the current runtime.
    pub async fn start() -> FakeSlack {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_url = format!("ws://{}/link/", ws.local_addr().unwrap());
        let fake = FakeSlack {
            api_url: format!("http://{}/api", http.local_addr().unwrap()),
            state: Arc::default(),
        };
        let ts = Arc::new(AtomicU64::new(1));
        let web = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = http.accept().await else {
                    return;
                };
                let (fake, ws_url, ts) = (web.clone(), ws_url.clone(), ts.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (fake, ws_url, ts) = (fake.clone(), ws_url.clone(), ts.clone());
                        async move { fake.web_api(req, &ws_url, &ts).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let sockets = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = ws.accept().await else {
                    return;
                };
                tokio::spawn(sockets.clone().socket(stream));
            }
        });
        fake
    }

    /// `auth.test` fails from now on with Slack's error `code` (`invalid_auth`).
    pub fn fail_auth(&self, code: &str) {
        self.state.lock().unwrap().auth_error = Some(code.to_owned());
    }

    /// `users.info` names `user` `display` from now on.
    pub fn add_user(&self, user: &str, display: &str) {
        self.state
            .lock()
            .unwrap()
            .users
            .insert(user.to_owned(), display.to_owned());
    }

    /// `usergroups.users.list` lists `members` for `group` from now on.
    pub fn set_group(&self, group: &str, members: &[&str]) {
        self.state.lock().unwrap().groups.insert(
            group.to_owned(),
            members.iter().map(|m| (*m).to_owned()).collect(),
        );
    }

    /// The next call of `method` is answered 429 Too Many Requests, `Retry-After: secs`.
    pub fn rate_limit_next(&self, method: &str, secs: u64) {
        self.state.lock().unwrap().limited = Some((method.to_owned(), secs));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls of one method.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The envelope ids acknowledged, in order.
    pub fn acks(&self) -> Vec<String> {
        self.state.lock().unwrap().acks.clone()
    }

    /// How many Socket Mode connections were opened so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Drops every open Socket Mode connection (the TCP connection closes, without a close
    /// frame), as a network failure would.
    pub fn drop_sockets(&self) {
        self.state.lock().unwrap().sockets.clear();
    }

    /// Sends an envelope on every open connection (as Slack may); how many it was sent on.
    pub fn send_on_all(&self, envelope: &Value) -> usize {
        let mut st = self.state.lock().unwrap();
        st.sockets.retain(|s| !s.is_closed());
        st.sockets
            .iter()
            .filter(|s| s.send(envelope.to_string()).is_ok())
            .count()
    }

    /// Sends an envelope on the oldest open connection; false when none is open.
    pub fn send(&self, envelope: &Value) -> bool {
        let mut st = self.state.lock().unwrap();
        st.sockets.retain(|s| !s.is_closed());
        st.sockets
            .first()
            .is_some_and(|s| s.send(envelope.to_string()).is_ok())
    }

    /// Waits until `ready` holds of the recorded calls (checked every 20 ms), or panics after
    /// `secs` seconds showing every call.
    pub async fn wait_for(&self, secs: u64, what: &str, ready: impl Fn(&[Call]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if ready(&self.calls()) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "fake Slack: no {what} within {secs}s; calls: {:#?}",
                    self.calls()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the envelope `id` was acknowledged, or panics after `secs` seconds.
    pub async fn wait_ack(&self, id: &str, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !self.acks().iter().any(|a| a == id) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "fake Slack: {id} not acknowledged within {secs}s; acks: {:?}",
                self.acks()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until a Socket Mode connection is open (hello sent).
    pub async fn wait_connected(&self, secs: u64) {
        self.wait_connections(1, secs).await;
    }

    /// Waits until `n` Socket Mode connections were opened in all.
    pub async fn wait_connections(&self, n: usize, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while self.connections() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "fake Slack: no Socket Mode connection within {secs}s; calls: {:#?}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn web_api(
        &self,
        req: Request<Incoming>,
        ws_url: &str,
        ts: &AtomicU64,
    ) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
        // `…/api/chat.postMessage` (or `…/api//…` when the base ends with `/`).
        let method = req
            .uri()
            .path()
            .trim_start_matches('/')
            .trim_start_matches("api")
            .trim_start_matches('/')
            .to_owned();
        // A GET method (`users.info`) takes its arguments in the query: recorded as the body.
        let query: serde_json::Map<String, Value> = req
            .uri()
            .query()
            .map(|q| {
                url_pairs(q)
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect()
            })
            .unwrap_or_default();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Value = match serde_json::from_slice(&bytes) {
            Ok(body) => body,
            Err(_) if !query.is_empty() => Value::Object(query),
            Err(_) => Value::Null,
        };
        let answer = {
            let mut st = self.state.lock().unwrap();
            st.calls.push(Call {
                method: method.clone(),
                body: body.clone(),
                auth,
                at: std::time::Instant::now(),
            });
            if st.limited.as_ref().is_some_and(|(m, _)| *m == method) {
                let (_, secs) = st.limited.take().unwrap();
                return Ok(Response::builder()
                    .status(429)
                    .header("content-type", "application/json; charset=utf-8")
                    .header("retry-after", secs.to_string())
                    .body(Full::new(Bytes::from(
                        json!({"ok": false, "error": "ratelimited"}).to_string(),
                    )))
                    .unwrap());
            }
            let str_of = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
            match method.as_str() {
                "auth.test" => match &st.auth_error {
                    Some(code) => json!({"ok": false, "error": code}),
                    None => json!({
                        "ok": true, "url": "https://fake.slack.com/", "team": "Fake",
                        "user": "deckhand", "team_id": "T0FAKE", "user_id": BOT_USER,
                        "bot_id": "B0BOT", "is_enterprise_install": false,
                    }),
                },
                "apps.connections.open" => json!({"ok": true, "url": ws_url}),
                "chat.postMessage" if !str_of("channel").starts_with('C') => {
                    json!({"ok": false, "error": "channel_not_found"})
                }
                "chat.postMessage" => {
                    let ts = format!("1764756000.{:06}", ts.fetch_add(1, Ordering::SeqCst));
                    let mut message = json!({
                        "type": "message", "user": BOT_USER, "bot_id": "B0BOT",
                        "text": str_of("text"), "ts": ts, "team": "T0FAKE",
                    });
                    if let Some(thread) = body.get("thread_ts") {
                        message["thread_ts"] = thread.clone();
                    }
                    json!({"ok": true, "channel": str_of("channel"), "ts": ts, "message": message})
                }
                "reactions.add" => json!({"ok": true}),
                "chat.postEphemeral" => {
                    let ts = format!("1764756000.{:06}", ts.fetch_add(1, Ordering::SeqCst));
                    json!({"ok": true, "message_ts": ts})
                }
                "users.info" => match st.users.get(&str_of("user")) {
                    Some(display) => json!({
                        "ok": true,
                        "user": {
                            "id": str_of("user"), "team_id": "T0FAKE",
                            "name": display.to_lowercase().replace(' ', "."),
                            "deleted": false, "real_name": display, "tz": "Europe/Brussels",
                            "profile": {
                                "display_name": display, "real_name": display,
                                "display_name_normalized": display, "real_name_normalized": display,
                                "team": "T0FAKE",
                            },
                            "is_admin": false, "is_owner": false, "is_bot": false,
                            "is_app_user": false, "updated": 1764756000,
                        },
                    }),
                    None => json!({"ok": false, "error": "user_not_found"}),
                },
                "usergroups.users.list" => match st.groups.get(&str_of("usergroup")) {
                    Some(users) => json!({"ok": true, "users": users}),
                    None => json!({"ok": false, "error": "no_such_subteam"}),
                },
                "chat.update" => json!({
                    "ok": true, "channel": str_of("channel"), "ts": str_of("ts"),
                    "text": str_of("text"),
                    "message": {"text": str_of("text"), "user": BOT_USER, "bot_id": "B0BOT"},
                }),
                _ => json!({"ok": false, "error": "unknown_method"}),
            }
        };
        Ok(Response::builder()
            .header("content-type", "application/json; charset=utf-8")
            .body(Full::new(Bytes::from(answer.to_string())))
            .unwrap())
    }

    async fn socket(self, stream: tokio::net::TcpStream) {
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (mut write, mut read) = ws.split();
        let hello = json!({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "fake-slack", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0FAKE"},
        });
        if write
            .send(WsMessage::Text(hello.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        {
            let mut st = self.state.lock().unwrap();
            st.sockets.push(tx);
            st.connections += 1;
        }
        loop {
            tokio::select! {
                out = rx.recv() => {
                    let Some(text) = out else { return };
                    if write.send(WsMessage::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                incoming = read.next() => match incoming {
                    Some(Ok(WsMessage::Text(text))) => {
                        if let Ok(v) = serde_json::from_str::<Value>(text.as_str())
                            && let Some(id) = v["envelope_id"].as_str()
                        {
                            self.state.lock().unwrap().acks.push(id.to_owned());
                        }
                    }
                    Some(Ok(WsMessage::Ping(p))) => {
                        let _ = write.send(WsMessage::Pong(p)).await;
                    }
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
}

/// `a=1&b=x%20y` as pairs, decoded.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Percent-decoding (and `+` as a space), for the fake's queries and forms.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encoding of a form value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A slash command's fields as Slack sends them (Socket Mode payload, or the HTTP form):
/// `user` typed `command text` in `channel`.
pub fn command_fields(
    channel: &str,
    user: &str,
    command: &str,
    text: &str,
    trigger: &str,
) -> Vec<(String, String)> {
    let name = user.trim_start_matches("U0").to_lowercase();
    [
        ("token", "verification-token-unused"),
        ("team_id", "T0FAKE"),
        ("team_domain", "fake"),
        ("channel_id", channel),
        ("channel_name", "ops"),
        ("user_id", user),
        ("user_name", name.as_str()),
        ("command", command),
        ("text", text),
        ("api_app_id", "A0FAKE"),
        ("is_enterprise_install", "false"),
        (
            "response_url",
            "https://hooks.slack.com/commands/T0FAKE/1/fake",
        ),
        ("trigger_id", trigger),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A `slash_commands` envelope as Slack sends it over Socket Mode.
pub fn slash_command(
    envelope_id: &str,
    channel: &str,
    user: &str,
    command: &str,
    text: &str,
    trigger: &str,
) -> Value {
    let payload: serde_json::Map<String, Value> =
        command_fields(channel, user, command, text, trigger)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
    json!({
        "type": "slash_commands",
        "envelope_id": envelope_id,
        "accepts_response_payload": true,
        "payload": payload,
    })
}

/// A form body (`application/x-www-form-urlencoded`).
pub fn form(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// An `events_api` envelope as Slack sends it over Socket Mode.
pub fn envelope(envelope_id: &str, event_id: &str, event: Value) -> Value {
    json!({
        "type": "events_api",
        "envelope_id": envelope_id,
        "accepts_response_payload": false,
        "retry_attempt": 0,
        "retry_reason": "",
        "payload": {
            "token": "verification-token-unused",
            "team_id": "T0FAKE",
            "api_app_id": "A0FAKE",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1764756000,
            "authorizations": [{
                "enterprise_id": null, "team_id": "T0FAKE", "user_id": BOT_USER,
                "is_bot": true, "is_enterprise_install": false,
            }],
            "is_ext_shared_channel": false,
            "event_context": "4-fake",
        },
    })
}

/// A `message` event: `user` typed `text` in a public channel.
pub fn message(channel: &str, user: &str, text: &str, ts: &str) -> Value {
    json!({
        "type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
        "event_ts": ts, "channel_type": "channel", "team": "T0FAKE",
        "client_msg_id": format!("cm-{ts}"),
    })
}

/// A `reaction_added` event: `user` reacted `reaction` to the message `ts` in `channel`.
pub fn reaction_added(channel: &str, user: &str, reaction: &str, ts: &str) -> Value {
    reaction_event("reaction_added", channel, user, reaction, ts)
}

/// A `reaction_removed` event: `user` took back `reaction` from the message `ts`.
pub fn reaction_removed(channel: &str, user: &str, reaction: &str, ts: &str) -> Value {
    reaction_event("reaction_removed", channel, user, reaction, ts)
}

fn reaction_event(kind: &str, channel: &str, user: &str, reaction: &str, ts: &str) -> Value {
    json!({
        "type": kind, "user": user, "reaction": reaction,
        "item_user": BOT_USER,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": "1764756999.000100",
    })
}

/// An `interactive` envelope as Slack sends it over Socket Mode.
pub fn interactive(envelope_id: &str, payload: Value) -> Value {
    json!({
        "type": "interactive",
        "envelope_id": envelope_id,
        "accepts_response_payload": false,
        "payload": payload,
    })
}

/// A `block_actions` payload: `user` clicked the button `action_id` (value `value`) on the
/// bot's message `ts` in `channel`, at `action_ts` (Slack's documented shape).
pub fn block_actions(
    channel: &str,
    user: &str,
    ts: &str,
    action_id: &str,
    value: &str,
    action_ts: &str,
) -> Value {
    let name = user.trim_start_matches("U0").to_lowercase();
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name, "team_id": "T0FAKE"},
        "api_app_id": "A0FAKE",
        "token": "verification-token-unused",
        "container": {
            "type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false,
        },
        "trigger_id": format!("1764756.{action_ts}.fake"),
        "team": {"id": "T0FAKE", "domain": "fake"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": channel, "name": "ops"},
        "message": {
            "type": "message", "user": BOT_USER, "bot_id": "B0BOT", "text": "the request",
            "ts": ts, "team": "T0FAKE",
        },
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0FAKE/1/fake",
        "actions": [{
            "action_id": action_id, "block_id": "fake-block", "value": value,
            "type": "button", "action_ts": action_ts,
            "text": {"type": "plain_text", "text": action_id, "emoji": true},
        }],
    })
}
