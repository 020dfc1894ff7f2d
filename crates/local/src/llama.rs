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

/// One transformer block's weights; matrices are `[out, in]` f16, norms f32. The query, key and value projections
/// are one matrix (one product instead of three), and so are the gate and up projections.
struct Block {
    attn_norm: Tensor,
    qkv: Tensor,
    wo: Tensor,
    ffn_norm: Tensor,
    gate_up: Tensor,
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

/// The attention keys and values of one generation so far: per block, buffers `[1, kv_heads, capacity, head_dim]`
/// of which positions `0..len` are filled. Appending writes in place (no copy of what is cached, unlike
/// concatenating per token); the buffers double when full.
#[derive(Default)]
pub(crate) struct Cache {
    kv: Vec<(Tensor, Tensor)>,
    len: usize,
}

impl Cache {
    /// How many positions are cached.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keeps the first `positions` positions (later writes overwrite the rest).
    pub(crate) fn truncate(&mut self, positions: usize) {
        self.len = self.len.min(positions);
    }

    /// Writes block `index`'s new keys and values (`[1, kv_heads, count, head_dim]`, contiguous) after the cached
    /// positions and returns views of all of them. [`Cache::advance`] moves `len` once every block has appended.
    fn append(&mut self, index: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (_, kv_heads, count, head_dim) = k.dims4()?;
        let end = self.len + count;
        let grow = |old: Option<&Tensor>| -> Result<Tensor> {
            let capacity = end.next_power_of_two().max(256);
            let buffer = Tensor::zeros((1, kv_heads, capacity, head_dim), k.dtype(), k.device())?;
            if let Some(old) = old.filter(|_| self.len > 0) {
                buffer.slice_set(&old.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
            }
            Ok(buffer)
        };
        if index == self.kv.len() {
            self.kv.push((grow(None)?, grow(None)?));
        } else if self.kv[index].0.dim(2)? < end {
            self.kv[index] = (grow(Some(&self.kv[index].0))?, grow(Some(&self.kv[index].1))?);
        }
        let (k_buffer, v_buffer) = &self.kv[index];
        k_buffer.slice_set(k, 2, self.len)?;
        v_buffer.slice_set(v, 2, self.len)?;
        Ok((k_buffer.narrow(2, 0, end)?, v_buffer.narrow(2, 0, end)?))
    }

    fn advance(&mut self, count: usize) {
        self.len += count;
    }
}

fn required(content: &gguf_file::Content, key: &str) -> Result<usize> {
    crate::gguf::u32(content, key)
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
        let heads = required(content, "llama.attention.head_count")?;
        let kv_heads = required(content, "llama.attention.head_count_kv")?;
        let dim = required(content, "llama.embedding_length")?;
        let block_count = required(content, "llama.block_count")?;
        if heads == 0 || kv_heads == 0 || dim % heads != 0 || heads % kv_heads != 0 {
            candle_core::bail!("inconsistent head counts ({heads} heads, {kv_heads} kv heads, width {dim})");
        }
        let head_dim = dim / heads;
        let eps = crate::gguf::f32(content, "llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5);
        let base = crate::gguf::f32(content, "llama.rope.freq_base").unwrap_or(10_000.0);
        let mut half = |name: &str| content.tensor(reader, name, &cpu)?.dequantize_f16(&cpu);
        let embedding = half("token_embd.weight")?;
        let output =
            if content.tensor_infos.contains_key("output.weight") { Some(half("output.weight")?) } else { None };
        let mut blocks = Vec::with_capacity(block_count);
        for i in 0..block_count {
            let mut half = |name: &str| content.tensor(reader, &format!("blk.{i}.{name}"), &cpu)?.dequantize_f16(&cpu);
            let qkv = Tensor::cat(&[half("attn_q.weight")?, half("attn_k.weight")?, half("attn_v.weight")?], 0)?;
            let gate_up = Tensor::cat(&[half("ffn_gate.weight")?, half("ffn_up.weight")?], 0)?;
            let (wo, down) = (half("attn_output.weight")?, half("ffn_down.weight")?);
            let mut full = |name: &str| content.tensor(reader, &format!("blk.{i}.{name}"), &cpu)?.dequantize(&cpu);
            let (attn_norm, ffn_norm) = (full("attn_norm.weight")?, full("ffn_norm.weight")?);
            blocks.push(Block { attn_norm, qkv, wo, ffn_norm, gate_up, down });
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
        let group = heads / kv_heads;
        // Later positions may not look at later ones: -inf above the diagonal (offset by the cache). Queries are
        // grouped by the key/value head they share (row `r * count + i` is query head `r` of the group at position
        // `i`), so the mask repeats per group member and the cached keys and values are never copied per head.
        let mask = if count > 1 {
            let total = start + count;
            let values: Vec<f32> = (0..group)
                .flat_map(|_| 0..count)
                .flat_map(|i| (0..total).map(move |j| if j > start + i { f32::NEG_INFINITY } else { 0.0 }))
                .collect();
            Some(Tensor::from_vec(values, (group * count, total), &cpu)?)
        } else {
            None
        };
        let ids = Tensor::new(ids, &cpu)?;
        let mut x = self.embedding.index_select(&ids, 0)?.to_dtype(DType::F32)?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let (q_width, kv_width) = (heads * head_dim, kv_heads * head_dim);
        for (index, block) in self.blocks.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, eps)?;
            let qkv = linear(&h, &block.qkv)?;
            let split = |offset: usize, width: usize, n: usize| {
                qkv.narrow(1, offset, width)?.reshape((1, count, n, head_dim))?.transpose(1, 2)?.contiguous()
            };
            let q = candle_nn::rotary_emb::rope_i(&split(0, q_width, heads)?, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope_i(&split(q_width, kv_width, kv_heads)?, &cos, &sin)?;
            let v = split(q_width + kv_width, kv_width, kv_heads)?;
            let (k, v) = cache.append(index, &k, &v)?;
            let q = q.reshape((1, kv_heads, group * count, head_dim))?;
            let mut scores = (q.matmul(&k.t()?)? * scale)?;
            if let Some(mask) = &mask {
                scores = scores.broadcast_add(mask)?;
            }
            let weights = candle_nn::ops::softmax_last_dim(&scores)?;
            let attended =
                weights.matmul(&v)?.reshape((1, heads, count, head_dim))?.transpose(1, 2)?.reshape((count, q_width))?;
            x = (x + linear(&attended, &block.wo)?)?;
            let h = candle_nn::ops::rms_norm(&x, &block.ffn_norm, eps)?;
            let gate_up = linear(&h, &block.gate_up)?;
            let width = gate_up.dim(1)? / 2;
            let gate = candle_nn::Activation::Silu.forward(&gate_up.narrow(1, 0, width)?)?;
            x = (x + linear(&(gate * gate_up.narrow(1, width, width)?)?, &block.down)?)?;
        }
        cache.advance(count);
        let last = x.i((count - 1..count, ..))?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, eps)?;
        linear(&last, self.output.as_ref().unwrap_or(&self.embedding))?.squeeze(0)
    }
}
