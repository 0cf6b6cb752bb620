import Tensor

// Shapes that each tensor has on its own are checked as the layers are built; what is checked
// here is that they fit together: every layer takes the channels its input has. A checkpoint
// that fails this (a hand-edited or corrupt file) is refused with a typed error naming the tensor,
// instead of stopping the process at the first forward pass.

extension UNet {
    /// Follows the channel count through every block, skip concatenation included.
    /// - Throws: `WeightError.shapeMismatch` naming the first tensor that does not fit.
    func checkChannelFlow(_ w: Weights) throws {
        let embedding = encoder.embeddingWidth
        var (skips, channels) = try encoder.checkChannelFlow(w, inChannels: config.inChannels)
        for (n, block) in outputBlocks.enumerated() {
            guard let skip = skips.popLast() else { throw mismatch(w, "output_blocks.\(n)", 0, 0) }
            channels = try block.checkChannels(channels + skip, embedding: embedding, w["output_blocks"][n])
        }
        if outNorm.channels != channels { throw mismatch(w, "out.0.weight", channels, outNorm.channels) }
        if outConv.inChannels != channels { throw mismatch(w, "out.2.weight", channels, outConv.inChannels) }
    }
}

extension UNetBlock {
    /// The channels after this block, given `input` (`w` is the block's scope; its layers are `w[m]`).
    func checkChannels(_ input: Int, embedding: Int, _ w: Weights) throws -> Int {
        var channels = input
        for (m, layer) in layers.enumerated() {
            let scope = w[m]
            switch layer {
            case .convolution(let conv):
                if conv.inChannels != channels { throw mismatch(scope, "weight", channels, conv.inChannels) }
                channels = conv.outChannels
            case .res(let res):
                channels = try res.checkChannels(channels, embedding: embedding, scope)
            case .transformer(let t):
                if t.norm.channels != channels { throw mismatch(scope, "norm.weight", channels, t.norm.channels) }
                if t.projIn.inFeatures != channels { throw mismatch(scope, "proj_in.weight", channels, t.projIn.inFeatures) }
                if t.projOut.outFeatures != channels { throw mismatch(scope, "proj_out.weight", channels, t.projOut.outFeatures) }
            case .downsample(let d):
                if d.conv.inChannels != channels { throw mismatch(scope, "op.weight", channels, d.conv.inChannels) }
                channels = d.conv.outChannels
            case .upsample(let u):
                if u.conv.inChannels != channels { throw mismatch(scope, "conv.weight", channels, u.conv.inChannels) }
                channels = u.conv.outChannels
            }
        }
        return channels
    }
}

extension ResBlock {
    /// in_layers -> (+ emb) -> out_layers, plus the skip: all widths must agree.
    func checkChannels(_ input: Int, embedding: Int, _ w: Weights) throws -> Int {
        let width = inConv.outChannels
        if inNorm.channels != input { throw mismatch(w, "in_layers.0.weight", input, inNorm.channels) }
        if inConv.inChannels != input { throw mismatch(w, "in_layers.2.weight", input, inConv.inChannels) }
        if self.embedding.inFeatures != embedding || self.embedding.outFeatures != width {
            throw mismatch(w, "emb_layers.1.weight", width, self.embedding.outFeatures)
        }
        if outNorm.channels != width { throw mismatch(w, "out_layers.0.weight", width, outNorm.channels) }
        if outConv.inChannels != width { throw mismatch(w, "out_layers.3.weight", width, outConv.inChannels) }
        let output = outConv.outChannels
        if let skip {
            if skip.inChannels != input || skip.outChannels != output { throw mismatch(w, "skip_connection.weight", input, skip.inChannels) }
        } else if input != output {
            throw mismatch(w, "skip_connection.weight", input, output)
        }
        return output
    }
}

/// Tensor `name` of scope `w` expects `actual` channels where the layers before it give `expected`.
func mismatch(_ w: Weights, _ name: String, _ expected: Int, _ actual: Int) -> WeightError {
    .badShape(
        file: w.index.source, tensor: w.key(name), shape: w.shape(of: name) ?? [actual],
        reason: "it takes \(actual) channels where the layers before it give \(expected)")
}
