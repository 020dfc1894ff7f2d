//! Normalising: an inbound body as one `Inbound` message.

use super::*;

#[derive(Deserialize)]
pub(super) struct InboundBody {
    id: Value,
    conversation: Value,
    #[serde(default)]
    text: String,
    #[serde(default)]
    sender: Option<InboundSender>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    mentioned: bool,
}

#[derive(Deserialize)]
pub(super) struct InboundSender {
    id: Value,
    #[serde(default)]
    name: Option<String>,
}

/// The longest id or conversation accepted, in bytes.
pub(super) const MAX_ID: usize = 200;

pub(super) fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() && text.len() <= MAX_ID => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Reads an inbound webhook body (`{id, conversation, text, kind?, sender?, mentioned?}`) into a message, or says
/// what is wrong with it. The signature was checked before.
///
/// # Errors
/// What the sender must fix, in one sentence.
pub fn parse_message(body: &[u8]) -> Result<Inbound, String> {
    let parsed: InboundBody = serde_json::from_slice(body).map_err(|error| {
        format!("body is not a webhook message: {error} (expected {{\"id\", \"conversation\", \"text\"}})")
    })?;
    let (Some(id), Some(conversation)) = (id_text(&parsed.id), id_text(&parsed.conversation)) else {
        return Err("id and conversation must be non-empty strings or numbers (at most 200 characters)".to_owned());
    };
    if parsed.text.trim().is_empty() {
        return Err("text is empty".to_owned());
    }
    let kind = match parsed.kind.as_deref() {
        None | Some("direct") => PeerKind::Direct,
        Some("group") => PeerKind::Group,
        Some(other) => {
            return Err(format!("kind {other:?} is not direct or group"));
        }
    };
    let sender = match &parsed.sender {
        Some(sender) => Sender {
            id: id_text(&sender.id).unwrap_or_else(|| conversation.clone()),
            name: sender.name.clone(),
            username: None,
            is_bot: false,
        },
        None => Sender { id: conversation.clone(), name: None, username: None, is_bot: false },
    };
    Ok(Inbound {
        channel: "webhook".to_owned(),
        account: "default".to_owned(),
        peer: Peer { kind, id: conversation.clone(), thread: None, title: None, space: None },
        sender,
        text: parsed.text,
        media: Vec::new(),
        reply_to: None,
        platform_id: id.clone(),
        message_id: Some(id.clone()),
        timestamp_ms: openclaw_protocol::now_ms(),
        mentioned: parsed.mentioned,
        session_key: None,
        route: json!({"conversation": conversation, "inReplyTo": id}),
    })
}
