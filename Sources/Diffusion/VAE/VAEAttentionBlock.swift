import Tensor

/// The VAE's single-head self-attention over all H·W positions (LDM `AttnBlock`; diffusers
/// `Attention` with one head of width C, `residual_connection=True`).
///
/// Keys are relative to `first_stage_model.{encoder,decoder}.mid.attn_1`. The projections are 1x1
/// convolutions [C, C, 1, 1] in LDM checkpoints and Linear [C, C] in files converted from diffusers;
/// `Linear` reads both, since on [B, H·W, C] they are the same map.
struct VAEAttentionBlock: Sendable {
    let norm: GroupNorm
    let query: Linear   // q
    let key: Linear     // k
    let value: Linear   // v
    let output: Linear  // proj_out

    init(_ w: Weights, groups: Int) throws {
        norm = try GroupNorm(w["norm"], groups: groups, epsilon: 1e-6)
        query = try Linear(w["q"])
        key = try Linear(w["k"])
        value = try Linear(w["v"])
        output = try Linear(w["proj_out"])
    }

    /// [B, C, H, W] -> [B, C, H, W]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, c, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let h = norm(x)
            .reshaped(b, c, height * width)  // [B, C, H, W] -> [B, C, H*W]
            .transposed(1, 2)  // [B, C, H*W] -> [B, H*W, C]
        // One head of width C, so the default scale 1/sqrt(d) is the reference's 1/sqrt(C).
        let attended = scaledDotProductAttention(query(h), key(h), value(h), heads: 1, precision: query.weight.precision)
        let projected = output(attended)
            .transposed(1, 2)  // [B, H*W, C] -> [B, C, H*W]
            .reshaped(b, c, height, width)  // [B, C, H*W] -> [B, C, H, W]
        return x + projected
    }
}
