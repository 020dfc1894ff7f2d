//! Receiving. Socket Mode: `apps.connections.open` (the app token) gives a one-use WebSocket URL; Slack says
//! `hello`, then sends envelopes; an `events_api` envelope's message is recorded first and the envelope
//! acknowledged (`{"envelope_id"}`) after, so one whose recording failed is not acknowledged and Slack delivers it
//! again; `disconnect` (Slack refreshes connections every few hours) opens a new one. HTTP mode: the signed POST,
//! checked (`v0=` HMAC-SHA256 of `v0:<timestamp>:<body>` with the signing secret, 5 minutes, signatures not seen
//! before) and refused with 401 and an audit row; `url_verification` is answered with its challenge.

use axum::http::{HeaderMap, StatusCode};
use futures::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;

use super::normalize::{Skipped, View};
use super::*;

pub(super) fn reply(status: StatusCode, body: Value) -> (StatusCode, axum::Json<Value>) {
    (status, axum::Json(body))
}

/// Slack's request signature: `v0=` and the hex HMAC-SHA256 of `v0:<timestamp>:<body>`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails; an empty signature would match nothing.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// How one Socket Mode connection ended.
enum Ended {
    Reconnect(String),
    Fatal(String),
    Shutdown,
}

impl Slack {
    fn view<'a>(&'a self, me: &'a Me) -> View<'a> {
        View {
            account: &self.account,
            user_id: &me.user_id,
            bot_id: &me.bot_id,
            quote: self.reply_to != ReplyTo::Off,
            quote_all: self.reply_to == ReplyTo::All,
            allow_bots: self.allow_bots,
        }
    }

    /// Records the message an `event_callback` carries, if any. `Err` only when the store failed.
    async fn record(&self, inbox: &Inbox, callback: &Value, me: &Me) -> Result<(), openclaw_store::StoreError> {
        let event = &callback["event"];
        match parse_event(event, &self.view(me)) {
            Ok(message) => inbox.accept(&message, None).await.map(|_| ()),
            Err(Skipped::Malformed) => {
                tracing::warn!(account = %self.account, "A malformed Slack event was ignored.");
                Ok(())
            }
            Err(skipped) => {
                tracing::debug!(account = %self.account, ?skipped, "Slack event not for the agent.");
                Ok(())
            }
        }
    }

    pub(super) async fn socket_loop(&self, inbox: &Inbox) -> Result<(), ChannelError> {
        let mut failures = 0_u32;
        while !inbox.is_closed() {
            let opened = match self.me().await {
                Ok(me) => self.api.post("apps.connections.open", &json!({}), Token::App).await.map(|open| (me, open)),
                Err(error) => Err(error),
            };
            let (me, url) = match opened {
                Ok((me, open)) => match open["url"].as_str() {
                    Some(url) => (me, url.to_owned()),
                    None => {
                        failures += 1;
                        tracing::warn!(account = %self.account, "apps.connections.open gave no URL; retrying.");
                        inbox.backoff(failures).await;
                        continue;
                    }
                },
                Err(error) => {
                    failures += 1;
                    if matches!(&error, ApiError::Slack { error, .. } if matches!(error.as_str(), "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked"))
                    {
                        tracing::error!(account = %self.account, %error, "Slack refused a token (fix: openclaw channels login slack, and appToken with connections:write).");
                    } else {
                        tracing::warn!(account = %self.account, %error, "Cannot open a Slack Socket Mode connection; retrying.");
                    }
                    inbox.backoff(failures).await;
                    continue;
                }
            };
            let started = std::time::Instant::now();
            match self.socket(inbox, &url, &me).await {
                Ended::Shutdown => return Ok(()),
                Ended::Fatal(reason) => {
                    tracing::error!(account = %self.account, %reason, "The Slack account stopped receiving.");
                    return Err(ChannelError::Other(format!("slack account {}: {reason}", self.account)));
                }
                Ended::Reconnect(reason) => {
                    tracing::info!(account = %self.account, %reason, "Slack connection ended; reconnecting.");
                }
            }
            failures = if started.elapsed() > std::time::Duration::from_secs(30) { 0 } else { failures + 1 };
            if failures > 1 {
                inbox.backoff(failures - 1).await;
            }
        }
        Ok(())
    }

