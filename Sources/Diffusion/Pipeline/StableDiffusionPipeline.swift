import Foundation
import Samplers
import Tensor

/// One finished picture.
public struct GeneratedImage: Sendable {
    public let image: RGBImage
    /// The seed this picture used (request seed + its index).
    public let seed: UInt64
    /// The final latent, before decoding ([1, 4, h, w], UNet scale).
    public let latent: Tensor
    /// A1111-style parameters text ("prompt\nNegative prompt: ...\nSteps: ..."), for the PNG.
    public let parameters: String
}

/// Progress of a running generation, reported after every sampler step.
public struct GenerationProgress: Sendable {
    public let imageIndex: Int
    public let imageCount: Int
    /// Step index within the current picture, 0-based.
    public let step: Int
    public let stepCount: Int
    public let sigma: Float
    /// The denoiser's current x0 estimate ([1, 4, h, w]), for previews.
    public let denoised: Tensor
}

/// A loaded Stable Diffusion model (SD 1.x, 2.x or XL) and the txt2img / img2img / inpainting
/// pipeline over it. Loading maps the weights once; every generation shares them, so one value
/// serves concurrent requests (generations themselves are independent).
public final class StableDiffusionPipeline: @unchecked Sendable {
    public let checkpoint: Checkpoint
    let tokenizer: CLIPTokenizer
    let textEncoder: CLIPTextEncoder
    /// SDXL's second tower (OpenCLIP bigG), which also gives the pooled embedding.
    let textEncoder2: CLIPTextEncoder?
    let unet: UNet
    let vae: AutoencoderKL
    /// An optional fast decoder (TAESD) used instead of the VAE's decoder.
    let taesd: TAESDDecoder?
    let latentScale: LatentScale
    /// The sigma table of SD's scaled-linear training schedule (every supported family uses it).
    let table = SigmaTable.stableDiffusion

    /// The model family.
    public var family: ModelFamily { checkpoint.family }
    /// The native picture size (512 SD 1.x, 768 SD 2.x v, 1024 SDXL, 256 the built-in model).
    public var nativeSize: Int { checkpoint.resolution }
    /// A short name for logs and PNG parameters.
    public let modelName: String

    private let previewLock = NSLock()
    private var fittedPreview: LatentPreview?

    /// A small picture of a latent (one pixel per latent cell) for progress previews; the map is
    /// fitted to this model's VAE on first use (one encode of a 128x128 test card).
    public func preview(_ latent: Tensor) -> RGBImage {
        previewLock.lock()
        defer { previewLock.unlock() }
        let map = fittedPreview ?? LatentPreview(fittingEncoder: { [vae, latentScale] in latentScale.latent(fromVAE: vae.encode($0).mean) })
        fittedPreview = map
        return map.image(from: latent)
    }

    /// Loads `model` (a .safetensors or .gguf file, or a diffusers folder; nil = the built-in
    /// tiny-shapes model) with an optional separate VAE file and an optional TAESD decoder
    /// (madebyollin/taesd `diffusion_pytorch_model.safetensors`, `decoder.layers.N` names).
    /// - Throws: `WeightError` for unreadable, malformed or mismatched weights (naming file and
    ///   tensor), `TokenizerError` for a bad vocabulary.
    public convenience init(
        model: String? = nil, vae: String? = nil, taesd: String? = nil, prediction: PredictionType? = nil
    ) throws {
        let path = try model ?? BuiltInModel.checkpointPath()
        let checkpoint = try Checkpoint(path: path, vaePath: vae, predictionType: prediction)
        let vocabulary = try BuiltInModel.file("vocab.json"), merges = try BuiltInModel.file("merges.txt")
        let tokenizer = try CLIPTokenizer(vocabulary: URL(fileURLWithPath: vocabulary), merges: URL(fileURLWithPath: merges))
        let fastDecoder = try taesd.map { path -> TAESDDecoder in
            let file = try SafetensorsFile(path: path)
            let index = WeightIndex(source: path, tensors: file.tensors)
            let decoder = try TAESDDecoder(index.weights())
            try index.checkAllConsumed(under: "decoder.")
            return decoder
        }
        try self.init(
            checkpoint: checkpoint, tokenizer: tokenizer, taesd: fastDecoder,
            name: model.map { ($0 as NSString).lastPathComponent } ?? "tiny-shapes")
    }

