//! Loading a GGUF model and generating from it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;

use crate::gguf;
use crate::llama::{Cache, Llama};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use futures::StreamExt;
use openclaw_models::{Api, ErrorKind, EventStream, ModelError, ModelProvider, ModelRequest, StreamEvent};
use openclaw_protocol::{AgentMessage, AssistantMessage, AssistantPart, StopReason, Usage};
use tokenizers::Tokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;

/// Why the local model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("the local model file {path} does not exist (fix: openclaw models pull smollm2-135m, or --file PATH)")]
    Missing { path: PathBuf },
    #[error(
        "cannot read the local model {path}: {reason} (fix: openclaw models pull smollm2-135m --force to fetch it again)"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("the local model {path} is not usable: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error(
        "the prompt has {tokens} tokens; the local model takes at most {limit} (fix: /new to start a fresh session)"
    )]
    TooLong { tokens: usize, limit: usize },
    #[error("local generation failed: {0}")]
    Generation(String),
}

/// Sampling and length settings of one generation.
#[derive(Debug, Clone, Copy)]
pub struct GenerateParams {
    pub max_tokens: usize,
    /// 0 (the default) is greedy decoding: deterministic.
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub seed: u64,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams { max_tokens: 256, temperature: 0.0, top_p: None, seed: 42 }
    }
}

/// What a generation produced.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub text: String,
    pub prompt_tokens: usize,
    /// Prompt tokens that were already in the cache from the previous generation (not run again).
    pub cached_tokens: usize,
    pub completion_tokens: usize,
    /// Stopped on the end-of-turn token (else on `max_tokens`).
    pub stopped: bool,
    pub prompt_seconds: f64,
    pub decode_seconds: f64,
}

