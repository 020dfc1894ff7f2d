//! Streams in the Anthropic Messages wire format (`event:` + `data:` pairs from `message_start` to `message_stop`).

use serde_json::{Value, json};

use crate::Reply;

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn start(input_tokens: u64) -> String {
    event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_test", "type": "message", "role": "assistant",
            "model": "claude-test", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3, "output_tokens": 1}}}),
    )
}

fn stop(reason: &str, output_tokens: u64) -> Vec<String> {
    vec![
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]
}

/// The SSE pieces of a text answer preceded by a thinking block.
pub fn text_pieces(text: &str, thinking: Option<&str>) -> Vec<String> {
    let mut pieces = vec![start(25), event("ping", json!({"type": "ping"}))];
    let mut index = 0;
    if let Some(thinking) = thinking {
        pieces.push(event("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}})));
        pieces.push(event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": thinking}})));
        pieces.push(event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": "sig-abc"}})));
        pieces.push(event("content_block_stop", json!({"type": "content_block_stop", "index": index})));
        index += 1;
    }
    pieces.push(event(
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
    ));
    for word in text.split_inclusive(' ') {
        pieces.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": word}}),
        ));
    }
    pieces.push(event("content_block_stop", json!({"type": "content_block_stop", "index": index})));
    pieces.extend(stop("end_turn", text.split_whitespace().count() as u64));
    pieces
}

/// A streamed text answer.
pub fn text(text: &str) -> Reply {
    Reply::sse_raw(text_pieces(text, None))
}

/// A streamed text answer with a thinking block first.
pub fn text_with_thinking(text: &str, thinking: &str) -> Reply {
    Reply::sse_raw(text_pieces(text, Some(thinking)))
}

/// A streamed `tool_use` block whose input JSON arrives in pieces of `piece` characters.
pub fn tool_use(id: &str, name: &str, input: &Value, piece: usize) -> Reply {
    let mut pieces = vec![start(50)];
    pieces.push(event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ));
    pieces.push(event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check."}}),
    ));
    pieces.push(event("content_block_stop", json!({"type": "content_block_stop", "index": 0})));
    pieces.push(event("content_block_start", json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
    let chars: Vec<char> = input.to_string().chars().collect();
    for part in chars.chunks(piece.max(1)) {
        let fragment: String = part.iter().collect();
        pieces.push(event("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": fragment}})));
    }
    pieces.push(event("content_block_stop", json!({"type": "content_block_stop", "index": 1})));
    pieces.extend(stop("tool_use", 20));
    Reply::sse_raw(pieces)
}

/// An error body as Anthropic sends it.
pub fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(status, json!({"type": "error", "error": {"type": kind, "message": message}}))
}
