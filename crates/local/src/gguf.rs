//! Reading GGUF metadata, and the one check of whether a file is something the embedded runtime can run (used by
//! loading and by `models pull`/`doctor`, which read the header only).

use candle_core::quantized::gguf_file::Content;

pub(crate) fn string(content: &Content, key: &str) -> Option<String> {
    content.metadata.get(key).and_then(|value| value.to_string().ok()).cloned()
}

pub(crate) fn u32(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|value| value.to_u32().ok())
}

pub(crate) fn f32(content: &Content, key: &str) -> Option<f32> {
    content.metadata.get(key).and_then(|value| value.to_f32().ok())
}

/// Why the runtime cannot run this file (`None` if it can): a llama-architecture model with a tokenizer and a chat
/// template in its metadata.
pub(crate) fn unrunnable(content: &Content) -> Option<String> {
    let architecture = string(content, "general.architecture").unwrap_or_default();
    if architecture != "llama" {
        return Some(format!("architecture {architecture:?}; only llama-architecture models run locally"));
    }
    ["tokenizer.ggml.tokens", "tokenizer.chat_template"]
        .into_iter()
        .find(|key| !content.metadata.contains_key(*key))
        .map(|key| format!("it has no {key}"))
}
