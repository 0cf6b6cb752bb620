import Tensor

/// The Stable Diffusion noise-prediction UNet (SD1.x, SD2.x, SDXL and their small relatives):
/// LDM/SGM `openaimodel.UNetModel`, diffusers `UNet2DConditionModel`. One implementation for every
/// family; its geometry comes from `UNetConfig`, which reads it off the weights.
///
/// Keys are relative to `model.diffusion_model`. Whether the output is eps or v is the
/// pipeline's business (`EpsilonPrediction` / `VPrediction`), not the network's.
public struct UNet: Sendable {
    /// The geometry the UNet was built with.
    public let config: UNetConfig
    let encoder: UNetEncoder  // time_embed, label_emb, input_blocks, middle_block
    let outputBlocks: [UNetBlock]  // output_blocks.N
    let outNorm: GroupNorm  // out.0   (out.1 is SiLU)
    let outConv: Conv2d  // out.2

    /// Builds every layer from `w` (the scope `model.diffusion_model`), consuming each tensor once.
    /// - Throws: `WeightError` when a tensor is missing or has the wrong shape.
    public init(_ w: Weights, config: UNetConfig) throws {
        self.config = config
        let groups = config.normGroups
        encoder = try UNetEncoder(w, config: config)

        // Output blocks walk the levels deepest first, resBlocksPerLevel + 1 blocks each:
        // [ResBlock, SpatialTransformer?, Upsample?]; the upsampler ends every level but level 0
        // and takes the next free index, so it is output_blocks.N.1 without attention and
        // output_blocks.N.2 with it (SD1.x output_blocks.2.1; SDXL output_blocks.2.2).
        let output = w["output_blocks"]
        var blocks: [UNetBlock] = []
        for level in (0..<config.levelCount).reversed() {
            for (i, depth) in config.outputTransformerDepths[level].enumerated() {
                let b = output[blocks.count]
                var layers: [UNetBlock.Layer] = [.res(try ResBlock(b["0"], groups: groups))]
                if depth > 0 { layers.append(try .transformer(b["1"], depth: depth, config: config)) }
                if level > 0 && i == config.resBlocksPerLevel { layers.append(.upsample(try UNetUpsample(b[layers.count]))) }
                blocks.append(UNetBlock(layers: layers))
            }
        }
        outputBlocks = blocks

        outNorm = try GroupNorm(w["out.0"], groups: groups, epsilon: 1e-5)
        outConv = try Conv2d(w["out.2"], padding: 1)
        try checkChannelFlow(w)
    }

    /// Predicts the model output (eps or v) for a batch of latents (LDM `UNetModel.forward`).
    ///
    /// - Parameters:
    ///   - x: latents [B, Cin, h, w], h and w multiples of 2^(levels - 1).
    ///   - timesteps: one training timestep per batch item (fractional values allowed).
    ///   - context: text-encoder states [B, L, Dctx]; L may be 77·k.
    ///   - added: SDXL's conditioning vector `y` [B, adm] (pooled text embedding and size/crop
    ///     embeddings), required exactly when the model has `label_emb`.
    ///   - control: ControlNet residuals, one per input block (added to its skip connection) and
    ///     one for the middle block's output (ControlLDM `ControlledUnetModel`, diffusers
    ///     `down_block_additional_residuals` / `mid_block_additional_residual`).
    /// - Returns: [B, Cout, h, w].
    public func callAsFunction(
        _ x: Tensor, timesteps: [Float], context: Tensor, added: Tensor? = nil, control: ControlResiduals? = nil
    ) -> Tensor {
        let batch = x.shape[0]
        precondition(
            x.rank == 4 && x.shape[1] == config.inChannels && timesteps.count == batch,
            "UNet: x \(x.shape) needs [B, \(config.inChannels), h, w] and one timestep per item (\(timesteps.count))")
        precondition(
            context.rank == 3 && context.shape[0] == batch && (config.contextDimension.map { context.shape[2] == $0 } ?? true),
            "UNet: context \(context.shape) needs [\(batch), L, \(config.contextDimension ?? -1)]")

        let activated = encoder.activatedEmbedding(timesteps: timesteps, added: added, network: "UNet")
        if let control {
            precondition(
                control.skips.count == encoder.inputBlocks.count && encoder.middleBlock != nil,
                "UNet: \(control.skips.count) control residuals for \(encoder.inputBlocks.count) input blocks")
        }
        var (skips, h) = encoder(x, activatedEmbedding: activated, context: context)
        if let control {
            h += control.middle
            for i in skips.indices { skips[i] += control.skips[i] }
        }
        for block in outputBlocks {
            guard let skip = skips.popLast() else { preconditionFailure("UNet: more output than input blocks") }
            h = Tensor.concat([h, skip], axis: 1)  // [B, C, h, w] ‖ [B, Cs, h, w] -> [B, C + Cs, h, w]
            h = block(h, activatedEmbedding: activated, context: context)
        }
        return outConv(outNorm(h, silu: true))
    }
}
