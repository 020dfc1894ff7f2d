//! A webhook delivery (`whatsapp_business_account` → `entry[].changes[].value`) as inbound messages and status
//! updates, for one phone number.

use super::*;
use crate::{Inbound, Media, PeerKind, Sender};

/// A status update of a message the business sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The message's `wamid`.
    pub id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    pub recipient: String,
    /// What the send put in `biz_opaque_callback_data` (the chunk's key).
    pub callback: Option<String>,
    /// For `failed`: the error's code and title.
    pub error: Option<String>,
}

/// What one delivery carries for a phone number.
#[derive(Debug, Default)]
pub struct Delivery {
    pub messages: Vec<Inbound>,
    pub statuses: Vec<Status>,
    /// Messages passed over (reactions, unsupported types), by type, for the log.
    pub skipped: Vec<String>,
}

fn text_of(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// Parses a delivery; only the changes for `phone_number_id` are read (one app may serve several numbers).
///
/// # Errors
/// What is malformed about the body, for a 400.
pub fn parse_delivery(body: &[u8], account: &str, phone_number_id: &str) -> Result<Delivery, String> {
    let payload: Value = serde_json::from_slice(body).map_err(|error| format!("the body is not JSON: {error}"))?;
    if payload["object"] != "whatsapp_business_account" {
        return Err("not a WhatsApp Business Account delivery (object is not \"whatsapp_business_account\")".to_owned());
    }
    let entries = payload["entry"].as_array().ok_or("entry is not a list")?;
    let mut delivery = Delivery::default();
    for change in entries.iter().filter_map(|entry| entry["changes"].as_array()).flatten() {
        if change["field"] != "messages" {
            continue;
        }
        let value = &change["value"];
        if value["metadata"]["phone_number_id"].as_str() != Some(phone_number_id) {
            continue;
        }
        let name_of = |wa_id: &str| {
            value["contacts"].as_array().and_then(|contacts| {
                contacts
                    .iter()
                    .find(|contact| contact["wa_id"] == wa_id)
                    .and_then(|contact| text_of(&contact["profile"]["name"]))
            })
        };
        for message in value["messages"].as_array().into_iter().flatten() {
            match parse_message(message, account, name_of) {
                Ok(inbound) => delivery.messages.push(inbound),
                Err(kind) => delivery.skipped.push(kind),
            }
        }
        for status in value["statuses"].as_array().into_iter().flatten() {
            let (Some(id), Some(state)) = (text_of(&status["id"]), text_of(&status["status"])) else { continue };
            let error = status["errors"].as_array().and_then(|errors| errors.first()).map(|error| {
                format!("{} {}", error["code"], error["title"].as_str().or(error["message"].as_str()).unwrap_or(""))
            });
            delivery.statuses.push(Status {
                id,
                status: state,
                recipient: text_of(&status["recipient_id"]).unwrap_or_default(),
                callback: text_of(&status["biz_opaque_callback_data"]),
                error,
            });
        }
    }
    Ok(delivery)
}

/// One message as an [`Inbound`]; `Err(type)` for one the agent does not read.
fn parse_message(message: &Value, account: &str, name_of: impl Fn(&str) -> Option<String>) -> Result<Inbound, String> {
    let kind = message["type"].as_str().unwrap_or("unknown").to_owned();
    let (Some(id), Some(from)) = (text_of(&message["id"]), text_of(&message["from"])) else {
        return Err(format!("{kind} without an id or sender"));
    };
    if id.is_empty() || id.len() > 256 || from.is_empty() || !from.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{kind} with a malformed id or sender"));
    }
    let mut media = Vec::new();
    let text = match kind.as_str() {
        "text" => text_of(&message["text"]["body"]).unwrap_or_default(),
        "image" | "video" | "audio" | "document" | "sticker" => {
            let part = &message[kind.as_str()];
            let Some(reference) = text_of(&part["id"]) else { return Err(format!("{kind} without a media id")) };
            let media_kind = match kind.as_str() {
                "image" => "photo",
                "audio" if part["voice"] == true => "voice",
                other => other,
            };
            media.push(Media {
                kind: media_kind.to_owned(),
                reference,
                mime: text_of(&part["mime_type"]),
                name: text_of(&part["filename"]),
            });
            text_of(&part["caption"]).unwrap_or_default()
        }
        "button" => text_of(&message["button"]["text"]).unwrap_or_default(),
        "interactive" => {
            let interactive = &message["interactive"];
            text_of(&interactive["button_reply"]["title"])
                .or_else(|| text_of(&interactive["list_reply"]["title"]))
                .unwrap_or_default()
        }
        "location" => {
            let location = &message["location"];
            let place = [text_of(&location["name"]), text_of(&location["address"])]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "(location {}, {}{})",
                location["latitude"],
                location["longitude"],
                if place.is_empty() { String::new() } else { format!(": {place}") }
            )
        }
        other => return Err(other.to_owned()),
    };
    if text.trim().is_empty() && media.is_empty() {
        return Err(format!("{kind} without text"));
    }
    let timestamp_ms = message["timestamp"]
        .as_str()
        .and_then(|seconds| seconds.parse::<i64>().ok())
        .map_or_else(openclaw_protocol::now_ms, |seconds| seconds.saturating_mul(1000));
    let route = Route { to: from.clone(), reply_to: Some(id.clone()), outbound_id: None };
    Ok(Inbound {
        channel: "whatsapp".to_owned(),
        account: account.to_owned(),
        peer: Peer { kind: PeerKind::Direct, id: from.clone(), thread: None, title: None, space: None },
        sender: Sender { id: from.clone(), name: name_of(&from), username: None, is_bot: false },
        text,
        media,
        reply_to: text_of(&message["context"]["id"]),
        platform_id: id.clone(),
        message_id: Some(id),
        timestamp_ms,
        mentioned: false,
        session_key: None,
        route: route.to_value(),
    })
}