    /// Frees the packed weight copies (`PackedWeights.releaseAll`) once the prompts are encoded
    /// and before each VAE decode, for one-shot runs (the CLI's `generate`): each stage then holds
    /// only its own model's weights, at the cost of packing the UNet again for a further picture.
    /// Off for a server, whose requests reuse them.
    public var freesWeightsBeforeDecoding = false

    /// Builds every component over an opened checkpoint; strict: every weight must be used.
    public init(checkpoint: Checkpoint, tokenizer: CLIPTokenizer, taesd: TAESDDecoder? = nil, name: String) throws {
        self.taesd = taesd
        self.checkpoint = checkpoint
        self.tokenizer = tokenizer
        self.modelName = name
        let root = checkpoint.index.weights()
        let config = checkpoint.config
        let isXL = checkpoint.family.architecture == .sdxl
        textEncoder = try CLIPTextEncoder(root["cond_stage_model.transformer"], heads: config.textEncoderHeads)
        textEncoder2 = isXL ? try CLIPTextEncoder(root["cond_stage_model.1.transformer"], heads: config.textEncoder2Heads) : nil
        let heads = config.unetAttentionHeads ?? (checkpoint.family.architecture == .sd1 ? .count(8) : .headWidth(64))
        let unetWeights = root["model.diffusion_model"]
        let unetConfig = try UNetConfig(detectingFrom: unetWeights, attention: heads, normGroups: config.unetNormGroups ?? 32)
        unet = try UNet(unetWeights, config: unetConfig)
        vae = try AutoencoderKL(root["first_stage_model"], groups: config.vaeNormGroups ?? 32)
        latentScale = LatentScale(scalingFactor: checkpoint.vaeScalingFactor, shiftFactor: 0)
        try checkpoint.checkAllConsumed()
    }

