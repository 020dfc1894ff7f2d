//! The llama-architecture forward pass over weights held as f16, computed with candle's CPU ops.
//!
//! Why not candle's `quantized_llama`: on this model its Q4_1 kernels (activations rounded to Q8_1) are scalar (about
//! 4 tokens/s here) and change the greedy answer ("L'Étoile, la Marseillaise…" instead of "Paris"); its f32 mode
//! reproduces the reference but holds ~650 MB (the tied embedding twice) and decodes at ~29 tokens/s; its f16 mode is
//! reachable only through a process-wide environment variable read once per thread. Here the weights are
//! dequantized once at load to f16 (half the memory of f32, the same greedy text as the f32 reference), the tied
//! embedding is one tensor used for both the lookup and the output projection, and the KV cache belongs to the
//! generation, not to the weights, so the weights are shared read-only.

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, IndexOp, Module, Result, Tensor};

/// One transformer block's weights; matrices are `[out, in]` f16, norms f32.
struct Block {
    attn_norm: Tensor,
    wq: Tensor,
    wk: Tensor,
    wv: Tensor,
    wo: Tensor,
    ffn_norm: Tensor,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

/// The shape parameters from the GGUF metadata.
#[derive(Debug, Clone, Copy)]
struct Shape {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    eps: f32,
}

/// The weights of a llama model, immutable once loaded.
pub(crate) struct Llama {
    /// `[vocab, dim]` f16: the token embedding, and the output projection when the file ties them.
    embedding: Tensor,
    /// `[vocab, dim]` f16 when the file has its own output matrix.
    output: Option<Tensor>,
    blocks: Vec<Block>,
    norm: Tensor,
    /// `[max positions, head_dim / 2]` f32.
    cos: Tensor,
    sin: Tensor,
    shape: Shape,
}

/// The attention keys and values of one generation so far, per block: `[1, kv_heads, positions, head_dim]`.
#[derive(Default)]
pub(crate) struct Cache {
    kv: Vec<(Tensor, Tensor)>,
}

impl Cache {
    /// How many positions are cached.
    pub(crate) fn len(&self) -> usize {
        self.kv.first().and_then(|(k, _)| k.dim(2).ok()).unwrap_or(0)
    }

    /// Keeps the first `positions` positions (a view; nothing is copied).
    pub(crate) fn truncate(&mut self, positions: usize) -> Result<()> {
        if positions == 0 {
            self.kv.clear();
            return Ok(());
        }
        for (k, v) in &mut self.kv {
            let keep = positions.min(k.dim(2)?);
            *k = k.narrow(2, 0, keep)?;
            *v = v.narrow(2, 0, keep)?;
        }
        Ok(())
    }
}

fn metadata_f32(content: &gguf_file::Content, key: &str) -> Option<f32> {
    content.metadata.get(key).and_then(|value| value.to_f32().ok())
}

fn metadata_usize(content: &gguf_file::Content, key: &str) -> Result<usize> {
    content
        .metadata
        .get(key)
        .and_then(|value| value.to_u32().ok())
        .map(|n| n as usize)
        .ok_or_else(|| candle_core::Error::Msg(format!("the file has no {key}")))
}

/// From this many rows on, `linear` widens the weights to f32 first (see there).
const WIDEN_ROWS: usize = 8;

/// `x @ w^T` for `x: [rows, in]` f32 and `w: [out, in]` f16. A few rows (decoding) multiply in f16: the weights are
/// read once at half the bytes. Many rows (a prompt) widen the weights to f32 first: the f16 GEMM has no native f16
/// arithmetic on x86 and is about twice as slow there, while the conversion costs far less than the product.
fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if x.dim(0)? >= WIDEN_ROWS {
        x.matmul(&w.to_dtype(DType::F32)?.t()?)
    } else {
        x.to_dtype(DType::F16)?.matmul(&w.t()?)?.to_dtype(DType::F32)
    }
}

