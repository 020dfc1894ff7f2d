//! `message`: the reference's tool for an agent to speak first on a channel (`action: "send"`, `channel`, `target`,
//! `message`, optional `accountId`, `dryRun`). The tool never sees channels: it hands the request to a
//! [`Messenger`] (the gateway, which queues it in the channels' durable outbox). Without one (a CLI turn in-process)
//! the tool is not offered. The tool policy decides who may use it (`group:messaging`); every call is audited by the
//! runtime like any tool call.

use std::sync::Arc;

use openclaw_protocol::ToolSpec;
use serde_json::{Value, json};

use crate::{Tool, ToolContext, ToolError, ToolOutput, str_arg};

/// The longest message accepted, in bytes (a channel cuts it into its own chunks).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

/// What an agent asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRequest {
    pub agent_id: String,
    pub session_key: String,
    pub channel: String,
    /// The recipient, as the channel reads it (a Telegram chat id, a webhook conversation).
    pub target: String,
    pub account: Option<String>,
    pub text: String,
    /// Check the target only; send nothing.
    pub dry_run: bool,
}

/// What became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageReceipt {
    pub channel: String,
    pub account: String,
    pub conversation: String,
    /// The outbox entry that will deliver it (`None` for a dry run).
    pub queued: Option<i64>,
}

/// Who sends an agent's messages (the gateway: the channels' outbox).
#[async_trait::async_trait]
pub trait Messenger: Send + Sync {
    /// Queues the message for delivery.
    ///
    /// # Errors
    /// What is wrong with the request (an unknown channel or account, a recipient the channel cannot read), or
    /// why it could not be queued; said to the model.
    async fn send(&self, request: MessageRequest) -> Result<MessageReceipt, String>;
}

/// The `message` tool.
pub struct MessageTool;

#[async_trait::async_trait]
impl Tool for MessageTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "message".to_owned(),
            description: "Send a message to someone on a channel (Telegram, webhook, …) without waiting to be \
                          asked: action \"send\" with the channel, the target (a chat id or conversation id) and the \
                          message text. The reply of the current conversation does not need this tool."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["send"], "description": "Only \"send\" is implemented."},
                    "channel": {"type": "string", "description": "The channel: telegram, webhook, …"},
                    "target": {"type": "string", "description": "The recipient on that channel."},
                    "accountId": {"type": "string", "description": "The channel account (default: its default one)."},
                    "message": {"type": "string", "description": "The text to send (Markdown)."},
                    "dryRun": {"type": "boolean", "description": "Check the target only; send nothing."}
                },
                "required": ["action", "channel", "target", "message"]
            }),
        }
    }

    fn offered(&self, ctx: &ToolContext) -> bool {
        ctx.messenger.is_some()
    }

    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let messenger: &Arc<dyn Messenger> = ctx
            .messenger
            .as_ref()
            .ok_or_else(|| ToolError::Failed("no channels here: messages are sent by a running gateway".to_owned()))?;
        match str_arg(&arguments, "action")? {
            Some("send") | None => {}
            Some(other) => {
                return Err(ToolError::InvalidArguments(format!("action {other:?} is not implemented; use \"send\"")));
            }
        }
        let required = |name: &str| -> Result<String, ToolError> {
            str_arg(&arguments, name)?
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| ToolError::InvalidArguments(format!("{name} is required")))
        };
        let channel = required("channel")?;
        let target = required("target")?;
        let text = required("message")?;
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(ToolError::InvalidArguments(format!(
                "the message is {} bytes; at most {MAX_MESSAGE_BYTES} are sent at once",
                text.len()
            )));
        }
        let dry_run = arguments.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
        let request = MessageRequest {
            agent_id: ctx.agent_id.clone(),
            session_key: ctx.session_key.clone(),
            channel,
            target,
            account: str_arg(&arguments, "accountId")?.map(str::to_owned),
            text,
            dry_run,
        };
        let receipt = messenger.send(request).await.map_err(ToolError::Failed)?;
        let text = match receipt.queued {
            Some(id) => format!(
                "Queued for {} ({}/{}): it is delivered in order with the conversation's other messages (outbox {id}).",
                receipt.conversation, receipt.channel, receipt.account
            ),
            None => format!(
                "{} on {}/{} can be reached (dry run: nothing sent).",
                receipt.conversation, receipt.channel, receipt.account
            ),
        };
        Ok(ToolOutput { text })
    }
}