    /// Runs a request: `options.count` pictures with seeds seed, seed + 1, ...
    /// `progress` is called after every step; throwing from it (e.g. `CancellationError`) stops
    /// the run and the error propagates.
    /// - Throws: `GenerationError.invalidOption` for a bad field (named), errors from `progress`.
    public func generate(
        _ options: GenerationOptions, limits: GenerationOptions.Limits = .init(),
        progress: (GenerationProgress) throws -> Void = { _ in }
    ) throws -> [GeneratedImage] {
        try options.validate(limits: limits)
        // The activations' memory goes back to the system between requests (a server idles at
        // its weights' size, not at the largest decode it ran).
        defer { TensorStorage.releaseUnusedMemory() }
        let width = options.width ?? nativeSize, height = options.height ?? nativeSize
        let cond = try encode(options.prompt, clipSkip: options.clipSkip, width: width, height: height, isNegative: false)
        let uncond =
            options.cfgScale == 1
            ? nil : try encode(options.negativePrompt, clipSkip: options.clipSkip, width: width, height: height, isNegative: true)
        // One-shot: the text encoder's packed weights are not needed while sampling.
        if freesWeightsBeforeDecoding { PackedWeights.releaseAll() }

        // The UNet needs latent sides divisible by its total downsampling; other sizes (multiples of
        // 8 pixels) run on a latent padded up to the next multiple and are cropped after decoding.
        let factor = 1 << (unet.config.levelCount - 1)
        let latentHeight = (height / 8 + factor - 1) / factor * factor
        let latentWidth = (width / 8 + factor - 1) / factor * factor
        let latentShape = [1, 4, latentHeight, latentWidth]

        var sigmas = (options.schedule ?? options.sampler.defaultSchedule)
            .makeSchedule(ays: family.architecture == .sdxl ? .sdxl : .sd15)
            .sigmas(steps: options.steps, table: table)
        let sampler = options.sampler.makeSampler(eta: options.eta)

        // img2img: encode once, with the posterior noise from the base seed's stream, drawn before
        // the per-picture re-seeding (engine-reference 2.7).
        var initLatent: Tensor?
        var latentMask: Tensor?
        var extraChannels: Tensor?
        if let image = options.initImage {
            let pixels = padded(image.resized(width: width, height: height), toWidth: latentWidth * 8, height: latentHeight * 8)
            var rng = options.rng.makeSource(seed: options.seed)
            let (mean, logVariance) = options.vaeTiling ? vae.encodeTiled(pixels.tensor()) : vae.encode(pixels.tensor())
            let z = VAEEncoder.sample(mean: mean, logVariance: logVariance, noise: rng.normal(shape: mean.shape))
            initLatent = latentScale.latent(fromVAE: z)
            sigmas = Img2ImgStart.sigmas(sigmas, strength: options.strength)
            if let mask = options.mask {
                let maskImage = padded(mask.resized(width: width, height: height), toWidth: latentWidth * 8, height: latentHeight * 8)
                latentMask = Self.latentMask(maskImage, factor: 8)
                if family.variant == .inpainting {
                    extraChannels = try inpaintingChannels(image: pixels, mask: maskImage, latentMask: latentMask)
                }
            }
        }
        guard family.variant != .instructPix2Pix else {
            throw GenerationError.unsupported("instruct-pix2pix models are not supported")
        }
        if family.variant == .inpainting && extraChannels == nil {
            // An inpainting UNet without a mask: the whole picture is repainted (mask 1 everywhere,
            // masked picture all grey, which encodes to the latent of mid-grey).
            let grey = RGBImage(width: latentWidth * 8, height: latentHeight * 8, pixels: .init(repeating: 128, count: latentWidth * latentHeight * 192))
            let full = RGBImage(width: latentWidth * 8, height: latentHeight * 8, pixels: .init(repeating: 255, count: latentWidth * latentHeight * 192))
            extraChannels = try inpaintingChannels(image: grey, mask: full, latentMask: nil)
        }

        let predictor = GuidedNoisePredictor(
            model: { [unet] x, t, context, added in unet(x, timesteps: t, context: context, added: added) },
            cond: cond, uncond: uncond, scale: options.cfgScale, extraChannels: extraChannels)
        var results: [GeneratedImage] = []
        for index in 0..<options.count {
            let seed = options.seed &+ UInt64(index)
            var rng = options.rng.makeSource(seed: seed)
            let noise = rng.normal(shape: latentShape)
            let x = initLatent.map { Tensor.weightedSum((1, $0), (sigmas[0], noise)) } ?? Tensor.weightedSum((sigmas[0], noise))
            let report: (SamplerStep) throws -> Void = { step in
                try progress(
                    GenerationProgress(
                        imageIndex: index, imageCount: options.count, step: step.index, stepCount: step.count,
                        sigma: step.sigma, denoised: step.denoised))
            }
            let latent: Tensor
            switch (checkpoint.predictionType, latentMask, initLatent, family.variant) {
            case (.epsilon, let mask?, let original?, .standard):
                latent = try sampler.sample(
                    x, sigmas: sigmas, denoiser: MaskBlendingDenoiser(base: EpsilonPrediction(predictor, table: table), mask: mask, original: original),
                    noise: &rng, onStep: report)
            case (.v, let mask?, let original?, .standard):
                latent = try sampler.sample(
                    x, sigmas: sigmas, denoiser: MaskBlendingDenoiser(base: VPrediction(predictor, table: table), mask: mask, original: original),
                    noise: &rng, onStep: report)
            case (.epsilon, _, _, _):
                latent = try sampler.sample(x, sigmas: sigmas, denoiser: EpsilonPrediction(predictor, table: table), noise: &rng, onStep: report)
            case (.v, _, _, _):
                latent = try sampler.sample(x, sigmas: sigmas, denoiser: VPrediction(predictor, table: table), noise: &rng, onStep: report)
            }
            // A one-shot run gives the text encoder's and UNet's packed weights back before the
            // decoder's activations (the largest, 1.3 GB at 512x512) are allocated.
            if freesWeightsBeforeDecoding { PackedWeights.releaseAll() }
            let decoded = decode(latent, tiled: options.vaeTiling)  // [1, 3, H', W']
            var image = RGBImage(decoded: decoded.reshaped(Array(decoded.shape.dropFirst())))
            if image.width != width || image.height != height {
                image = image.cropped(x: 0, y: 0, width: width, height: height)
            }
            results.append(GeneratedImage(image: image, seed: seed, latent: latent, parameters: parameters(options, seed: seed, width: width, height: height)))
        }
        return results
    }

