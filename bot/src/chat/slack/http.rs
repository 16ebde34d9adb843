//! Slack's Events API over HTTP: `POST /slack/events`, `/slack/commands` (slash commands) and
//! `/slack/interactions` (button clicks) on `[http] listen` (docs: README "Slack", "Events API
//! over HTTP").
//!
//! - Every request is checked before anything in it is read: Slack's v0 signature
//!   (`X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{raw body}")>`, compared
//!   in constant time), a `X-Slack-Request-Timestamp` within 5 minutes of now, and never the
//!   same timestamp and signature twice. A missing, forged, stale or replayed signature is
//!   answered 401 and the body is dropped unread.
//! - `url_verification` is answered with its challenge.
//! - An `event_callback`, a slash command or a click is translated exactly as over Socket Mode
//!   (so Slack's retries are handled once), its account named, handed to the engine's queue,
//!   and answered 200 at once with an empty body (Slack retries an event after 3 s; an empty
//!   answer to a command or a click shows nothing of its own). A full queue is
//!   answered 503: Slack sends the event again later. So is every request once deckhand is
//!   stopping (a SIGTERM): Slack sends those events again, to the next deckhand.
//! - A client gets 10 s to send its headers and 10 s more for its body (at most 1 MB).
//!
//! slack-morphism's own `SlackClientEventsHyperListener` is not used: it drops the connection
//! without an answer on a bad signature, where Slack (and a test) expects 401.

use super::{ListenerState, click, commands, translate};
use crate::chat::ChatEvent;
use anyhow::Context;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::Sha256;
use slack_morphism::prelude::SlackPushEventCallback;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where Slack sends events (the app's Request URL is `https://<host>/slack/events`).
pub const EVENTS_PATH: &str = "/slack/events";
/// Where Slack sends slash commands (each command's Request URL).
pub const COMMANDS_PATH: &str = "/slack/commands";
/// Where Slack sends button clicks (Interactivity's Request URL).
pub const INTERACTIONS_PATH: &str = "/slack/interactions";

/// How far a request's timestamp may be from now, in seconds (Slack's own advice: 5 minutes).
pub const MAX_AGE_SECS: i64 = 5 * 60;

/// Slack's event bodies are a few KB; anything much larger is no event.
const MAX_BODY: usize = 1 << 20;

/// Why a request was refused (answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `X-Slack-Signature` or no `X-Slack-Request-Timestamp`.
    Missing,
    /// A timestamp that is no number, or more than 5 minutes from now.
    Stale,
    /// A signature that is not the body's.
    Forged,
    /// This timestamp and signature were accepted once already.
    Replayed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Missing => "no signature or no timestamp",
            Refusal::Stale => "a timestamp more than 5 minutes from now",
            Refusal::Forged => "a signature that does not match",
            Refusal::Replayed => "a signature already used",
        })
    }
}

/// Checks Slack's v0 signatures with the signing secret, remembering the accepted ones for as
/// long as their timestamp is recent enough to be accepted again.
pub struct Verifier {
    secret: Vec<u8>,
    /// `timestamp:signature` → timestamp, of the requests accepted in the last 5 minutes.
    seen: Mutex<HashMap<String, i64>>,
}

impl Verifier {
    pub fn new(signing_secret: &str) -> Verifier {
        Verifier {
            secret: signing_secret.as_bytes().to_vec(),
            seen: Mutex::default(),
        }
    }

    /// `Ok` when `body` was signed by Slack at `timestamp` (seconds since the epoch), within 5
    /// minutes of `now`, and this is the first time this signature is presented.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), Refusal> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(Refusal::Missing);
        };
        let at: i64 = timestamp.parse().map_err(|_| Refusal::Stale)?;
        if (now - at).abs() > MAX_AGE_SECS {
            return Err(Refusal::Stale);
        }
        let tag = signature
            .strip_prefix("v0=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(Refusal::Forged)?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        // Constant-time comparison (and of the full length).
        mac.verify_slice(&tag).map_err(|_| Refusal::Forged)?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // A signature older than the window is refused as stale anyway: forget it.
        seen.retain(|_, at| now - *at <= MAX_AGE_SECS);
        if seen
            .insert(format!("{timestamp}:{signature}"), at)
            .is_some()
        {
            return Err(Refusal::Replayed);
        }
        Ok(())
    }
}

/// How long a client may take to send its headers, and then its body.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The running HTTP listener.
pub struct Server {
    addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
    handler: Arc<Handler>,
}

impl Server {
    /// The address it listens on (the port chosen when `[http] listen` gave port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking connections, and answers 503 on those still open: no more events are
    /// taken (Slack sends again what it did not get a 200 for).
    pub fn shutdown(&self) {
        self.handler.stopping.store(true, Ordering::SeqCst);
        self.accept.abort();
    }
}

struct Handler {
    /// Set when stopping: every request is answered 503.
    stopping: AtomicBool,
    verifier: Verifier,
    state: ListenerState,
}

/// Listens on `addr` and serves [`EVENTS_PATH`], [`COMMANDS_PATH`] and [`INTERACTIONS_PATH`];
/// translated events go to the engine through `state`.
pub(super) async fn serve(
    addr: SocketAddr,
    signing_secret: &str,
    state: ListenerState,
) -> anyhow::Result<Server> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} ([http] listen)"))?;
    let addr = listener.local_addr()?;
    let handler = Arc::new(Handler {
        stopping: AtomicBool::new(false),
        verifier: Verifier::new(signing_secret),
        state,
    });
    let accepting = handler.clone();
    let accept = tokio::spawn(async move {
        let handler = accepting;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors, most likely: wait instead of spinning.
                    tracing::warn!("HTTP listener: {err}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, std::convert::Infallible>(handler.handle(req).await) }
                });
                if let Err(err) = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("HTTP connection: {err}");
                }
            });
        }
    });
    Ok(Server {
        addr,
        accept,
        handler,
    })
}

