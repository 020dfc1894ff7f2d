//! Receiving: the signed POST, checked (signature, replay window, seen signatures) and refused with an audit row.

use super::*;

pub(super) fn reply(status: StatusCode, body: Value) -> (StatusCode, axum::Json<Value>) {
    (status, axum::Json(body))
}

impl WebhookChannel {
    /// Checks the signature and freshness; the reason when refused.
    pub(super) fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), &'static str> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
        let timestamp: i64 = header("x-openclaw-timestamp")
            .ok_or("missing X-OpenClaw-Timestamp")?
            .parse()
            .map_err(|_| "X-OpenClaw-Timestamp is not a Unix time in seconds")?;
        let given = header("x-openclaw-signature").ok_or("missing X-OpenClaw-Signature")?;
        let expected = sign(&self.secret, timestamp, body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes())) {
            return Err("bad signature");
        }
        let window = self.window.as_secs() as i64;
        if (now - timestamp).abs() > window {
            return Err("timestamp outside the replay window");
        }
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, forget_at| *forget_at > now);
        if seen.insert(expected, timestamp + window + 1).is_some() {
            return Err("replayed signature");
        }
        Ok(())
    }

    pub(super) async fn reject(
        &self,
        inbox: &Inbox,
        reason: &'static str,
        source: Option<IpAddr>,
    ) -> (StatusCode, axum::Json<Value>) {
        crate::refusals::record(&self.refusals, inbox, "webhook", reason, source).await;
        reply(StatusCode::UNAUTHORIZED, json!({"ok": false, "error": reason}))
    }

    pub(super) async fn handle(&self, inbox: &Inbox, post: &crate::refusals::Post) -> (StatusCode, axum::Json<Value>) {
        let (headers, body, source) = (&post.headers, &post.body[..], post.source);
        let now = openclaw_protocol::now_ms() / 1000;
        if let Err(reason) = self.verify(headers, body, now) {
            return self.reject(inbox, reason, source).await;
        }
        let message = match parse_message(body) {
            Ok(message) => message,
            Err(error) => return reply(StatusCode::BAD_REQUEST, json!({"ok": false, "error": error})),
        };
        let id = message.platform_id.clone();
        match inbox.accept(&message, None).await {
            Ok(Accepted::New(_)) => reply(StatusCode::OK, json!({"ok": true, "id": id})),
            Ok(Accepted::Duplicate(_)) => reply(StatusCode::OK, json!({"ok": true, "id": id, "duplicate": true})),
            Err(error) => {
                tracing::warn!(%error, "Cannot record a webhook message.");
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"ok": false, "error": "cannot record the message now; retry"}),
                )
            }
        }
    }
}
