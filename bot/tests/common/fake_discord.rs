//! A fake Discord on 127.0.0.1 for the real serenity client: the REST routes deckhand calls
//! (under `/api/v10`: `gateway`, `gateway/bot`, `oauth2/applications/@me`, `users/@me`,
//! messages, edits, reactions, threads, guild commands, interaction callbacks and webhook
//! followups), answering with Discord's documented payload shapes and recording each call, and
//! a gateway WebSocket: Hello (op 10), Identify (op 2) → READY, dispatches a test hands it,
//! heartbeats (op 1 → op 11), a forced reconnect (op 7) and a resume (op 6 → RESUMED).
//!
//! Loopback only: every address it hands out is `127.0.0.1`, and it records the `Host` of each
//! request: [`FakeDiscord::assert_loopback`] fails the test if one was not. serenity falls back
//! to Discord's real gateway when `GET /gateway` fails: the fake never fails it unless told to
//! (and the adapter then refuses to start), and every test waits for the fake's own READY.
//!
//! serenity drops a dispatch it cannot decode with a debug line only: the payloads carry every
//! field its models need (a member's `flags`, a reaction's `burst` and `type`, an interaction's
//! `entitlements` and `attachment_size_limit`), and tests assert what the bot did.
#![allow(dead_code)]

use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The bot's user id (`GET /users/@me`, READY).
pub const BOT_USER: &str = "100000000000000001";
/// The application's id (`DISCORD_APPLICATION_ID`).
pub const APP_ID: &str = "200000000000000001";
/// The guild deckhand is in (`DISCORD_GUILD_ID`).
pub const GUILD: &str = "400000000000000001";
/// A text channel of the guild (#ops).
pub const OPS: &str = "500000000000000001";
/// A DM channel: no threads can be started there.
pub const DM: &str = "500000000000000009";
/// The token the fake accepts.
pub const TOKEN: &str = "MTAwMDAw.fake-discord-bot-token.x1y2z3";

/// One REST call as the fake received it.
#[derive(Debug, Clone)]
pub struct Call {
    /// `POST`, `PATCH`, …
    pub method: String,
    /// The path after `/api/v10` (`/channels/5…/messages`).
    pub path: String,
    /// The JSON body (`Null` when there was none).
    pub body: Value,
    /// The `Authorization` header.
    pub auth: String,
}

impl Call {
    /// The message text it carried.
    pub fn content(&self) -> &str {
        self.body["content"].as_str().unwrap_or_default()
    }

    /// Whether it is `method` on a path that matches `pattern`, where `*` stands for one
    /// segment (`POST /channels/*/messages`).
    pub fn is(&self, method: &str, pattern: &str) -> bool {
        if self.method != method {
            return false;
        }
        let want: Vec<&str> = pattern.split('/').collect();
        let got: Vec<&str> = self.path.split('/').collect();
        want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| *w == "*" || w == g)
    }

    /// The path's `n`th segment (`/channels/5…/messages`: 2 is the channel id).
    pub fn segment(&self, n: usize) -> &str {
        self.path.split('/').nth(n).unwrap_or_default()
    }
}

/// One frame the gateway received from the client.
#[derive(Debug, Clone)]
pub struct Sent {
    pub op: u64,
    pub d: Value,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    /// What the client sent on the gateway, in order.
    gateway: Vec<Sent>,
    /// `Host` headers that were not 127.0.0.1.
    not_loopback: Vec<String>,
    /// The open gateway connection (none between a drop and the reconnection).
    socket: Option<mpsc::UnboundedSender<Frame>>,
    connections: usize,
    /// The session's dispatches so far: (seq, type, data), for a resume to replay.
    dispatched: Vec<(u64, String, Value)>,
    seq: u64,
    sessions: u64,
    heartbeat_acks: usize,
    /// Dispatches sent again on a resume although the client had them.
    resent: usize,
    /// `GET /users/@me` answers 401 when set.
    refuse_token: bool,
    /// `GET /gateway` answers 500 when set.
    no_gateway: bool,
    /// Starting threads is refused (403 Missing Permissions) everywhere.
    no_threads: bool,
    /// An Identify is answered by closing with 4014 (Disallowed intent(s)), as Discord does
    /// when a privileged intent is not enabled for the application.
    disallow_intents: bool,
    /// The channel of each interaction token (for its webhook answers).
    tokens: Vec<(String, String)>,
    next_id: u64,
}