    /// Latent -> picture in [-1, 1]: TAESD if loaded (it takes the UNet-scale latent as is), else
    /// the VAE's decoder on latent / scale; tiled on request.
    func decode(_ latent: Tensor, tiled: Bool) -> Tensor {
        if let taesd { return tiled ? taesd.decodeTiled(latent) : taesd(latent) }
        let z = latentScale.vae(fromLatent: latent)
        return tiled ? vae.decoder.decodeTiled(z) : vae.decode(z)
    }

    /// A prompt as UNet conditioning: weighted, chunked, encoded per the family's conventions
    /// (engine-reference 5): SD 1.x last layer + final LN, SD 2.x penultimate + final LN, SDXL both
    /// towers penultimate without final LN, concatenated, plus the pooled bigG vector and size
    /// embeddings as the added conditioning.
    func encode(_ prompt: String, clipSkip: Int?, width: Int, height: Int, isNegative: Bool) throws -> Conditioning {
        let parsed = try PromptParser.parse(prompt)
        if let lora = parsed.loras.first {
            throw GenerationError.unsupported("LoRA ('<lora:\(lora.name):...>' in the prompt) is not supported yet")
        }
        let skip = clipSkip ?? family.defaultClipSkip
        switch family.architecture {
        case .sd1, .sd2:
            let tokens = TokenizedPrompt(parsed, tokenizer: tokenizer, padding: family.architecture == .sd1 ? .endOfText : .zero)
            // SD 2.x diffusers folders ship 23 of OpenCLIP-H's 24 layers (the last is never used):
            // skip counts from the layers present. Only that exact truncation is corrected; any
            // other depth (a complete or a small SD 2.x-like encoder) is taken as whole.
            let missing = family.architecture == .sd2 && textEncoder.layerCount == 23 ? 1 : 0
            let effectiveSkip = max(1, skip - missing)
            guard effectiveSkip <= textEncoder.layerCount else {
                throw GenerationError.invalidOption(field: "clip_skip", reason: "the text encoder has \(textEncoder.layerCount) layers, got \(skip)")
            }
            let chunks = (0..<tokens.chunkCount).map { Array(tokens.chunkIDs($0)) }
            let hidden = textEncoder(chunks, skip: effectiveSkip, finalLayerNorm: true, pooled: false).hidden  // [k, 77, D]
            let context = tokens.applyingWeights(to: hidden.reshaped(1, -1, hidden.shape[2]))  // [1, 77k, D]
            return Conditioning(context: context)
        case .sdxl:
            guard let bigG = textEncoder2 else { throw GenerationError.unsupported("SDXL checkpoint without its second text encoder") }
            let tokensL = TokenizedPrompt(parsed, tokenizer: tokenizer, padding: .endOfText)
            let tokensG = TokenizedPrompt(parsed, tokenizer: tokenizer, padding: .zeroAfterEnd)
            guard skip <= textEncoder.layerCount && skip <= bigG.layerCount else {
                throw GenerationError.invalidOption(field: "clip_skip", reason: "larger than the text encoders' layer counts")
            }
            let l = textEncoder((0..<tokensL.chunkCount).map { Array(tokensL.chunkIDs($0)) }, skip: skip, finalLayerNorm: false, pooled: false)
            let g = bigG((0..<tokensG.chunkCount).map { Array(tokensG.chunkIDs($0)) }, skip: skip, finalLayerNorm: false, pooled: true)
            let both = Tensor.concat([l.hidden, g.hidden], axis: 2)  // [k, 77, 768 + 1280]
            var context = tokensL.applyingWeights(to: both.reshaped(1, -1, both.shape[2]))  // [1, 77k, 2048]
            if isNegative && prompt.isEmpty {
                // SGM zeroes the unconditional context of an empty negative prompt (sd.cpp keeps
                // the pooled vector, as here).
                context = Tensor.zeros(context.shape)
            }
            guard let pooled = g.pooled else { throw GenerationError.unsupported("SDXL second text encoder without a projection") }
            let first = pooled.narrowed(axis: 0, start: 0, length: 1)  // [1, 1280], chunk 0 only
            let sizes: [Float] = [Float(height), Float(width), 0, 0, Float(height), Float(width)]  // original, crop, target
            let embedded = Tensor.timestepEmbedding(sizes, dimension: 256).reshaped(1, -1)  // [1, 6 * 256]
            return Conditioning(context: context, added: Tensor.concat([first, embedded], axis: 1))
        }
    }

