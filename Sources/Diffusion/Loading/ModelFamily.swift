import Tensor

/// Which Stable Diffusion architecture a checkpoint holds, detected from canonical tensor names
/// and shapes only (never data), and the defaults that go with it.
///
/// Matches the "simpler robust rule" of engine-reference 4.3 (sd.cpp `get_sd_version` looks at
/// the same things): the context width is the in-features of any cross-attention `attn2.to_k`
/// (768 SD 1.x, 1024 SD 2.x, 2048 SDXL), SDXL also has `label_emb` and a second text encoder, and
/// the UNet's input channels give the variant (9 inpainting, 8 instruct-pix2pix). Models with
/// other widths (the built-in tiny-shapes has context 64) are SDXL when they have `label_emb` and
/// a second text encoder, SD 2.x when their transformers project with Linear layers (SD 2.x's
/// `use_linear_in_transformer`; SD 1.x uses 1x1 convolutions), else SD 1.x.
public struct ModelFamily: Equatable, Sendable, CustomStringConvertible {
    /// The three UNet/text-encoder architectures the engine runs.
    public enum Architecture: String, Sendable, CaseIterable {
        case sd1 = "SD 1.x"
        case sd2 = "SD 2.x"
        case sdxl = "SDXL"
    }

    /// What the UNet's extra input channels are for.
    public enum Variant: String, Sendable, CaseIterable {
        /// 4 latent channels.
        case standard
        /// 9 channels: latent, mask, masked-image latent.
        case inpainting
        /// 8 channels: latent, input-image latent.
        case instructPix2Pix
    }

    /// The architecture.
    public let architecture: Architecture
    /// The UNet variant.
    public let variant: Variant
    /// Cross-attention context width (text-encoder hidden size, concatenated for SDXL).
    public let contextDimension: Int
    /// UNet input channels (`input_blocks.0.0.weight` [C, in, 3, 3]).
    public let inChannels: Int

    /// A family given explicitly.
    public init(architecture: Architecture, variant: Variant, contextDimension: Int, inChannels: Int) {
        self.architecture = architecture
        self.variant = variant
        self.contextDimension = contextDimension
        self.inChannels = inChannels
    }

    /// Detects the family from the shapes of a canonical index.
    /// - Throws: `WeightError.missingTensor` when the index holds no UNet
    ///   (`model.diffusion_model.input_blocks.0.0.weight`), `.badShape` for a UNet input
    ///   convolution that is not [C, 4|8|9, kh, kw].
    public init(detectingFrom index: WeightIndex) throws {
        let unet = "model.diffusion_model."
        let conv = unet + "input_blocks.0.0.weight"
        guard let convIn = index.tensors[conv]?.shape else {
            throw WeightError.missingTensor(file: index.source, tensor: conv)
        }
        let variants: [Int: Variant] = [4: .standard, 9: .inpainting, 8: .instructPix2Pix]
        guard convIn.count == 4, let variant = variants[convIn[1]] else {
            throw WeightError.badShape(
                file: index.source, tensor: conv, shape: convIn,
                reason: "a UNet input convolution [C, 4, kh, kw] (8: instruct-pix2pix, 9: inpainting) was expected")
        }
        // The context width: attn2.to_k's in-features; a UNet without cross-attention falls back
        // to the first text encoder's width.
        let crossAttentionKey = index.names(withPrefix: unet).first { $0.hasSuffix(".attn2.to_k.weight") }
        let tokenEmbedding = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
        let context = crossAttentionKey.flatMap { index.tensors[$0]?.shape.last } ?? index.tensors[tokenEmbedding]?.shape.last ?? 0
        let hasLabelEmbedding = index.tensors[unet + "label_emb.0.0.weight"] != nil
        let hasSecondEncoder = !index.names(withPrefix: "cond_stage_model.1.").isEmpty
        // proj_in [C, C] (Linear) rather than [C, C, 1, 1]; only consulted for non-standard widths.
        let projectionKey = index.names(withPrefix: unet).first { $0.hasSuffix(".proj_in.weight") }
        let linearProjection = projectionKey.flatMap { index.tensors[$0]?.shape.count } == 2

        let architecture: Architecture
        if context == 2048 || (hasLabelEmbedding && hasSecondEncoder) {
            architecture = .sdxl
        } else if context == 1024 || (context != 768 && linearProjection) {
            architecture = .sd2
        } else {
            architecture = .sd1
        }
        self.init(architecture: architecture, variant: variant, contextDimension: context, inChannels: convIn[1])
    }

    /// Image side the family was trained at: 512 (SD 1.x, SD 2.x base), 768 (SD 2.x v-prediction),
    /// 1024 (SDXL). A checkpoint's own config (`Checkpoint.resolution`) takes precedence.
    public func nativeResolution(prediction: PredictionType) -> Int {
        switch architecture {
        case .sd1: 512
        case .sd2: prediction == .v ? 768 : 512
        case .sdxl: 1024
        }
    }

    /// Latent scaling factor of the family's VAE (diffusers `scaling_factor`).
    public var vaeScalingFactor: Float {
        architecture == .sdxl ? 0.13025 : 0.18215
    }

    /// Default CLIP skip: SD 1.x uses the last layer, SD 2.x and SDXL the penultimate.
    public var defaultClipSkip: Int {
        architecture == .sd1 ? 1 : 2
    }

    /// Names `checkAllConsumed(ignoring:)` should skip for this family: `IgnoredTensors`, plus the
    /// OpenCLIP `text_projection` of SD 2.x files, which only the pooled output (unused before
    /// SDXL) would need.
    public var ignoredTensors: [String] {
        IgnoredTensors.patterns + (architecture == .sdxl ? [] : ["cond_stage_model.transformer.text_projection"])
    }

    /// "SD 1.x, context 768", "SD 1.x inpainting, context 768", ...
    public var description: String {
        "\(architecture.rawValue)" + (variant == .standard ? "" : " \(variant.rawValue)") + ", context \(contextDimension)"
    }
}
