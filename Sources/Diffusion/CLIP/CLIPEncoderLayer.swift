import Tensor

/// One pre-LN transformer layer of the CLIP text encoder (HF `CLIPEncoderLayer`; OpenCLIP
/// `ResidualAttentionBlock`): x += attn(LN1 x), then x += mlp(LN2 x).
///
/// Keys are relative to `text_model.encoder.layers.L` (OpenCLIP `transformer.resblocks.L`).
struct CLIPEncoderLayer: Sendable {
    let norm1: LayerNorm  // layer_norm1 (OpenCLIP ln_1)
    let attention: CLIPAttention  // self_attn
    let norm2: LayerNorm  // layer_norm2 (OpenCLIP ln_2)
    let mlp: CLIPMLP  // mlp

    init(_ w: Weights, width: Int, heads: Int, activation: CLIPActivation) throws {
        norm1 = try LayerNorm(w["layer_norm1"], epsilon: 1e-5)
        attention = try CLIPAttention(w["self_attn"], width: width, heads: heads)
        norm2 = try LayerNorm(w["layer_norm2"], epsilon: 1e-5)
        mlp = try CLIPMLP(w["mlp"], width: width, activation: activation)
    }

    /// [B, L, D] -> [B, L, D]
    func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
        let h = x + attention(norm1(x), mask: mask)
        return h + mlp(norm2(h))
    }
}