    /// The 9-channel inpainting UNet's extra input: [mask (1), latent of the picture with the
    /// repainted region set to mid-grey (4)], LDM order.
    func inpaintingChannels(image: RGBImage, mask: RGBImage, latentMask: Tensor?) throws -> Tensor {
        var masked = image
        for i in 0..<(image.width * image.height) where mask.pixels[i * 3] >= 128 {
            masked.pixels[i * 3] = 128
            masked.pixels[i * 3 + 1] = 128
            masked.pixels[i * 3 + 2] = 128
        }
        let (mean, _) = vae.encode(masked.tensor())
        let maskedLatent = latentScale.latent(fromVAE: mean)
        let m = latentMask ?? Self.latentMask(mask, factor: 8)
        return Tensor.concat([m, maskedLatent], axis: 1)  // [1, 5, h, w]
    }

    /// A mask picture reduced to latent cells: a cell is repainted (1) if any of its pixels is
    /// white enough (>= 128), so edges are never left half-kept (stable-diffusion.cpp's max pooling).
    static func latentMask(_ mask: RGBImage, factor: Int) -> Tensor {
        let h = mask.height / factor, w = mask.width / factor
        var values = [Float](repeating: 0, count: h * w)
        for y in 0..<(h * factor) {
            for x in 0..<(w * factor) {
                let p = (y * mask.width + x) * 3
                let grey = (Int(mask.pixels[p]) + Int(mask.pixels[p + 1]) + Int(mask.pixels[p + 2])) / 3
                if grey >= 128 { values[(y / factor) * w + x / factor] = 1 }
            }
        }
        return Tensor(shape: [1, 1, h, w], values: values)
    }

    /// `image` extended to the given size by repeating its last row and column.
    private func padded(_ image: RGBImage, toWidth newWidth: Int, height newHeight: Int) -> RGBImage {
        if image.width == newWidth && image.height == newHeight { return image }
        var pixels = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for y in 0..<newHeight {
            for x in 0..<newWidth {
                let src = (min(y, image.height - 1) * image.width + min(x, image.width - 1)) * 3
                for c in 0..<3 { pixels[(y * newWidth + x) * 3 + c] = image.pixels[src + c] }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: pixels)
    }

    /// The A1111 "parameters" text, which A1111, ComfyUI and most viewers read back.
    func parameters(_ o: GenerationOptions, seed: UInt64, width: Int, height: Int) -> String {
        var lines = [o.prompt]
        if !o.negativePrompt.isEmpty { lines.append("Negative prompt: \(o.negativePrompt)") }
        var fields = [
            "Steps: \(o.steps)", "Sampler: \(o.sampler.rawValue)", "Schedule type: \((o.schedule ?? o.sampler.defaultSchedule).rawValue)",
            "CFG scale: \(o.cfgScale)", "Seed: \(seed)", "Size: \(width)x\(height)", "Model: \(modelName)", "RNG: \(o.rng.rawValue)",
        ]
        if let clipSkip = o.clipSkip { fields.append("Clip skip: \(clipSkip)") }
        if o.initImage != nil { fields.append("Denoising strength: \(o.strength)") }
        lines.append(fields.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
