import Tensor

/// The geometry of an LDM/SGM UNet (`openaimodel.UNetModel`), read off the tensor shapes and
/// names alone, never from a per-version table (in the spirit of stable-diffusion.cpp's detection).
///
/// The block layout is LDM's: input block 0 is the input convolution; then each level has
/// `resBlocksPerLevel` blocks `[ResBlock, SpatialTransformer?]` and every level but the last ends
/// with a `[Downsample]` block; the middle block is `[ResBlock, SpatialTransformer?, ResBlock]`;
/// the output blocks walk the levels deepest first with `resBlocksPerLevel + 1` blocks
/// `[ResBlock, SpatialTransformer?, Upsample?]` each. SD1.x/SD2.x have 4 levels, 2 res blocks,
/// 12 input and 12 output blocks; SDXL has 3 levels, no attention at level 0, and 9 of each.
public struct UNetConfig: Sendable, Equatable {
    /// Latent channels in (`input_blocks.0.0` in-channels: 4; 9 for inpainting, 8 for pix2pix).
    public var inChannels: Int
    /// Channels out (`out.2` out-channels).
    public var outChannels: Int
    /// Width of level 0 (`input_blocks.0.0` out-channels; LDM `model_channels`, 320 in SD).
    public var modelChannels: Int
    /// Width of each level (its res blocks' out-channels): SD1.x 320, 640, 1280, 1280.
    public var levelChannels: [Int]
    /// Res blocks per level in the encoder (LDM `num_res_blocks`); the decoder has one more.
    public var resBlocksPerLevel: Int
    /// Transformer depth of each encoder res block, `[level][j]` (0: no attention there):
    /// the number of `input_blocks.N.1.transformer_blocks.K`.
    public var inputTransformerDepths: [[Int]]
    /// Transformer depth of each decoder block, `[level][i]` with `level` the encoder level it
    /// mirrors (output blocks run from the deepest level, `i` in `0...resBlocksPerLevel`).
    public var outputTransformerDepths: [[Int]]
    /// Whether the model has a middle block at all (distilled UNets may drop it).
    public var hasMiddleBlock: Bool
    /// Transformer depth of `middle_block.1` (0: the middle block is two ResBlocks).
    public var middleTransformerDepth: Int
    /// Whether proj_in/proj_out are Linear [C, C] (SD2.x, SDXL) rather than 1x1 convs (SD1.x).
    public var linearProjection: Bool
    /// Width of the cross-attention context (`attn2.to_k` in-features: 768, 1024, 2048), or nil
    /// for a model without attention.
    public var contextDimension: Int?
    /// Width of the sinusoidal timestep embedding (`time_embed.0` in-features, = modelChannels).
    public var timestepChannels: Int
    /// Width of the timestep embedding added into every ResBlock (`time_embed.2` out-features).
    public var timeEmbeddingDimension: Int
    /// Width of SDXL's added conditioning vector `y` (`label_emb.0.0` in-features: 2816), or nil.
    public var addedConditionChannels: Int?
    /// How attention channels split into heads (given by the caller; weights cannot say it).
    public var attention: AttentionHeads
    /// GroupNorm groups (32 in every Stable Diffusion model; given, as weights cannot say it).
    public var normGroups: Int

    /// Number of resolution levels (LDM `len(channel_mult)`).
    public var levelCount: Int { levelChannels.count }
    /// LDM `channel_mult`: SD1.x (1, 2, 4, 4), SDXL (1, 2, 4).
    public var channelMultipliers: [Int] { levelChannels.map { $0 / modelChannels } }
    /// Number of `input_blocks.N` (= number of `output_blocks.N`).
    public var inputBlockCount: Int { 1 + levelCount * resBlocksPerLevel + (levelCount - 1) }

