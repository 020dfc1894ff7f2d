//! Receiving: the subscription check (`GET`), and signed deliveries (`POST`) recorded before they are acknowledged.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use openclaw_store::Accepted;
use sha2::Sha256;

use super::*;

pub(super) fn reply(status: StatusCode, body: Value) -> axum::response::Response {
    axum::response::IntoResponse::into_response((status, axum::Json(body)))
}

/// `sha256=<hex>` of the body keyed with the app secret, as Meta signs a delivery.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails; an empty signature would match nothing.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(app_secret.as_bytes()) else { return String::new() };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl WhatsApp {
    /// Meta's subscription check: the challenge back when the mode and token match, 403 otherwise.
    pub(super) fn verify_subscription(&self, query: &HashMap<String, String>) -> axum::response::Response {
        let given = query.get("hub.verify_token").map(String::as_bytes).unwrap_or_default();
        let matches = bool::from(subtle::ConstantTimeEq::ct_eq(given, self.verify_token.as_bytes()));
        match (query.get("hub.mode").map(String::as_str), query.get("hub.challenge")) {
            (Some("subscribe"), Some(challenge)) if matches && challenge.len() <= 256 => {
                tracing::info!(account = %self.account, "WhatsApp webhook subscription verified.");
                axum::response::IntoResponse::into_response((StatusCode::OK, challenge.clone()))
            }
            _ => reply(StatusCode::FORBIDDEN, json!({"ok": false, "error": "verification failed"})),
        }
    }

    fn check_signature(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
        let given = headers
            .get("x-hub-signature-256")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .ok_or("missing X-Hub-Signature-256")?;
        let expected = signature(&self.app_secret, body);
        if bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes())) {
            Ok(())
        } else {
            Err("bad signature")
        }
    }

    pub(super) async fn delivery(&self, inbox: &Inbox, post: &crate::refusals::Post) -> axum::response::Response {
        let (headers, body, source) = (&post.headers, &post.body[..], post.source);
        if let Err(reason) = self.check_signature(headers, body) {
            crate::refusals::record(&self.refusals, inbox, "whatsapp", reason, source).await;
            return reply(StatusCode::UNAUTHORIZED, json!({"ok": false, "error": reason}));
        }
        let delivery = match parse_delivery(body, &self.account, &self.phone_number_id) {
            Ok(delivery) => delivery,
            Err(error) => {
                tracing::warn!(account = %self.account, error = %openclaw_protocol::log_safe(&error), "A WhatsApp delivery does not read.");
                return reply(StatusCode::BAD_REQUEST, json!({"ok": false, "error": error}));
            }
        };
        for kind in &delivery.skipped {
            tracing::debug!(account = %self.account, kind = %openclaw_protocol::log_safe(kind), "WhatsApp message passed over.");
        }
        for message in &delivery.messages {
            match inbox.accept(message, None).await {
                Ok(Accepted::New(_) | Accepted::Duplicate(_)) => {}
                Err(error) => {
                    // Not acknowledged: Meta delivers the whole payload again, and what was recorded is recognised.
                    tracing::warn!(account = %self.account, %error, "Cannot record a WhatsApp message; Meta will retry.");
                    return reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"ok": false, "error": "cannot record the message now; retry"}),
                    );
                }
            }
        }
        for status in &delivery.statuses {
            if let Some(error) = &status.error {
                tracing::warn!(account = %self.account, message = %status.id, error = %openclaw_protocol::log_safe(error), "WhatsApp could not deliver a message.");
            }
            if let Some(key) = status.callback.as_deref().filter(|_| status.status != "failed")
                && let Err(error) = self.remember_sent(inbox, &status.recipient, key, &status.id).await
            {
                tracing::warn!(account = %self.account, %error, "Cannot record a WhatsApp status; Meta will retry.");
                return reply(StatusCode::SERVICE_UNAVAILABLE, json!({"ok": false, "error": "retry"}));
            }
        }
        reply(StatusCode::OK, json!({"ok": true}))
    }
}
