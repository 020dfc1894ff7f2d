//! Streams in the OpenAI Chat Completions wire format (`data: {chat.completion.chunk}` lines, `data: [DONE]`).

use serde_json::{Value, json};

use crate::Reply;

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let event = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_763_700_000,
        "model": "mock-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    format!("data: {event}\n\n")
}

fn usage(prompt: u64, completion: u64) -> String {
    let event = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_763_700_000,
        "model": "mock-1",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    });
    format!("data: {event}\n\n")
}

/// The SSE pieces of a text answer, one piece per word, then usage and `[DONE]`.
pub fn text_pieces(text: &str) -> Vec<String> {
    let mut pieces = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    for word in words {
        pieces.push(chunk(json!({"content": word}), None));
    }
    pieces.push(chunk(json!({}), Some("stop")));
    pieces.push(usage(12, text.split_whitespace().count() as u64));
    pieces.push("data: [DONE]\n\n".to_owned());
    pieces
}

/// A streamed text answer.
pub fn text(text: &str) -> Reply {
    Reply::sse_raw(text_pieces(text))
}

/// A streamed tool call whose JSON arguments arrive in pieces of `piece` characters.
pub fn tool_call(id: &str, name: &str, arguments: &Value, piece: usize) -> Reply {
    let args = arguments.to_string();
    let mut pieces = vec![chunk(
        json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
        None,
    )];
    let chars: Vec<char> = args.chars().collect();
    for part in chars.chunks(piece.max(1)) {
        let fragment: String = part.iter().collect();
        pieces.push(chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}), None));
    }
    pieces.push(chunk(json!({}), Some("tool_calls")));
    pieces.push(usage(40, 9));
    pieces.push("data: [DONE]\n\n".to_owned());
    Reply::sse_raw(pieces)
}

/// An error body as OpenAI sends it.
pub fn error(status: u16, message: &str, kind: &str) -> Reply {
    Reply::json(status, json!({"error": {"message": message, "type": kind, "code": null}}))
}