impl Llama {
    /// Reads the weights of a llama-architecture GGUF and dequantizes them to f16.
    pub(crate) fn load<R: std::io::Seek + std::io::Read>(
        content: &gguf_file::Content,
        reader: &mut R,
        max_positions: usize,
    ) -> Result<Self> {
        let cpu = Device::Cpu;
        let heads = metadata_usize(content, "llama.attention.head_count")?;
        let kv_heads = metadata_usize(content, "llama.attention.head_count_kv")?;
        let dim = metadata_usize(content, "llama.embedding_length")?;
        let block_count = metadata_usize(content, "llama.block_count")?;
        if heads == 0 || kv_heads == 0 || dim % heads != 0 || heads % kv_heads != 0 {
            candle_core::bail!("inconsistent head counts ({heads} heads, {kv_heads} kv heads, width {dim})");
        }
        let head_dim = dim / heads;
        let eps = metadata_f32(content, "llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5);
        let base = metadata_f32(content, "llama.rope.freq_base").unwrap_or(10_000.0);
        let mut half = |name: &str| content.tensor(reader, name, &cpu)?.dequantize_f16(&cpu);
        let embedding = half("token_embd.weight")?;
        let output =
            if content.tensor_infos.contains_key("output.weight") { Some(half("output.weight")?) } else { None };
        let mut blocks = Vec::with_capacity(block_count);
        for i in 0..block_count {
            let mut half = |name: &str| content.tensor(reader, &format!("blk.{i}.{name}"), &cpu)?.dequantize_f16(&cpu);
            let (wq, wk, wv, wo) =
                (half("attn_q.weight")?, half("attn_k.weight")?, half("attn_v.weight")?, half("attn_output.weight")?);
            let (gate, up, down) = (half("ffn_gate.weight")?, half("ffn_up.weight")?, half("ffn_down.weight")?);
            let mut full = |name: &str| content.tensor(reader, &format!("blk.{i}.{name}"), &cpu)?.dequantize(&cpu);
            let (attn_norm, ffn_norm) = (full("attn_norm.weight")?, full("ffn_norm.weight")?);
            blocks.push(Block { attn_norm, wq, wk, wv, wo, ffn_norm, gate, up, down });
        }
        let norm = content.tensor(reader, "output_norm.weight", &cpu)?.dequantize(&cpu)?;
        // Rotary position angles: position × base^(-2i/head_dim).
        let inverse: Vec<f32> = (0..head_dim / 2).map(|i| 1.0 / base.powf(2.0 * i as f32 / head_dim as f32)).collect();
        let inverse = Tensor::from_vec(inverse, (1, head_dim / 2), &cpu)?;
        let positions =
            Tensor::arange(0u32, max_positions as u32, &cpu)?.to_dtype(DType::F32)?.reshape((max_positions, 1))?;
        let angles = positions.broadcast_mul(&inverse)?;
        Ok(Llama {
            embedding,
            output,
            blocks,
            norm,
            cos: angles.cos()?,
            sin: angles.sin()?,
            shape: Shape { heads, kv_heads, head_dim, eps },
        })
    }

    /// Runs `ids` (at the positions following the cache) through the model, extends the cache, and returns the
    /// logits of the last position (`[vocab]` f32).
    pub(crate) fn forward(&self, ids: &[u32], cache: &mut Cache) -> Result<Tensor> {
        let cpu = Device::Cpu;
        let Shape { heads, kv_heads, head_dim, eps } = self.shape;
        let start = cache.len();
        let count = ids.len();
        if start + count > self.cos.dim(0)? {
            candle_core::bail!("position {} is beyond the model's {} positions", start + count, self.cos.dim(0)?);
        }
        let cos = self.cos.narrow(0, start, count)?;
        let sin = self.sin.narrow(0, start, count)?;
        // Later positions may not look at earlier ones' futures: -inf above the diagonal (offset by the cache).
        let mask = if count > 1 {
            let total = start + count;
            let values: Vec<f32> = (0..count)
                .flat_map(|i| (0..total).map(move |j| if j > start + i { f32::NEG_INFINITY } else { 0.0 }))
                .collect();
            Some(Tensor::from_vec(values, (count, total), &cpu)?)
        } else {
            None
        };
        let ids = Tensor::new(ids, &cpu)?;
        let mut x = self.embedding.index_select(&ids, 0)?.to_dtype(DType::F32)?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        for (index, block) in self.blocks.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, eps)?;
            let split = |t: Tensor, n: usize| t.reshape((1, count, n, head_dim))?.transpose(1, 2)?.contiguous();
            let q = split(linear(&h, &block.wq)?, heads)?;
            let k = split(linear(&h, &block.wk)?, kv_heads)?;
            let v = split(linear(&h, &block.wv)?, kv_heads)?;
            let q = candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?;
            let (k, v) = match cache.kv.get(index) {
                Some((past_k, past_v)) => (Tensor::cat(&[past_k, &k], 2)?, Tensor::cat(&[past_v, &v], 2)?),
                None => (k, v),
            };
            if index < cache.kv.len() {
                cache.kv[index] = (k.clone(), v.clone());
            } else {
                cache.kv.push((k.clone(), v.clone()));
            }
            let k = candle_transformers::utils::repeat_kv(k, heads / kv_heads)?;
            let v = candle_transformers::utils::repeat_kv(v, heads / kv_heads)?.contiguous()?;
            let mut scores = (q.matmul(&k.t()?)? * scale)?;
            if let Some(mask) = &mask {
                scores = scores.broadcast_add(mask)?;
            }
            let weights = candle_nn::ops::softmax_last_dim(&scores)?;
            let attended = weights.matmul(&v)?.transpose(1, 2)?.reshape((count, heads * head_dim))?;
            x = (x + linear(&attended, &block.wo)?)?;
            let h = candle_nn::ops::rms_norm(&x, &block.ffn_norm, eps)?;
            let gated = (candle_nn::Activation::Silu.forward(&linear(&h, &block.gate)?)? * linear(&h, &block.up)?)?;
            x = (x + linear(&gated, &block.down)?)?;
        }
        let last = x.i((count - 1..count, ..))?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, eps)?;
        linear(&last, self.output.as_ref().unwrap_or(&self.embedding))?.squeeze(0)
    }
}
