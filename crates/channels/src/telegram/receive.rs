//! Receiving: long polling (`getUpdates`, the offset saved with each message) or the webhook.

use super::*;

impl Telegram {
    pub(super) fn cursor_key(&self) -> String {
        format!("telegram:{}:offset", self.account)
    }

    pub(super) async fn identify(&self) -> Result<Me, ApiError> {
        if let Some(me) = self.me.get() {
            return Ok(me.clone());
        }
        let result = self.api.call("getMe", &json!({}), Duration::from_secs(15)).await?;
        let me = Me {
            id: result["id"].as_i64().unwrap_or_default(),
            username: result["username"].as_str().unwrap_or_default().to_owned(),
        };
        let _ = self.me.set(me.clone());
        Ok(me)
    }

    pub(super) async fn poll(&self, inbox: &Inbox) -> Result<(), ChannelError> {
        // A webhook left over from an earlier setup makes getUpdates fail with 409.
        let _ = self.api.call("deleteWebhook", &json!({}), Duration::from_secs(15)).await;
        let key = self.cursor_key();
        let mut offset: i64 = inbox.cursor(&key).await?.and_then(|value| value.parse().ok()).unwrap_or(0);
        let mut failures = 0_u32;
        while !inbox.is_closed() {
            if self.me.get().is_none()
                && let Err(error) = self.identify().await
            {
                tracing::warn!(account = %self.account, %error, "Telegram getMe failed; retrying.");
                failures += 1;
                inbox.backoff(failures).await;
                continue;
            }
            let started = Instant::now();
            let body = json!({"offset": offset, "timeout": POLL_TIMEOUT_SECONDS,
                              "allowed_updates": ["message", "channel_post"]});
            let call = self.api.call("getUpdates", &body, Duration::from_secs(POLL_TIMEOUT_SECONDS + 15));
            let updates = tokio::select! {
                result = call => result,
                () = inbox.closed() => return Ok(()),
            };
            let updates = match updates {
                Ok(updates) => {
                    failures = 0;
                    updates.as_array().cloned().unwrap_or_default()
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(account = %self.account, %error, "Telegram getUpdates failed; retrying.");
                    inbox.backoff(failures).await;
                    continue;
                }
            };
            let empty = updates.is_empty();
            for update in updates {
                let Some(update_id) = update["update_id"].as_i64() else { continue };
                if update_id < offset {
                    continue;
                }
                let next = update_id + 1;
                let saved = match self.normalize(&update) {
                    Some(message) => inbox.accept(&message, Some((key.clone(), next.to_string()))).await.map(|_| ()),
                    None => inbox.save_cursor(&key, &next.to_string()).await,
                };
                if let Err(error) = saved {
                    // Not recorded, not acknowledged: the next getUpdates returns it again.
                    tracing::warn!(account = %self.account, %error, "Cannot record a Telegram update; retrying.");
                    failures += 1;
                    inbox.backoff(failures).await;
                    break;
                }
                offset = next;
            }
            if empty && started.elapsed() < Duration::from_millis(100) {
                // A server that does not hold long polls open: do not spin.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }
}

impl Telegram {
    pub(super) async fn webhook_update(
        &self,
        inbox: &Inbox,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (StatusCode, &'static str) {
        let Some(webhook) = &self.webhook else { return (StatusCode::NOT_FOUND, "not found") };
        let given = headers.get("x-telegram-bot-api-secret-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), webhook.secret.as_bytes())) {
            tracing::warn!(account = %self.account, "Telegram webhook call with a wrong secret token refused.");
            return (StatusCode::UNAUTHORIZED, "bad secret token");
        }
        let Ok(update) = serde_json::from_slice::<Value>(body) else {
            return (StatusCode::BAD_REQUEST, "body is not a JSON update");
        };
        let Some(message) = self.normalize(&update) else { return (StatusCode::OK, "ignored") };
        match inbox.accept(&message, None).await {
            Ok(_) => (StatusCode::OK, "ok"),
            // Telegram retries a failed delivery.
            Err(error) => {
                tracing::warn!(account = %self.account, %error, "Cannot record a Telegram update.");
                (StatusCode::SERVICE_UNAVAILABLE, "cannot record the update; retry")
            }
        }
    }
}
