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
    let timeEmbedding: TimestepEmbedding  // time_embed.{0,2}
    let labelEmbedding: TimestepEmbedding?  // label_emb.0.{0,2}: SDXL's added conditioning
    let inputBlocks: [UNetBlock]  // input_blocks.N
    let middleBlock: UNetBlock?  // middle_block
    let outputBlocks: [UNetBlock]  // output_blocks.N
    let outNorm: GroupNorm  // out.0   (out.1 is SiLU)
    let outConv: Conv2d  // out.2

    /// Builds every layer from `w` (the scope `model.diffusion_model`), consuming each tensor once.
    /// - Throws: `WeightError` when a tensor is missing or has the wrong shape.
    public init(_ w: Weights, config: UNetConfig) throws {
        self.config = config
        let groups = config.normGroups
        func transformer(_ b: Weights, depth: Int) throws -> UNetBlock.Layer {
            .transformer(try SpatialTransformer(b, depth: depth, heads: config.attention, groups: groups))
        }

        timeEmbedding = try TimestepEmbedding(w["time_embed"])
        labelEmbedding = config.addedConditionChannels != nil ? try TimestepEmbedding(w["label_emb.0"]) : nil

        // LDM's block numbering (`UNetModel.__init__`): input_blocks.0 is the input conv; per level,
        // resBlocksPerLevel blocks [ResBlock, SpatialTransformer?], then a [Downsample] block after
        // every level but the last.
        let input = w["input_blocks"]
        var blocks = [UNetBlock(layers: [.convolution(try Conv2d(input[0]["0"], padding: 1))])]
        for level in 0..<config.levelCount {
            for depth in config.inputTransformerDepths[level] {
                let b = input[blocks.count]
                var layers: [UNetBlock.Layer] = [.res(try ResBlock(b["0"], groups: groups))]
                if depth > 0 { layers.append(try transformer(b["1"], depth: depth)) }
                blocks.append(UNetBlock(layers: layers))
            }
            if level < config.levelCount - 1 {
                blocks.append(UNetBlock(layers: [.downsample(try UNetDownsample(input[blocks.count]["0"]))]))
            }
        }
        inputBlocks = blocks

        // middle_block.{0, 1, 2} = [ResBlock, SpatialTransformer, ResBlock], or two ResBlocks.
        if config.hasMiddleBlock {
            let m = w["middle_block"]
            var layers: [UNetBlock.Layer] = [.res(try ResBlock(m["0"], groups: groups))]
            if config.middleTransformerDepth > 0 { layers.append(try transformer(m["1"], depth: config.middleTransformerDepth)) }
            layers.append(.res(try ResBlock(m[layers.count], groups: groups)))
            middleBlock = UNetBlock(layers: layers)
        } else {
            middleBlock = nil
        }

        // Output blocks walk the levels deepest first, resBlocksPerLevel + 1 blocks each:
        // [ResBlock, SpatialTransformer?, Upsample?]; the upsampler ends every level but level 0
        // and takes the next free index, so it is output_blocks.N.1 without attention and
        // output_blocks.N.2 with it (SD1.x output_blocks.2.1; SDXL output_blocks.2.2).
        let output = w["output_blocks"]
        blocks = []
        for level in (0..<config.levelCount).reversed() {
            for (i, depth) in config.outputTransformerDepths[level].enumerated() {
                let b = output[blocks.count]
                var layers: [UNetBlock.Layer] = [.res(try ResBlock(b["0"], groups: groups))]
                if depth > 0 { layers.append(try transformer(b["1"], depth: depth)) }
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

        // [B] -> [B, T], [cos | sin] as LDM `timestep_embedding` and diffusers (flip_sin_to_cos, shift 0).
        var embedding = timeEmbedding(Tensor.timestepEmbedding(timesteps, dimension: config.timestepChannels))
        if let labelEmbedding {
            guard let added, added.shape == [batch, labelEmbedding.inFeatures] else {
                preconditionFailure("UNet: added conditioning \(added?.shape ?? []) needs [\(batch), \(labelEmbedding.inFeatures)]")
            }
            embedding += labelEmbedding(added)
        }
        // Every ResBlock starts its embedding path with SiLU (emb_layers.0): compute it once.
        let activated = embedding.silu()

        if let control {
            precondition(
                control.skips.count == inputBlocks.count && middleBlock != nil,
                "UNet: \(control.skips.count) control residuals for \(inputBlocks.count) input blocks")
        }
        var h = x
        var skips: [Tensor] = []
        for block in inputBlocks {
            h = block(h, activatedEmbedding: activated, context: context)
            skips.append(h)
        }
        if let middleBlock { h = middleBlock(h, activatedEmbedding: activated, context: context) }
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
