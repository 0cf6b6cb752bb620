import Tensor

/// Residual block with timestep embedding: LDM `ResBlock` (`openaimodel.py`), diffusers
/// `ResnetBlock2D` with `time_embedding_norm="default"`.
///
/// Keys are relative to the block, e.g. `model.diffusion_model.input_blocks.1.0`.
struct ResBlock: Sendable {
    let inNorm: GroupNorm  // in_layers.0   (in_layers.1 is SiLU)
    let inConv: Conv2d  // in_layers.2
    let embedding: Linear  // emb_layers.1  (emb_layers.0 is SiLU)
    let outNorm: GroupNorm  // out_layers.0  (out_layers.1 SiLU, out_layers.2 dropout)
    let outConv: Conv2d  // out_layers.3
    let skip: Conv2d?  // skip_connection: 1x1, only when the channel count changes

    init(_ w: Weights, groups: Int) throws {
        inNorm = try GroupNorm(w["in_layers.0"], groups: groups, epsilon: 1e-5)
        inConv = try Conv2d(w["in_layers.2"], padding: 1)
        embedding = try Linear(w["emb_layers.1"])
        outNorm = try GroupNorm(w["out_layers.0"], groups: groups, epsilon: 1e-5)
        outConv = try Conv2d(w["out_layers.3"], padding: 1)
        skip = w.contains("skip_connection") ? try Conv2d(w["skip_connection"]) : nil
    }

    var outChannels: Int { outConv.outChannels }

    /// - Parameters:
    ///   - x: [B, Cin, H, W]
    ///   - activatedEmbedding: SiLU(emb), [B, E]. The reference applies `emb_layers.0` (SiLU) in
    ///     every block to the same `emb`; the UNet computes it once.
    /// - Returns: [B, Cout, H, W]
    func callAsFunction(_ x: Tensor, activatedEmbedding: Tensor) -> Tensor {
        var h = inConv(inNorm(x, silu: true))
        let e = embedding(activatedEmbedding)
        h += e.reshaped(e.shape[0], e.shape[1], 1, 1)  // [B, Cout] -> [B, Cout, 1, 1], broadcast over H, W
        h = outConv(outNorm(h, silu: true))
        return (skip?.callAsFunction(x) ?? x) + h
    }
}
