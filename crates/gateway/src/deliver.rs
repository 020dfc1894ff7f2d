//! An operator's turn on a channel (`agent` with `channel`/`to`/`deliver`, `openclaw agent --channel telegram --to
//! 42 --deliver`): the session the conversation routes to, the reply queued in the turn's own commit (the outbox
//! then delivers it as it does every channel reply), and the `deliveryStatus` the reference reports.

use std::time::Duration;

use openclaw_channels::{AddressError, Host, routing::Route};
use openclaw_config::Loaded;
use openclaw_protocol::gateway::{ErrorShape, invalid_request};
use openclaw_store::{NewOutbound, Store};
use serde_json::{Value, json};

/// How long the answer to `agent` waits for the outbox to deliver before it reports `queued`.
const DELIVERY_WAIT: Duration = Duration::from_secs(20);

/// What `channel`, `to`, `deliver` and the `reply*` overrides ask for.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// The agent and session of the conversation `channel` + `to` name (`None`: the usual main session).
    pub route: Option<Route>,
    /// Where the answer goes (`deliver: true`), its text still empty.
    pub reply: Option<NewOutbound>,
}

fn text<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str).map(str::trim).filter(|value| !value.is_empty())
}

fn refusal(error: &AddressError) -> ErrorShape {
    invalid_request(error.to_string(), error.reason())
}

/// Reads the delivery fields of an `agent` request. Nothing runs when they name no conversation: an unknown
/// channel, a recipient the channel cannot read, or `deliver` with nowhere to deliver is refused up front.
pub(crate) fn plan(
    host: Option<&Host>,
    loaded: &Loaded,
    params: &Value,
    agent: Option<&str>,
) -> Result<Plan, ErrorShape> {
    let channel = text(params, "channel");
    let to = text(params, "to");
    let account = text(params, "replyAccountId").or(text(params, "accountId"));
    let deliver = params.get("deliver").and_then(Value::as_bool).unwrap_or(false);
    let reply_channel = text(params, "replyChannel").or(channel);
    let reply_to = text(params, "replyTo").or(to);
    if channel.is_none() && to.is_none() && !deliver {
        return Ok(Plan::default());
    }
    let host = host.ok_or_else(|| {
        invalid_request(
            "this gateway runs no channels (fix: `openclaw channels add telegram --token …`)",
            "unknown_channel",
        )
    })?;
    let addressed = match (channel, to) {
        (Some(channel), Some(to)) => Some(host.address(loaded, channel, account, to, agent).map_err(|e| refusal(&e))?),
        (None, Some(_)) => {
            return Err(invalid_request(
                "to needs a channel (fix: add --channel <name>; this gateway does not remember a last channel)",
                "unknown_channel",
            ));
        }
        (Some(channel), None) => {
            // Checked even without a recipient, so a typo is not silently the main session.
            host.account(channel, account).map_err(|e| refusal(&e))?;
            None
        }
        (None, None) => None,
    };
    let reply = match (deliver, reply_channel, reply_to) {
        (false, _, _) => None,
        // Delivered where the turn runs: that conversation's reply.
        (true, _, _) if reply_channel == channel && reply_to == to && addressed.is_some() => {
            addressed.as_ref().map(|addressed| addressed.reply.clone())
        }
        (true, Some(channel), Some(to)) => {
            Some(host.address(loaded, channel, account, to, agent).map_err(|e| refusal(&e))?.reply)
        }
        (true, _, _) => {
            return Err(invalid_request(
                "deliver needs a channel and a recipient (fix: --channel <name> --to <recipient>, or --reply-channel and --reply-to)",
                "no_delivery_target",
            ));
        }
    };
    let route = addressed.map(|addressed| addressed.route);
    Ok(Plan { route, reply })
}

/// The `deliveryStatus` of a run that asked for delivery: waits (up to [`DELIVERY_WAIT`]) until the outbox has
/// sent the reply the run queued, or given it up.
pub(crate) async fn status(host: Option<&Host>, store: &dyn Store, run_id: &str, silent: bool) -> Value {
    if silent {
        return json!({"requested": true, "attempted": false, "status": "suppressed", "succeeded": false,
                      "reason": "no_visible_result"});
    }
    if let Some(host) = host {
        host.wake_outbox();
    }
    let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
    loop {
        let record = match store.outbound_of_run(run_id).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                return json!({"requested": true, "attempted": false, "status": "suppressed", "succeeded": false,
                              "reason": "no_visible_payload"});
            }
            Err(error) => {
                return json!({"requested": true, "attempted": false, "status": "failed", "succeeded": false,
                              "error": true, "errorMessage": error.to_string()});
            }
        };
        match record.status.as_str() {
            "sent" => {
                return json!({"requested": true, "attempted": true, "status": "sent", "succeeded": true,
                              "resultCount": record.chunks_sent, "channel": record.channel, "outboxId": record.id});
            }
            "dead" if record.chunks_sent > 0 => {
                return json!({"requested": true, "attempted": true, "status": "partial_failed", "succeeded": "partial",
                              "sentBeforeError": true, "error": true, "resultCount": record.chunks_sent,
                              "errorMessage": record.last_error, "outboxId": record.id});
            }
            "dead" => {
                return json!({"requested": true, "attempted": true, "status": "failed", "succeeded": false,
                              "error": true, "errorMessage": record.last_error, "outboxId": record.id});
            }
            _ if tokio::time::Instant::now() >= deadline => {
                // Still in the durable outbox: it keeps retrying (`openclaw channels status` shows the queue).
                return json!({"requested": true, "attempted": record.attempts > 0, "status": "queued",
                              "succeeded": false, "reason": "retrying", "errorMessage": record.last_error,
                              "outboxId": record.id});
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The `message` tool's sender: the recipient read by the running channel account, the message queued in the
/// channels' durable outbox (delivered in order with the conversation's other replies).
pub(crate) struct GatewayMessenger {
    pub gateway: std::sync::Weak<crate::Gateway>,
}

#[async_trait::async_trait]
impl openclaw_tools::Messenger for GatewayMessenger {
    async fn send(&self, request: openclaw_tools::MessageRequest) -> Result<openclaw_tools::MessageReceipt, String> {
        let gateway = self.gateway.upgrade().ok_or("the gateway is shutting down")?;
        let host = gateway.channels.get().ok_or("this gateway runs no channels")?;
        let loaded = gateway.loaded();
        let addressed = host
            .address(&loaded, &request.channel, request.account.as_deref(), &request.target, Some(&request.agent_id))
            .map_err(|error| error.to_string())?;
        let reply = openclaw_store::NewOutbound { text: request.text, ..addressed.reply };
        let mut receipt = openclaw_tools::MessageReceipt {
            channel: reply.channel.clone(),
            account: reply.account.clone(),
            conversation: request.target,
            queued: None,
        };
        if request.dry_run {
            return Ok(receipt);
        }
        let id = gateway.store.queue_outbound(reply).await.map_err(|error| format!("cannot queue it: {error}"))?;
        host.wake_outbox();
        tracing::info!(agent = %request.agent_id, channel = %receipt.channel, outbox = id, "Message queued by the message tool.");
        receipt.queued = Some(id);
        Ok(receipt)
    }
}
