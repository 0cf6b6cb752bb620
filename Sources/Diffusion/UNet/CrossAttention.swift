import Tensor

/// Multi-head attention of the UNet's transformer blocks: LDM `CrossAttention` (`attention.py`),
/// diffusers `Attention` with `AttnProcessor2_0`. Self-attention when no context is given.
///
/// Keys relative to e.g. `...transformer_blocks.0.attn1`: `to_q`, `to_k`, `to_v` (no bias) and
/// `to_out.0` (with bias; `to_out.1` is dropout).
struct CrossAttention: Sendable {
    let toQ: Linear  // to_q
    let toK: Linear  // to_k: in-features are the context width for attn2
    let toV: Linear  // to_v
    let toOut: Linear  // to_out.0
    let heads: Int

    init(_ w: Weights, heads: Int) throws {
        toQ = try Linear(w["to_q"])
        toK = try Linear(w["to_k"])
        toV = try Linear(w["to_v"])
        toOut = try Linear(w["to_out.0"])
        self.heads = heads
    }

    /// residual + attention(x): x [B, L, C], context [B, Lc, Dctx] (or nil for self-attention),
    /// residual [B, L, C]; the output projection accumulates onto the residual.
    func callAsFunction(_ x: Tensor, context: Tensor? = nil, adding residual: consuming Tensor) -> Tensor {
        let source = context ?? x
        // Heads are column blocks of [B, L, heads*d]: no [B, heads, L, d] permute is materialized.
        // The products run in the projections' arithmetic (bf16 for an f16/bf16 checkpoint).
        let attended = scaledDotProductAttention(
            toQ(x), toK(source), toV(source), heads: heads, precision: toQ.weight.precision)
        return toOut(attended, adding: residual)
    }
}