enum Frame {
    Text(String),
    /// Close the TCP connection without a close frame, as a network failure would.
    Drop,
}

#[derive(Clone)]
pub struct FakeDiscord {
    /// The REST base to give deckhand as `DISCORD_PROXY_URL` (`http://127.0.0.1:PORT`).
    pub api_url: String,
    /// The gateway's address, as `GET /gateway` tells it.
    pub gateway_url: String,
    state: Arc<Mutex<State>>,
}

/// A snowflake-like id of the fake's own objects, each once.
fn id(st: &mut State) -> String {
    st.next_id += 1;
    format!("{}", 900_000_000_000_000_000u64 + st.next_id)
}

/// A Discord user object.
pub fn user(id: &str, name: &str, bot: bool) -> Value {
    json!({
        "id": id, "username": name, "global_name": name, "discriminator": "0",
        "avatar": null, "bot": bot, "public_flags": 0,
    })
}

/// A guild member object (as reactions and interactions carry it), with its roles.
pub fn member(user_id: &str, name: &str, roles: &[&str]) -> Value {
    json!({
        "user": user(user_id, name, false), "nick": null, "avatar": null, "roles": roles,
        "joined_at": "2026-01-05T10:00:00.000000+00:00", "premium_since": null,
        "deaf": false, "mute": false, "flags": 0, "pending": false,
        "communication_disabled_until": null,
    })
}

/// A message object as REST answers and `MESSAGE_CREATE` carry it.
fn message_object(id: &str, channel: &str, author: Value, content: &str) -> Value {
    json!({
        "id": id, "channel_id": channel, "author": author, "content": content,
        "timestamp": "2026-12-03T10:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0,
        "components": [],
    })
}

