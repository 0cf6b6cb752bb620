import Tensor

/// The UNet's first half: the timestep embedding (and SDXL's added-conditioning embedding), the
/// input blocks and the middle block. The UNet runs it before its output blocks; a ControlNet is
/// a trained copy of it (ControlNet paper, section 3.2), so both build it from the same keys.
///
/// Keys are relative to the network's root (`model.diffusion_model`, `control_model`).
struct UNetEncoder: Sendable {
    let timeEmbedding: TimestepEmbedding  // time_embed.{0,2}
    let labelEmbedding: TimestepEmbedding?  // label_emb.0.{0,2}: SDXL's added conditioning
    let inputBlocks: [UNetBlock]  // input_blocks.N
    let middleBlock: UNetBlock?  // middle_block
    let timestepChannels: Int

    /// Builds every layer from `w`, consuming each tensor once.
    /// - Throws: `WeightError` when a tensor is missing or has the wrong shape.
    init(_ w: Weights, config: UNetConfig) throws {
        let groups = config.normGroups
        timestepChannels = config.timestepChannels
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
                if depth > 0 { layers.append(try .transformer(b["1"], depth: depth, config: config)) }
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
            if config.middleTransformerDepth > 0 { layers.append(try .transformer(m["1"], depth: config.middleTransformerDepth, config: config)) }
            layers.append(.res(try ResBlock(m[layers.count], groups: groups)))
            middleBlock = UNetBlock(layers: layers)
        } else {
            middleBlock = nil
        }
    }

    /// The embedding every ResBlock takes, after its leading SiLU (emb_layers.0), computed once
    /// per evaluation: time_embed([cos | sin] of the timesteps) (+ label_emb(added)), as LDM
    /// `timestep_embedding` and diffusers (flip_sin_to_cos, shift 0).
    func activatedEmbedding(timesteps: [Float], added: Tensor?, network: String) -> Tensor {
        var embedding = timeEmbedding(Tensor.timestepEmbedding(timesteps, dimension: timestepChannels))  // [B, T]
        if let labelEmbedding {
            guard let added, added.shape == [timesteps.count, labelEmbedding.inFeatures] else {
                preconditionFailure("\(network): added conditioning \(added?.shape ?? []) needs [\(timesteps.count), \(labelEmbedding.inFeatures)]")
            }
            embedding += labelEmbedding(added)
        }
        return embedding.silu()
    }

    /// Runs the input blocks and the middle block.
    /// - Parameter hint: added to the first block's output (a ControlNet's encoded control image,
    ///   [B, C0, h, w]).
    /// - Returns: every input block's output (the skips) and the middle block's output (the last
    ///   input block's when there is no middle block).
    func callAsFunction(_ x: Tensor, activatedEmbedding: Tensor, context: Tensor, hint: Tensor? = nil) -> (skips: [Tensor], middle: Tensor) {
        var h = x
        var skips: [Tensor] = []
        skips.reserveCapacity(inputBlocks.count)
        for (n, block) in inputBlocks.enumerated() {
            h = block(h, activatedEmbedding: activatedEmbedding, context: context)
            if n == 0, let hint { h += hint }
            skips.append(h)
        }
        if let middleBlock { h = middleBlock(h, activatedEmbedding: activatedEmbedding, context: context) }
        return (skips, h)
    }

    /// Follows the channel count through the embeddings and blocks (see `UNet.checkChannelFlow`).
    /// - Returns: the channels of every skip and of the middle block's output.
    func checkChannelFlow(_ w: Weights, inChannels: Int) throws -> (skips: [Int], middle: Int) {
        let embedding = timeEmbedding.linear2.outFeatures
        if let labelEmbedding, labelEmbedding.linear2.outFeatures != embedding {
            throw mismatch(w, "label_emb.0.2.weight", embedding, labelEmbedding.linear2.outFeatures)
        }
        var channels = inChannels
        var skips: [Int] = []
        for (n, block) in inputBlocks.enumerated() {
            channels = try block.checkChannels(channels, embedding: embedding, w["input_blocks"][n])
            skips.append(channels)
        }
        if let middleBlock { channels = try middleBlock.checkChannels(channels, embedding: embedding, w["middle_block"]) }
        return (skips, channels)
    }

    /// Width of the timestep embedding the blocks take.
    var embeddingWidth: Int { timeEmbedding.linear2.outFeatures }
}

extension UNetBlock.Layer {
    /// A spatial transformer of `depth` blocks with the network's head split and norm groups.
    static func transformer(_ w: Weights, depth: Int, config: UNetConfig) throws -> Self {
        .transformer(try SpatialTransformer(w, depth: depth, heads: config.attention, groups: config.normGroups))
    }
}