    async fn socket(&self, inbox: &Inbox, url: &str, me: &Me) -> Ended {
        let connect = tokio::time::timeout(std::time::Duration::from_secs(20), tokio_tungstenite::connect_async(url));
        let mut socket = tokio::select! {
            result = connect => match result {
                Ok(Ok((socket, _))) => socket,
                Ok(Err(error)) => return Ended::Reconnect(format!("cannot connect to Slack: {error}")),
                Err(_) => return Ended::Reconnect("connecting to Slack timed out".to_owned()),
            },
            () = inbox.closed() => return Ended::Shutdown,
        };
        loop {
            let frame = tokio::select! {
                frame = socket.next() => frame,
                () = inbox.closed() => {
                    let _ = socket.close(None).await;
                    return Ended::Shutdown;
                }
            };
            let text = match frame {
                None => return Ended::Reconnect("Slack closed the connection".to_owned()),
                Some(Err(error)) => return Ended::Reconnect(format!("the Slack connection failed: {error}")),
                Some(Ok(Message::Text(text))) => text.to_string(),
                Some(Ok(Message::Close(_))) => return Ended::Reconnect("Slack closed the connection".to_owned()),
                Some(Ok(_)) => continue,
            };
            let Ok(envelope) = serde_json::from_str::<Value>(&text) else {
                tracing::warn!(account = %self.account, bytes = text.len(), "A Slack frame that is not JSON was ignored.");
                continue;
            };
            match envelope["type"].as_str().unwrap_or_default() {
                "hello" => tracing::info!(account = %self.account, "Slack Socket Mode connected."),
                "disconnect" => {
                    let reason = envelope["reason"].as_str().unwrap_or("unknown").to_owned();
                    let _ = socket.close(None).await;
                    if reason == "link_disabled" {
                        return Ended::Fatal(
                            "Socket Mode was turned off for the app (fix: api.slack.com/apps → your app → Socket Mode, or mode: \"http\")"
                                .to_owned(),
                        );
                    }
                    return Ended::Reconnect(format!(
                        "Slack asked for a new connection ({})",
                        openclaw_protocol::log_safe(&reason)
                    ));
                }
                kind => {
                    let Some(envelope_id) = envelope["envelope_id"].as_str() else {
                        tracing::debug!(account = %self.account, kind = %openclaw_protocol::log_safe(kind), "Slack frame of another type ignored.");
                        continue;
                    };
                    if kind == "events_api"
                        && let Err(error) = self.record(inbox, &envelope["payload"], me).await
                    {
                        // Not acknowledged: Slack delivers it again, on this connection or the next.
                        tracing::warn!(account = %self.account, %error, "Cannot record a Slack event; not acknowledged.");
                        let _ = socket.close(None).await;
                        return Ended::Reconnect("an event could not be recorded".to_owned());
                    }
                    let ack = json!({"envelope_id": envelope_id}).to_string();
                    if let Err(error) = socket.send(Message::text(ack)).await {
                        return Ended::Reconnect(format!("cannot acknowledge a Slack envelope: {error}"));
                    }
                }
            }
        }
    }

    /// Checks an HTTP Events API request; the reason when refused.
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), &'static str> {
        let Mode::Http { signing_secret, .. } = &self.mode else { return Err("not in HTTP mode") };
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
        let timestamp = header("x-slack-request-timestamp").ok_or("missing X-Slack-Request-Timestamp")?;
        let seconds: i64 = timestamp.parse().map_err(|_| "X-Slack-Request-Timestamp is not a Unix time")?;
        let given = header("x-slack-signature").ok_or("missing X-Slack-Signature")?;
        let expected = signature(signing_secret, timestamp, body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes())) {
            return Err("bad signature");
        }
        if (now - seconds).abs() > SIGNATURE_WINDOW_S {
            return Err("timestamp outside the 5-minute window");
        }
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, forget_at| *forget_at > now);
        if seen.insert(expected, seconds + SIGNATURE_WINDOW_S + 1).is_some() {
            return Err("replayed signature");
        }
        Ok(())
    }

    pub(super) async fn http_event(
        &self,
        inbox: &Inbox,
        post: &crate::refusals::Post,
    ) -> (StatusCode, axum::Json<Value>) {
        let (headers, body, source) = (&post.headers, &post.body[..], post.source);
        if let Err(reason) = self.verify(headers, body, openclaw_protocol::now_ms() / 1000) {
            crate::refusals::record(&self.refusals, inbox, "slack", reason, source).await;
            return reply(StatusCode::UNAUTHORIZED, json!({"ok": false, "error": reason}));
        }
        let Ok(payload) = serde_json::from_slice::<Value>(body) else {
            return reply(StatusCode::BAD_REQUEST, json!({"ok": false, "error": "the body is not JSON"}));
        };
        match payload["type"].as_str().unwrap_or_default() {
            "url_verification" => reply(StatusCode::OK, json!({"challenge": payload["challenge"]})),
            "event_callback" => {
                let me = match self.me().await {
                    Ok(me) => me,
                    Err(error) => {
                        tracing::warn!(account = %self.account, %error, "Cannot learn who the Slack bot is; Slack will retry.");
                        return reply(
                            StatusCode::SERVICE_UNAVAILABLE,
                            json!({"ok": false, "error": "not ready; retry"}),
                        );
                    }
                };
                match self.record(inbox, &payload, &me).await {
                    Ok(()) => reply(StatusCode::OK, json!({"ok": true})),
                    Err(error) => {
                        tracing::warn!(%error, "Cannot record a Slack event.");
                        reply(
                            StatusCode::SERVICE_UNAVAILABLE,
                            json!({"ok": false, "error": "cannot record the event now; retry"}),
                        )
                    }
                }
            }
            _ => reply(StatusCode::OK, json!({"ok": true})),
        }
    }
}