    /// Reads the geometry of the UNet under `w` (the scope `model.diffusion_model`), from shapes
    /// and names only: no tensor is decoded or marked consumed.
    ///
    /// - Parameters:
    ///   - attention: SD1.x `.count(8)`, SD2.x/SDXL `.headWidth(64)`, tiny-shapes `.count(8)`.
    ///   - normGroups: 32 for every Stable Diffusion checkpoint.
    ///   - decoder: false reads an encoder-only network (a ControlNet's copy of the UNet's input
    ///     and middle blocks, without `output_blocks` and `out`): `outChannels` is then 0 and
    ///     `outputTransformerDepths` empty.
    /// - Throws: `WeightError.missingTensor` or `.badShape` when the tensors do not form an LDM UNet,
    ///   or when an attention width does not split into heads as `attention` says.
    public init(detectingFrom w: Weights, attention: AttentionHeads, normGroups: Int = 32, decoder: Bool = true) throws {
        func shape(_ name: String, rank: Int? = nil) throws -> [Int] {
            guard let s = w.shape(of: name) else { throw WeightError.missingTensor(file: w.index.source, tensor: w.key(name)) }
            guard rank.map({ s.count == $0 }) ?? true else {
                throw WeightError.badShape(
                    file: w.index.source, tensor: w.key(name), shape: s, reason: "expected \(rank ?? -1) dimensions")
            }
            return s
        }
        /// The number of `transformer_blocks.K` under `block`.
        func depth(_ block: String) -> Int {
            var k = 0
            while w.contains("\(block).transformer_blocks.\(k)") { k += 1 }
            return k
        }

        let convIn = try shape("input_blocks.0.0.weight", rank: 4)
        (modelChannels, inChannels) = (convIn[0], convIn[1])
        outChannels = decoder ? try shape("out.2.weight", rank: 4)[0] : 0
        timestepChannels = try shape("time_embed.0.weight", rank: 2)[1]
        timeEmbeddingDimension = try shape("time_embed.2.weight", rank: 2)[0]
        addedConditionChannels = w.contains("label_emb") ? try shape("label_emb.0.0.weight", rank: 2)[1] : nil

        // Encoder: res blocks until a downsampler (`op`) starts the next level.
        var depths: [[Int]] = [[]]
        var channels: [Int] = []
        var transformers: [String] = []  // transformer scopes, for the projection kind and context width
        var n = 1
        while w.contains("input_blocks.\(n)") {
            if w.contains("input_blocks.\(n).0.op") {
                depths.append([])
            } else {
                let out = try shape("input_blocks.\(n).0.out_layers.3.weight", rank: 4)[0]
                if depths[depths.count - 1].isEmpty { channels.append(out) }
                let d = depth("input_blocks.\(n).1")
                if d > 0 { transformers.append("input_blocks.\(n).1") }
                depths[depths.count - 1].append(d)
            }
            n += 1
        }
        let perLevel = depths[0].count
        guard perLevel > 0, depths.allSatisfy({ $0.count == perLevel }) else {
            throw WeightError.badShape(
                file: w.index.source, tensor: w.key("input_blocks"), shape: depths.map(\.count),
                reason: "every level needs the same number of res blocks (counts per level shown as the shape)")
        }
        resBlocksPerLevel = perLevel
        levelChannels = channels
        inputTransformerDepths = depths

        hasMiddleBlock = w.contains("middle_block")
        middleTransformerDepth = depth("middle_block.1")
        if middleTransformerDepth > 0 { transformers.append("middle_block.1") }

        // Decoder: deepest level first, one more block per level than the encoder.
        var outputDepths = [[Int]](repeating: [], count: decoder ? depths.count : 0)
        n = 0
        for level in (0..<outputDepths.count).reversed() {
            for _ in 0...perLevel {
                _ = try shape("output_blocks.\(n).0.out_layers.3.weight", rank: 4)
                let d = depth("output_blocks.\(n).1")
                if d > 0 { transformers.append("output_blocks.\(n).1") }
                outputDepths[level].append(d)
                n += 1
            }
        }
        outputTransformerDepths = outputDepths

        if let first = transformers.first {
            linearProjection = try shape("\(first).proj_in.weight").count == 2
            contextDimension = try shape("\(first).transformer_blocks.0.attn2.to_k.weight", rank: 2)[1]
        } else {
            (linearProjection, contextDimension) = (false, nil)
        }
        for scope in transformers {
            let width = try shape("\(scope).norm.weight", rank: 1)[0]
            if attention.heads(forChannels: width) == nil {
                throw WeightError.badShape(
                    file: w.index.source, tensor: w.key("\(scope).norm.weight"), shape: [width],
                    reason: "\(width) attention channels do not split into heads as \(attention)")
            }
        }
        self.attention = attention
        self.normGroups = normGroups
    }
}
