import Tensor

/// Pre-LayerNorm transformer block: self-attention, cross-attention on the text context, GEGLU
/// feed-forward, each with a residual. LDM `BasicTransformerBlock`, diffusers
/// `BasicTransformerBlock` (`norm_type="layer_norm"`, LayerNorm epsilon 1e-5 in both).
///
/// Keys relative to e.g. `model.diffusion_model.input_blocks.1.1.transformer_blocks.0`.
struct BasicTransformerBlock: Sendable {
    let norm1: LayerNorm
    let selfAttention: CrossAttention  // attn1
    let norm2: LayerNorm
    let crossAttention: CrossAttention  // attn2
    let norm3: LayerNorm
    let feedForward: FeedForward  // ff

    init(_ w: Weights, heads: Int) throws {
        norm1 = try LayerNorm(w["norm1"], epsilon: 1e-5)
        selfAttention = try CrossAttention(w["attn1"], heads: heads)
        norm2 = try LayerNorm(w["norm2"], epsilon: 1e-5)
        crossAttention = try CrossAttention(w["attn2"], heads: heads)
        norm3 = try LayerNorm(w["norm3"], epsilon: 1e-5)
        feedForward = try FeedForward(w["ff"])
    }

    /// x [B, L, C], context [B, Lc, Dctx] -> [B, L, C]. Each residual is the accumulator of the
    /// sublayer's last product; handing over `x` lets the first one reuse its storage.
    func callAsFunction(_ x: consuming Tensor, context: Tensor) -> Tensor {
        var normed = norm1(x)
        var h = selfAttention(normed, adding: consume x)
        normed = norm2(h)
        h = crossAttention(normed, context: context, adding: consume h)
        normed = norm3(h)
        return feedForward(normed, adding: consume h)
    }
}