/// A loaded model: weights, tokenizer and chat template.
pub struct LocalModel {
    path: PathBuf,
    /// Read-only once loaded; each generation has its own KV cache.
    weights: Llama,
    /// Generations through the provider take turns, first come first served (one at a time already uses both
    /// cores; two at once would only make both slower).
    queue: Arc<tokio::sync::Semaphore>,
    /// The tokens the last generation fed through the model and their KV cache: the next prompt that starts the
    /// same way (the same system prompt, the same conversation one turn later) only runs its new tokens.
    last: std::sync::Mutex<Option<(Vec<u32>, Cache)>>,
    tokenizer: Tokenizer,
    template: String,
    stop_ids: Vec<u32>,
    context_length: usize,
    /// How long loading took, in seconds.
    pub load_seconds: f64,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The most positions a generation may use (prompt and reply), whatever the file allows: bounds the rotary table
/// and the KV cache.
const MAX_SEQUENCE: usize = 4096;

impl LocalModel {
    /// Loads a GGUF file.
    ///
    /// # Errors
    /// [`LocalError::Missing`], [`LocalError::Corrupt`] (not a readable GGUF), [`LocalError::Unsupported`] (not a
    /// llama-architecture model with a gpt2-style tokenizer).
    pub fn load(path: &Path) -> Result<Self, LocalError> {
        let started = Instant::now();
        let corrupt = |reason: String| LocalError::Corrupt { path: path.to_path_buf(), reason };
        let unsupported = |reason: String| LocalError::Unsupported { path: path.to_path_buf(), reason };
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(LocalError::Missing { path: path.to_path_buf() });
            }
            Err(error) => return Err(corrupt(error.to_string())),
        };
        let content = gguf_file::Content::read(&mut file).map_err(|error| corrupt(crate::message(&error)))?;
        if let Some(reason) = gguf::unrunnable(&content) {
            return Err(unsupported(reason));
        }
        let mut tokenizer = Tokenizer::from_gguf(&content).map_err(|error| unsupported(error.to_string()))?;
        if gguf::string(&content, "tokenizer.ggml.pre").as_deref() == Some("smollm") {
            // SmolLM2's tokenizer.json: digits one by one, then byte-level BPE without a prefix space. candle's
            // default for an unknown `pre` is GPT-2's (with a prefix space), which gives other ids.
            let pre = Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]);
            tokenizer.with_pre_tokenizer(Some(pre));
        }
        let template = gguf::string(&content, "tokenizer.chat_template")
            .ok_or_else(|| unsupported("its tokenizer.chat_template is not text".to_owned()))?;
        let eos = gguf::u32(&content, "tokenizer.ggml.eos_token_id");
        let mut stop_ids: Vec<u32> = eos.into_iter().collect();
        for special in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>"] {
            if let Some(id) = tokenizer.token_to_id(special).filter(|id| !stop_ids.contains(id)) {
                stop_ids.push(id);
            }
        }
        let context_length = gguf::u32(&content, "llama.context_length").map_or(2048, |n| n as usize).min(MAX_SEQUENCE);
        let weights = Llama::load(&content, &mut file, context_length)
            .map_err(|error| corrupt(format!("cannot load the weights: {}", crate::message(&error))))?;
        let load_seconds = started.elapsed().as_secs_f64();
        tracing::info!(path = %path.display(), load_ms = (load_seconds * 1000.0) as u64, "Local model loaded.");
        Ok(LocalModel {
            path: path.to_path_buf(),
            weights,
            queue: Arc::new(tokio::sync::Semaphore::new(1)),
            last: std::sync::Mutex::default(),
            tokenizer,
            template,
            stop_ids,
            context_length,
            load_seconds,
        })
    }

    /// Waits for this caller's turn on the model (first come, first served); the turn lasts as long as the permit.
    /// (`None` only if the queue were closed, which never happens.)
    pub async fn turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.queue.clone().acquire_owned().await.ok()
    }

    /// Drops the cached prompt prefix, so the next generation starts cold (for benchmarks).
    pub fn forget_prefix(&self) {
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The file the model came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The token ids of a text, special tokens recognised (what the model sees).
    ///
    /// # Errors
    /// [`LocalError::Generation`] when the tokenizer fails.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LocalError> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| LocalError::Generation(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The prompt for a conversation: the model's chat template over `(role, content)` pairs, ending with the
    /// assistant's turn opened.
    ///
    /// # Errors
    /// [`LocalError::Generation`] when the template does not render.
    pub fn render(&self, messages: &[(String, String)]) -> Result<String, LocalError> {
        let messages: Vec<serde_json::Value> =
            messages.iter().map(|(role, content)| serde_json::json!({"role": role, "content": content})).collect();
        let env = minijinja::Environment::new();
        let context = serde_json::json!({"messages": messages, "add_generation_prompt": true});
        env.render_str(&self.template, minijinja::value::Serde(&context))
            .map_err(|error| LocalError::Generation(format!("the chat template failed: {error}")))
    }

    /// Generates a reply to a rendered prompt, calling `on_text` with each new piece of text; `on_text` returning
    /// `false` stops early (the caller went away).
    ///
    /// # Errors
    /// [`LocalError::Generation`].
    pub fn generate(
        &self,
        prompt: &str,
        params: GenerateParams,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generated, LocalError> {
        let fail = |error: candle_core::Error| LocalError::Generation(crate::message(&error));
        let prompt_ids = self.encode(prompt)?;
        if prompt_ids.is_empty() {
            return Err(LocalError::Generation("the prompt is empty".to_owned()));
        }
        if prompt_ids.len() + 1 >= self.context_length {
            return Err(LocalError::TooLong { tokens: prompt_ids.len(), limit: self.context_length });
        }
        let max_new = params.max_tokens.min(self.context_length - prompt_ids.len());
        let sampling = if params.temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            match params.top_p {
                Some(p) if p < 1.0 => Sampling::TopP { p, temperature: params.temperature },
                _ => Sampling::All { temperature: params.temperature },
            }
        };
        let mut sampler = LogitsProcessor::from_sampling(params.seed, sampling);
        // Reuse the cached positions this prompt shares with the last one (at least one token must run, for logits).
        let previous = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let (mut fed, mut cache) = previous.unwrap_or_default();
        let shared = fed.iter().zip(&prompt_ids).take_while(|(a, b)| a == b).count().min(prompt_ids.len() - 1);
        cache.truncate(shared);
        fed.truncate(shared);
        let started = Instant::now();
        let logits = self.weights.forward(&prompt_ids[shared..], &mut cache).map_err(fail)?;
        fed.extend_from_slice(&prompt_ids[shared..]);
        let mut next = sampler.sample(&logits).map_err(fail)?;
        let prompt_seconds = started.elapsed().as_secs_f64();
        let decode_started = Instant::now();
        let mut generated: Vec<u32> = Vec::new();
        let mut emitted = 0;
        let mut text = String::new();
        let mut stopped = false;
        while generated.len() < max_new {
            if self.stop_ids.contains(&next) {
                stopped = true;
                break;
            }
            generated.push(next);
            // Decode the whole reply and send what is new, holding back an incomplete UTF-8 sequence.
            text = self.tokenizer.decode(&generated, true).map_err(|e| LocalError::Generation(e.to_string()))?;
            if !text.ends_with('\u{FFFD}') && text.len() > emitted {
                let keep_going = on_text(&text[emitted..]);
                emitted = text.len();
                if !keep_going {
                    break;
                }
            }
            if generated.len() >= max_new {
                break;
            }
            let logits = self.weights.forward(&[next], &mut cache).map_err(fail)?;
            fed.push(next);
            next = sampler.sample(&logits).map_err(fail)?;
        }
        if text.len() > emitted {
            on_text(&text[emitted..]);
        }
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((fed, cache));
        Ok(Generated {
            text,
            prompt_tokens: prompt_ids.len(),
            cached_tokens: shared,
            completion_tokens: generated.len(),
            stopped,
            prompt_seconds,
            decode_seconds: decode_started.elapsed().as_secs_f64(),
        })
    }
}

