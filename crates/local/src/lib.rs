//! The embedded local model: a GGUF llama-architecture model (SmolLM2-135M-Instruct by default) loaded once with
//! candle's `quantized_llama` and run in-process, behind the same [`ModelProvider`] trait as the remote providers.
//!
//! - The tokenizer is built from the GGUF metadata (`TokenizerFromGguf`) with SmolLM2's own pre-tokenizer (digits
//!   split one by one, byte-level without a prefix space) instead of candle's GPT-2 default, so token ids match the
//!   model's tokenizer.json.
//! - The prompt is the GGUF's own chat template, rendered with minijinja.
//! - Generation streams one delta per decoded piece, stops at the end-of-turn token or `max_tokens`; greedy decoding
//!   (temperature 0, the default) is deterministic; a seed makes sampling repeatable.
//!
//! **Invariants:** the weights are loaded once and shared; generations take turns on the one model (a queue), they
//! never load it twice. A missing or corrupt file is a [`LocalError`] naming the path and the command that fixes it.

mod gguf;
mod llama;
mod model;
mod pull;
mod registry;

pub use model::{GenerateParams, LocalError, LocalModel, LocalProvider};
pub use pull::{Inspected, Progress, PullError, inspect, name_for_file, pull_catalog, pull_file};
pub use registry::{
    CATALOG, CatalogEntry, DEFAULT_MODEL, Installed, catalog, installed, loaded_count, model_path, shared, valid_name,
};

/// A candle error's message without the backtrace candle appends when `RUST_BACKTRACE` is set (users see these).
fn message(error: &candle_core::Error) -> String {
    error.to_string().lines().next().unwrap_or_default().trim().to_owned()
}