fn answer(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// 200 with nothing in it: taken (a slash command or a click shows no message of its own).
fn empty() -> Response<Full<Bytes>> {
    answer(StatusCode::OK, "text/plain; charset=utf-8", String::new())
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    answer(status, "text/plain; charset=utf-8", format!("{text}\n"))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Handler {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if self.stopping.load(Ordering::SeqCst) {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "stopping");
        }
        let path = req.uri().path().to_owned();
        if ![EVENTS_PATH, COMMANDS_PATH, INTERACTIONS_PATH].contains(&path.as_str()) {
            return plain(StatusCode::NOT_FOUND, "not found");
        }
        if req.method() != Method::POST {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "POST only");
        }
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let timestamp = header("x-slack-request-timestamp");
        let signature = header("x-slack-signature");
        let body = Limited::new(req.into_body(), MAX_BODY).collect();
        let body = match tokio::time::timeout(READ_TIMEOUT, body).await {
            Ok(Ok(body)) => body.to_bytes(),
            Ok(Err(_)) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
            Err(_) => return plain(StatusCode::REQUEST_TIMEOUT, "body too slow"),
        };
        if let Err(why) = self.verifier.verify(
            timestamp.as_deref(),
            signature.as_deref(),
            &body,
            unix_now(),
        ) {
            tracing::warn!("Slack Events API: refused a request with {why} (401)");
            return plain(StatusCode::UNAUTHORIZED, "invalid signature");
        }
        match path.as_str() {
            COMMANDS_PATH => match commands::from_form(&body) {
                Some(command) => self.hand_over(Some(commands::translate(&command))).await,
                None => plain(StatusCode::BAD_REQUEST, "not a slash command"),
            },
            INTERACTIONS_PATH => match commands::interaction_from_form(&body) {
                Some(interaction) => self.hand_over(click(&interaction)).await,
                // An interaction deckhand does not read (a shortcut, a modal): nothing to do.
                None => empty(),
            },
            _ => self.dispatch(&body).await,
        }
    }

    /// Names the event's account and queues it for the engine: 200 with an empty body when
    /// taken (or when there was nothing to take), 503 when the queue is full.
    async fn hand_over(&self, event: Option<ChatEvent>) -> Response<Full<Bytes>> {
        let Some(event) = event else {
            return empty();
        };
        let event = self.state.named(event).await;
        match self.state.events.try_send(event) {
            Ok(()) => empty(),
            // Not taken: Slack sends it again (the same delivery), and it is handled then, once.
            Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "busy, try again"),
        }
    }

    /// A verified body: a challenge answered, an event handed to the engine.
    async fn dispatch(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return plain(StatusCode::BAD_REQUEST, "not JSON");
        };
        match value["type"].as_str() {
            Some("url_verification") => {
                let challenge = value["challenge"].as_str().unwrap_or_default();
                answer(
                    StatusCode::OK,
                    "application/json",
                    serde_json::json!({ "challenge": challenge }).to_string(),
                )
            }
            Some("event_callback") => {
                let event = match serde_json::from_value::<SlackPushEventCallback>(value) {
                    Ok(event) => event,
                    Err(err) => {
                        // Answered 200 all the same: Slack would only send it again.
                        tracing::debug!("Slack Events API: an event deckhand cannot read: {err}");
                        return plain(StatusCode::OK, "ignored");
                    }
                };
                self.hand_over(translate(&event, &self.state.bot_user))
                    .await
            }
            _ => plain(StatusCode::OK, "ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_756_000;

    fn sign(secret: &str, ts: &str, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{ts}:{body}").as_bytes());
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn slacks_documented_example_verifies() {
        // api.slack.com/authentication/verifying-requests-from-slack
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let ts = "1531420618";
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(secret, ts, body), sig);
        let v = Verifier::new(secret);
        assert_eq!(
            v.verify(Some(ts), Some(sig), body.as_bytes(), 1_531_420_618 + 60),
            Ok(())
        );
    }

    #[test]
    fn missing_forged_stale_and_replayed_signatures_are_refused() {
        let v = Verifier::new("s3cret");
        let ts = NOW.to_string();
        let body = br#"{"type":"event_callback"}"#;
        let good = sign("s3cret", &ts, std::str::from_utf8(body).unwrap());
        assert_eq!(
            v.verify(None, Some(&good), body, NOW),
            Err(Refusal::Missing)
        );
        assert_eq!(v.verify(Some(&ts), None, body, NOW), Err(Refusal::Missing));
        let forged = sign("other", &ts, std::str::from_utf8(body).unwrap());
        assert_eq!(
            v.verify(Some(&ts), Some(&forged), body, NOW),
            Err(Refusal::Forged)
        );
        assert_eq!(
            v.verify(Some(&ts), Some("v0=zz"), body, NOW),
            Err(Refusal::Forged)
        );
        assert_eq!(
            v.verify(Some(&ts), Some(&good), b"{}", NOW),
            Err(Refusal::Forged),
            "another body"
        );
        assert_eq!(
            v.verify(Some(&ts), Some(&good), body, NOW + 301),
            Err(Refusal::Stale)
        );
        assert_eq!(
            v.verify(Some("soon"), Some(&good), body, NOW),
            Err(Refusal::Stale)
        );
        assert_eq!(v.verify(Some(&ts), Some(&good), body, NOW + 300), Ok(()));
        assert_eq!(
            v.verify(Some(&ts), Some(&good), body, NOW + 10),
            Err(Refusal::Replayed)
        );
    }
}