/// The `local` provider: the agent runtime's view of a [`LocalModel`].
#[derive(Debug, Clone)]
pub struct LocalProvider {
    id: String,
    /// Where `<model id>.gguf` files are.
    dir: PathBuf,
    default_max_tokens: usize,
}

impl LocalProvider {
    /// A provider named `id` serving the models of a directory: the request's model `name` is `<dir>/<name>.gguf`,
    /// loaded when first asked for (so a gateway starts at once and a model pulled later is found).
    pub fn from_dir(id: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        LocalProvider { id: id.into(), dir: dir.into(), default_max_tokens: 512 }
    }

    /// The model `name`, loaded on first use and shared process-wide ([`crate::shared`]).
    async fn model(&self, name: &str) -> Result<Arc<LocalModel>, ModelError> {
        let not_usable = |error: LocalError| {
            let kind = match error {
                LocalError::Missing { .. } | LocalError::Unsupported { .. } => ErrorKind::NotConfigured,
                _ => ErrorKind::Protocol,
            };
            ModelError::new(&self.id, kind, error.to_string())
        };
        let path = crate::model_path(&self.dir, name).map_err(not_usable)?;
        crate::shared(&path).await.map_err(not_usable)
    }
}

/// The conversation as `(role, text)` pairs for the chat template. Tool results become user turns (the small
/// local model has no tool calling).
fn conversation(request: &ModelRequest) -> Vec<(String, String)> {
    let mut turns = Vec::new();
    if !request.system.trim().is_empty() {
        turns.push(("system".to_owned(), request.system.clone()));
    }
    for message in &request.messages {
        match message {
            AgentMessage::User(_) => turns.push(("user".to_owned(), message.text())),
            AgentMessage::Assistant(assistant) => turns.push(("assistant".to_owned(), assistant.text())),
            AgentMessage::ToolResult(result) => {
                turns.push(("user".to_owned(), format!("Result of {}: {}", result.tool_name, result.text())));
            }
        }
    }
    turns
}

#[async_trait::async_trait]
impl ModelProvider for LocalProvider {
    fn id(&self) -> &str {
        &self.id
    }

    fn api(&self) -> Api {
        Api::Local
    }

    async fn stream(&self, request: &ModelRequest) -> Result<EventStream, ModelError> {
        let local_error = |message: String| ModelError::new(&self.id, ErrorKind::Protocol, message);
        let loading = Instant::now();
        let model = self.model(&request.model).await?;
        let loaded = loading.elapsed();
        let prompt = model.render(&conversation(request)).map_err(|error| local_error(error.to_string()))?;
        let params = GenerateParams {
            max_tokens: request.max_tokens.map_or(self.default_max_tokens, |n| n as usize),
            temperature: request.temperature.map_or(0.0, f64::from),
            ..GenerateParams::default()
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<StreamEvent, ModelError>>();
        let provider = self.id.clone();
        let model_id = request.model.clone();
        let turn = model.turn().await;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            // Where the wait goes, for whoever watches: the load (first use only) and the prompt's size.
            if loaded >= std::time::Duration::from_millis(100) {
                let _ = tx.send(Ok(StreamEvent::Progress(format!("loaded the model ({:.1} s)", loaded.as_secs_f64()))));
            }
            if let Ok(tokens) = model.encode(&prompt) {
                let _ = tx.send(Ok(StreamEvent::Progress(format!("reading the prompt ({} tokens)", tokens.len()))));
            }
            let mut on_text = |piece: &str| tx.send(Ok(StreamEvent::TextDelta(piece.to_owned()))).is_ok();
            let result = model.generate(&prompt, params, &mut on_text);
            let event = match result {
                Ok(done) => Ok(StreamEvent::Done(AssistantMessage {
                    content: vec![AssistantPart::Text { text: done.text }],
                    api: Api::Local.as_str().to_owned(),
                    provider: provider.clone(),
                    model: model_id,
                    usage: Usage {
                        input: done.prompt_tokens as u64,
                        output: done.completion_tokens as u64,
                        total_tokens: (done.prompt_tokens + done.completion_tokens) as u64,
                        ..Usage::default()
                    },
                    stop_reason: if done.stopped { StopReason::Stop } else { StopReason::Length },
                    timestamp: openclaw_protocol::now_ms(),
                    response_id: None,
                    error_message: None,
                    extra: None,
                })),
                Err(error @ LocalError::TooLong { .. }) => {
                    Err(ModelError::new(&provider, ErrorKind::ContextOverflow, error.to_string()))
                }
                Err(error) => Err(ModelError::new(&provider, ErrorKind::Protocol, error.to_string())),
            };
            let _ = tx.send(event);
        });
        let mut rx = rx;
        Ok(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed())
    }
}
