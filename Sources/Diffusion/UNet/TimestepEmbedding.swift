import Tensor

/// Two-layer MLP with SiLU between: LDM's `time_embed` and SDXL's `label_emb.0`
/// (`nn.Sequential(linear, SiLU, linear)`), diffusers `TimestepEmbedding` (`time_embedding`,
/// `add_embedding`). Keys relative to `model.diffusion_model.time_embed` or `...label_emb.0`.
struct TimestepEmbedding: Sendable {
    let linear1: Linear  // 0   (1 is SiLU)
    let linear2: Linear  // 2

    init(_ w: Weights) throws {
        linear1 = try Linear(w["0"])
        linear2 = try Linear(w["2"])
    }

    var inFeatures: Int { linear1.inFeatures }

    /// [B, in] -> [B, E]
    func callAsFunction(_ x: Tensor) -> Tensor { linear2(linear1(x).silu()) }
}
