import Tensor

/// Transformer over the pixels of a feature map, conditioned on the text context: LDM
/// `SpatialTransformer` (`attention.py`), diffusers `Transformer2DModel` (continuous input).
///
/// GroupNorm (epsilon 1e-6, as LDM `Normalize` and diffusers use here) -> proj_in -> depth x
/// `BasicTransformerBlock` -> proj_out -> + input. Keys relative to e.g.
/// `model.diffusion_model.input_blocks.1.1`.
///
/// `proj_in`/`proj_out` are 1x1 convolutions [C, C, 1, 1] in SD1.x files and Linear [C, C] in
/// SD2.x/SDXL. Both are the same matrix product over channels, so both run as `Linear` on the
/// [B, H*W, C] layout after one permute: the conv variant's "project, then permute" and the linear
/// variant's "permute, then project" compute identical values.
struct SpatialTransformer: Sendable {
    let norm: GroupNorm
    let projIn: Linear  // proj_in
    let blocks: [BasicTransformerBlock]  // transformer_blocks.K
    let projOut: Linear  // proj_out

    /// - Parameter depth: the number of `transformer_blocks.K` (read off the weights by `UNetConfig`).
    init(_ w: Weights, depth: Int, heads: AttentionHeads, groups: Int) throws {
        norm = try GroupNorm(w["norm"], groups: groups, epsilon: 1e-6)
        projIn = try Linear(w["proj_in"])
        let channels = projIn.outFeatures
        guard let headCount = heads.heads(forChannels: channels) else {
            throw WeightError.badShape(
                file: w.index.source, tensor: w.key("proj_in.weight"), shape: projIn.weight.shape,
                reason: "\(channels) attention channels do not split into heads as \(heads)")
        }
        blocks = try (0..<depth).map { k in try BasicTransformerBlock(w["transformer_blocks"][k], heads: headCount) }
        projOut = try Linear(w["proj_out"])
    }

    /// x [B, C, H, W], context [B, Lc, Dctx] -> [B, C, H, W]
    func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        let (b, c, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var h = norm(x).reshaped(b, c, height * width).transposed(1, 2)  // [B, C, H, W] -> [B, H*W, C]
        h = projIn(h)
        for block in blocks { h = block(consume h, context: context) }
        h = projOut(h).transposed(1, 2).reshaped(b, c, height, width)  // [B, H*W, C] -> [B, C, H, W]
        return h + x
    }
}