impl FakeDiscord {
    /// Starts both servers on the current runtime.
    pub async fn start() -> FakeDiscord {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeDiscord {
            api_url: format!("http://{}", http.local_addr().unwrap()),
            gateway_url: format!("ws://{}", ws.local_addr().unwrap()),
            state: Arc::default(),
        };
        // Every address serenity is given (the REST base as DISCORD_PROXY_URL, the gateway's as
        // `GET /gateway` answers) is loopback.
        assert!(
            fake.api_url.starts_with("http://127.0.0.1:"),
            "{}",
            fake.api_url
        );
        assert!(
            fake.gateway_url.starts_with("ws://127.0.0.1:"),
            "{}",
            fake.gateway_url
        );
        let rest = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = http.accept().await else {
                    return;
                };
                let fake = rest.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let fake = fake.clone();
                        async move { fake.rest(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let gateway = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = ws.accept().await else {
                    return;
                };
                tokio::spawn(gateway.clone().socket(stream));
            }
        });
        fake
    }

    /// `GET /users/@me` answers 401 Unauthorized from now on.
    pub fn refuse_token(&self) {
        self.state.lock().unwrap().refuse_token = true;
    }

    /// `GET /gateway` answers 500 from now on.
    pub fn hide_gateway(&self) {
        self.state.lock().unwrap().no_gateway = true;
    }

    /// An Identify is answered with close code 4014 (Disallowed intent(s)) from now on.
    pub fn disallow_intents(&self) {
        self.state.lock().unwrap().disallow_intents = true;
    }

    /// Starting a thread is refused (403, Missing Permissions) from now on.
    pub fn refuse_threads(&self) {
        self.state.lock().unwrap().no_threads = true;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls of `method` on paths matching `pattern` (see [`Call::is`]).
    pub fn calls_to(&self, method: &str, pattern: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.is(method, pattern))
            .collect()
    }

    /// Messages posted in channels (and threads, which are channels).
    pub fn posts(&self) -> Vec<Call> {
        self.calls_to("POST", "/channels/*/messages")
    }

    /// Messages edited.
    pub fn edits(&self) -> Vec<Call> {
        self.calls_to("PATCH", "/channels/*/messages/*")
    }

    /// What the client sent on the gateway.
    pub fn gateway_frames(&self) -> Vec<Sent> {
        self.state.lock().unwrap().gateway.clone()
    }

    /// How many gateway connections were opened.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// How many dispatches a resume sent again although the client had them.
    pub fn resent(&self) -> usize {
        self.state.lock().unwrap().resent
    }

    pub fn heartbeat_acks(&self) -> usize {
        self.state.lock().unwrap().heartbeat_acks
    }

    /// Fails the test if a request came for a host that is not 127.0.0.1.
    pub fn assert_loopback(&self) {
        let st = self.state.lock().unwrap();
        assert!(
            st.not_loopback.is_empty(),
            "the client called a host that is not loopback: {:?}",
            st.not_loopback
        );
    }

    /// Waits until `ready` holds of the recorded calls (checked every 20 ms), or panics after
    /// `secs` seconds showing every call.
    pub async fn wait_for(&self, secs: u64, what: &str, ready: impl Fn(&[Call]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            self.assert_loopback();
            if ready(&self.calls()) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "fake Discord: no {what} within {secs}s; calls: {:#?}",
                    self.calls()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the client identified or resumed `n` times in all and got its READY or
    /// RESUMED: it is connected to this fake, not elsewhere.
    pub async fn wait_sessions(&self, n: usize, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let started = self
                .gateway_frames()
                .iter()
                .filter(|f| f.op == 2 || f.op == 6)
                .count();
            if started >= n && self.state.lock().unwrap().socket.is_some() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "fake Discord: the client did not identify or resume {n} time(s) on the fake gateway within {secs}s (did it connect elsewhere?); calls: {:#?}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the client is connected and identified.
    pub async fn wait_ready(&self, secs: u64) {
        self.wait_sessions(1, secs).await;
    }

    /// Sends a dispatch (`t`, `d`) on the open connection, numbered in the session; one sent
    /// while the connection is down is replayed by the resume.
    pub fn dispatch(&self, t: &str, d: Value) {
        let mut st = self.state.lock().unwrap();
        st.seq += 1;
        let seq = st.seq;
        st.dispatched.push((seq, t.to_owned(), d.clone()));
        let frame = json!({"op": 0, "t": t, "s": seq, "d": d}).to_string();
        if let Some(socket) = &st.socket {
            let _ = socket.send(Frame::Text(frame));
        }
    }

    /// Asks the client to reconnect (op 7): it resumes its session on a new connection.
    pub fn ask_reconnect(&self) {
        let st = self.state.lock().unwrap();
        if let Some(socket) = &st.socket {
            let _ = socket.send(Frame::Text(json!({"op": 7, "d": null}).to_string()));
        }
    }

    /// Drops the gateway connection without a close frame, as a network failure would.
    pub fn drop_gateway(&self) {
        let mut st = self.state.lock().unwrap();
        if let Some(socket) = st.socket.take() {
            let _ = socket.send(Frame::Drop);
        }
    }

    /// `MESSAGE_CREATE`: `user` (with `roles` in the guild, or in a DM when `channel` is
    /// [`DM`]) typed `text`; the message's id.
    pub fn say(
        &self,
        channel: &str,
        user_id: &str,
        name: &str,
        roles: &[&str],
        text: &str,
    ) -> String {
        let msg_id = {
            let mut st = self.state.lock().unwrap();
            id(&mut st)
        };
        let mut d = message_object(&msg_id, channel, user(user_id, name, false), text);
        if channel != DM {
            d["guild_id"] = json!(GUILD);
            let mut m = member(user_id, name, roles);
            // A message's member carries no user: the author is the user.
            m.as_object_mut().unwrap().remove("user");
            d["member"] = m;
        }
        self.dispatch("MESSAGE_CREATE", d);
        msg_id
    }

    /// `MESSAGE_REACTION_ADD`: `user` (with `roles`) reacted with `emoji` (a Unicode emoji, or
    /// `name:id` for a guild's own) to `message`.
    pub fn react(
        &self,
        channel: &str,
        message: &str,
        user_id: &str,
        name: &str,
        roles: &[&str],
        emoji: &str,
    ) {
        self.dispatch(
            "MESSAGE_REACTION_ADD",
            reaction(channel, message, user_id, name, roles, emoji),
        );
    }

    /// `MESSAGE_REACTION_REMOVE` (no member data: Discord sends none with a removal).
    pub fn unreact(&self, channel: &str, message: &str, user_id: &str, emoji: &str) {
        let mut d = reaction(channel, message, user_id, "", &[], emoji);
        d.as_object_mut().unwrap().remove("member");
        d.as_object_mut().unwrap().remove("message_author_id");
        self.dispatch("MESSAGE_REACTION_REMOVE", d);
    }

    /// `INTERACTION_CREATE` of a slash command `/name` with `options` (Discord's
    /// `[{name, type, value}]`), typed by `user` with `roles` in `channel`; the interaction's
    /// (id, token).
    pub fn slash(
        &self,
        channel: &str,
        user_id: &str,
        name: &str,
        roles: &[&str],
        command: &str,
        options: Value,
    ) -> (String, String) {
        self.interaction(2, channel, user_id, name, roles, |st| {
            json!({"id": id(st), "name": command, "type": 1, "options": options, "guild_id": GUILD})
        }, None)
    }

    /// `INTERACTION_CREATE` of an autocomplete while `option` of `/deploy` is typed.
    pub fn autocomplete(
        &self,
        channel: &str,
        user_id: &str,
        option: &str,
        typed: &str,
    ) -> (String, String) {
        self.interaction(
            4,
            channel,
            user_id,
            "someone",
            &[],
            |st| {
                json!({"id": id(st), "name": "deploy", "type": 1, "guild_id": GUILD, "options": [
                    {"name": option, "type": 3, "value": typed, "focused": true},
                ]})
            },
            None,
        )
    }

    /// `INTERACTION_CREATE` of a click on the button `custom_id` of the bot's message
    /// `message`, by `user` with `roles`.
    pub fn click(
        &self,
        channel: &str,
        message: &str,
        user_id: &str,
        name: &str,
        roles: &[&str],
        custom_id: &str,
    ) -> (String, String) {
        let mut msg = message_object(
            message,
            channel,
            user(BOT_USER, "deckhand", true),
            "the request",
        );
        msg["components"] = json!([{"type": 1, "components": [
            {"type": 2, "style": 3, "label": "Approve", "custom_id": "deckhand_approve"},
            {"type": 2, "style": 4, "label": "Deny", "custom_id": "deckhand_deny"},
        ]}]);
        self.interaction(
            3,
            channel,
            user_id,
            name,
            roles,
            |_| json!({"custom_id": custom_id, "component_type": 2}),
            Some(msg),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn interaction(
        &self,
        kind: u64,
        channel: &str,
        user_id: &str,
        name: &str,
        roles: &[&str],
        data: impl FnOnce(&mut State) -> Value,
        message: Option<Value>,
    ) -> (String, String) {
        let (interaction_id, token, data) = {
            let mut st = self.state.lock().unwrap();
            let interaction_id = id(&mut st);
            let token = format!("fake-interaction-token-{interaction_id}");
            st.tokens.push((token.clone(), channel.to_owned()));
            let data = data(&mut st);
            (interaction_id, token, data)
        };
        let mut d = json!({
            "id": interaction_id, "application_id": APP_ID, "type": kind, "data": data,
            "guild_id": GUILD, "channel_id": channel,
            "channel": {"id": channel, "type": 0, "name": "ops", "guild_id": GUILD},
            "member": member(user_id, name, roles),
            "token": token, "version": 1, "app_permissions": "2147483647",
            "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
            "authorizing_integration_owners": {"0": GUILD}, "context": 0,
            "attachment_size_limit": 10485760,
        });
        if let Some(message) = message {
            d["message"] = message;
        }
        self.dispatch("INTERACTION_CREATE", d);
        (interaction_id, token)
    }

    async fn rest(
        &self,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let host = req
            .headers()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
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
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let path = path.strip_prefix("/api/v10").unwrap_or(&path).to_owned();
        let (status, answer) = {
            let mut st = self.state.lock().unwrap();
            if !host.starts_with("127.0.0.1:") {
                st.not_loopback.push(host.clone());
            }
            let call = Call {
                method: method.clone(),
                path: path.clone(),
                body: body.clone(),
                auth: auth.clone(),
            };
            st.calls.push(call.clone());
            self.answer(&mut st, &call)
        };
        let mut response = Response::builder().status(status);
        if answer != Value::Null {
            response = response.header("content-type", "application/json");
        }
        Ok(response
            .body(Full::new(if answer == Value::Null {
                Bytes::new()
            } else {
                Bytes::from(answer.to_string())
            }))
            .unwrap())
    }

    /// The status and JSON answer of a REST call (`Null`: no body).
    fn answer(&self, st: &mut State, call: &Call) -> (u16, Value) {
        let error = |status: u16, code: u64, message: &str| {
            (status, json!({"message": message, "code": code}))
        };
        if call.auth != format!("Bot {TOKEN}") || (st.refuse_token && call.is("GET", "/users/@me"))
        {
            return error(401, 0, "401: Unauthorized");
        }
        let m = call.method.as_str();
        let bot = || user(BOT_USER, "deckhand", true);
        if call.is("GET", "/gateway") {
            if st.no_gateway {
                return error(500, 0, "500: Internal Server Error");
            }
            return (200, json!({"url": self.gateway_url}));
        }
        if call.is("GET", "/gateway/bot") {
            return (
                200,
                json!({
                    "url": self.gateway_url, "shards": 1,
                    "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
                }),
            );
        }
        if call.is("GET", "/users/@me") {
            return (200, bot());
        }
        if call.is("GET", "/oauth2/applications/@me") {
            return (
                200,
                json!({
                    "id": APP_ID, "name": "deckhand", "icon": null, "description": "",
                    "bot_public": false, "bot_require_code_grant": false,
                    "owner": user("300000000000000099", "owner", false),
                    "verify_key": "0000", "team": null, "flags": 0, "bot": bot(),
                }),
            );
        }
        if call.is("PUT", "/applications/*/guilds/*/commands") {
            let guild = call.segment(4).to_owned();
            let commands: Vec<Value> = call
                .body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    c["id"] = json!(id(st));
                    c["application_id"] = json!(APP_ID);
                    c["guild_id"] = json!(guild);
                    c["version"] = json!(id(st));
                    c["default_member_permissions"] = Value::Null;
                    c["type"] = json!(1);
                    c
                })
                .collect();
            return (200, Value::Array(commands));
        }
        if call.is("POST", "/channels/*/messages") {
            let channel = call.segment(2).to_owned();
            let mut msg = message_object(&id(st), &channel, bot(), call.content());
            if let Some(components) = call.body.get("components") {
                msg["components"] = components.clone();
            }
            if let Some(reference) = call.body.get("message_reference") {
                msg["type"] = json!(19);
                msg["message_reference"] = reference.clone();
            }
            return (200, msg);
        }
        if call.is("PATCH", "/channels/*/messages/*") {
            let mut msg = message_object(call.segment(4), call.segment(2), bot(), call.content());
            msg["edited_timestamp"] = json!("2026-12-03T10:00:01.000000+00:00");
            if let Some(components) = call.body.get("components") {
                msg["components"] = components.clone();
            }
            return (200, msg);
        }
        if m == "PUT" && call.path.ends_with("/@me") && call.path.contains("/reactions/") {
            return (204, Value::Null);
        }
        if call.is("POST", "/channels/*/messages/*/threads") {
            let channel = call.segment(2).to_owned();
            if channel == DM {
                return error(400, 50024, "Cannot execute action on this channel type");
            }
            if st.no_threads {
                return error(403, 50013, "Missing Permissions");
            }
            return (
                201,
                json!({
                    "id": id(st), "type": 11, "guild_id": GUILD, "parent_id": channel,
                    "owner_id": BOT_USER, "name": call.body["name"], "last_message_id": null,
                    "rate_limit_per_user": 0, "flags": 0, "message_count": 0, "member_count": 1,
                    "total_message_sent": 0,
                }),
            );
        }
        if call.is("POST", "/interactions/*/*/callback") {
            return (204, Value::Null);
        }
        let token_channel = |st: &State, token: &str| {
            st.tokens
                .iter()
                .find(|(t, _)| t == token)
                .map(|(_, c)| c.clone())
        };
        if call.is("PATCH", "/webhooks/*/*/messages/@original") || call.is("POST", "/webhooks/*/*")
        {
            let Some(channel) = token_channel(st, call.segment(3)) else {
                return error(401, 50027, "Invalid Webhook Token");
            };
            let mut msg = message_object(&id(st), &channel, bot(), call.content());
            msg["webhook_id"] = json!(APP_ID);
            msg["application_id"] = json!(APP_ID);
            msg["guild_id"] = json!(GUILD);
            if let Some(flags) = call.body.get("flags") {
                msg["flags"] = flags.clone();
            }
            if let Some(components) = call.body.get("components") {
                msg["components"] = components.clone();
            }
            return (200, msg);
        }
        if call.is("DELETE", "/webhooks/*/*/messages/@original") {
            return (204, Value::Null);
        }
        error(404, 0, "404: Not Found")
    }

    async fn socket(self, stream: tokio::net::TcpStream) {
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (mut write, mut read) = ws.split();
        // A short heartbeat interval, so that heartbeats happen within a test.
        let hello = json!({"op": 10, "d": {"heartbeat_interval": 1000}, "s": null, "t": null});
        if write
            .send(WsMessage::Text(hello.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
        self.state.lock().unwrap().connections += 1;
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Frame::Text(text)) => {
                        if write.send(WsMessage::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                    Some(Frame::Drop) | None => return,
                },
                incoming = read.next() => match incoming {
                    Some(Ok(WsMessage::Text(text))) => {
                        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                        let op = v["op"].as_u64().unwrap_or(u64::MAX);
                        if op == 2 && self.state.lock().unwrap().disallow_intents {
                            self.state.lock().unwrap().gateway.push(Sent { op, d: v["d"].clone() });
                            let close = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                                code: 4014.into(),
                                reason: "Disallowed intent(s).".into(),
                            };
                            let _ = write.send(WsMessage::Close(Some(close))).await;
                            return;
                        }
                        let frames = self.received(op, v["d"].clone(), &tx);
                        for f in frames {
                            if write.send(WsMessage::Text(f.into())).await.is_err() {
                                return;
                            }
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

    /// What the gateway answers to the client's frame `op` with `d`.
    fn received(&self, op: u64, d: Value, socket: &mpsc::UnboundedSender<Frame>) -> Vec<String> {
        let mut st = self.state.lock().unwrap();
        st.gateway.push(Sent { op, d: d.clone() });
        match op {
            // Heartbeat → ACK.
            1 => {
                st.heartbeat_acks += 1;
                vec![json!({"op": 11, "d": null, "s": null, "t": null}).to_string()]
            }
            // Identify → a new session, READY.
            2 => {
                st.sessions += 1;
                st.seq = 1;
                st.dispatched.clear();
                st.socket = Some(socket.clone());
                let ready = json!({
                    "v": 10, "user": user(BOT_USER, "deckhand", true), "guilds": [],
                    "session_id": format!("fake-session-{}", st.sessions),
                    "resume_gateway_url": self.gateway_url, "shard": [0, 1],
                    "application": {"id": APP_ID, "flags": 0},
                    "private_channels": [], "relationships": [], "presences": [],
                    "guild_join_requests": [], "geo_ordered_rtc_regions": [], "user_settings": {},
                });
                vec![json!({"op": 0, "t": "READY", "s": 1, "d": ready}).to_string()]
            }
            // Resume → what the client missed, then RESUMED. The last dispatch the client had
            // is sent again too, as Discord may when it did not know it arrived: deckhand must
            // not handle it twice.
            6 => {
                let had = d["seq"].as_u64().unwrap_or(0);
                st.socket = Some(socket.clone());
                st.resent += st.dispatched.iter().filter(|(s, _, _)| *s == had).count();
                let mut frames: Vec<String> = st
                    .dispatched
                    .iter()
                    .filter(|(s, _, _)| *s + 1 > had)
                    .map(|(s, t, d)| json!({"op": 0, "t": t, "s": s, "d": d}).to_string())
                    .collect();
                st.seq += 1;
                frames.push(json!({"op": 0, "t": "RESUMED", "s": st.seq, "d": {}}).to_string());
                frames
            }
            _ => Vec::new(),
        }
    }
}

/// A `MESSAGE_REACTION_ADD` payload.
fn reaction(
    channel: &str,
    message: &str,
    user_id: &str,
    name: &str,
    roles: &[&str],
    emoji: &str,
) -> Value {
    let emoji = match emoji.split_once(':') {
        Some((name, id)) => json!({"id": id, "name": name, "animated": false}),
        None => json!({"id": null, "name": emoji}),
    };
    json!({
        "user_id": user_id, "channel_id": channel, "message_id": message, "guild_id": GUILD,
        "member": member(user_id, name, roles), "emoji": emoji, "message_author_id": BOT_USER,
        "burst": false, "burst_colors": [], "type": 0,
    })
}
