import Foundation
import Samplers
import Tensor

/// The txt2img / img2img / inpainting driver over one loaded model's parts (`ModelComponents`):
/// it knows samplers, schedules, seeds, classifier-free guidance and image editing, and asks the
/// parts for everything family-specific (text conditioning, the network's input geometry and extra
/// inputs, the latent codec, the parameterization and its sigma table).
///
/// Loading maps the weights once; every generation shares them, so one value serves concurrent
/// requests (generations themselves are independent).
public final class DiffusionPipeline: @unchecked Sendable {
    public let components: ModelComponents
    /// A short name for logs and PNG parameters.
    public let modelName: String

    /// The checkpoint the parts were built from.
    public var checkpoint: Checkpoint { components.checkpoint }
    /// The model family.
    public var family: ModelFamily { components.family }
    /// The native picture size (512 SD 1.x, 768 SD 2.x v, 1024 SDXL, 256 the built-in model).
    public var nativeSize: Int { components.nativeSize }

    /// Frees the packed weight copies (`PackedWeights.releaseAll`) once the prompts are encoded
    /// and before each decode, for one-shot runs (the CLI's `generate`): each stage then holds
    /// only its own model's weights, at the cost of packing the network again for a further
    /// picture. Off for a server, whose requests reuse them.
    public var freesWeightsBeforeDecoding = false

    /// Where `GenerationOptions.loras` and the prompt's `<lora:name:weight>` tags are looked up;
    /// nil refuses them.
    public var loraLibrary: LoRALibrary?

    /// Where the textual-inversion embeddings that prompts name are looked up; nil: no
    /// embeddings (names are text).
    public var embeddingLibrary: EmbeddingLibrary?

    /// Why the configured ControlNet does not steer this model (set by whoever loaded the model
    /// without it), for the error a request with a control picture gets.
    public var controlNetProblem: String?

    private let previewLock = NSLock()
    private var fittedPreview: LatentPreview?

    /// The mapped files the weights are read from, checked before each generation
    /// (`checkWeightFiles`): the checkpoint's (with its VAE) and, when loaded by path, the
    /// TAESD's and ControlNet's too.
    public private(set) var weightFiles: [MappedFile]

    public init(components: ModelComponents, name: String) {
        self.components = components
        self.modelName = name
        var seen = Set<ObjectIdentifier>()
        weightFiles = components.checkpoint.index.tensors.values.map(\.file).filter { seen.insert(ObjectIdentifier($0)).inserted }
    }

    /// Throws when a weight file was truncated or written to since the model was loaded: a read
    /// of a truncated mapping raises SIGBUS, so this runs before every generation (and right
    /// after loading). A truncation *during* a generation still ends the process.
    /// - Throws: `WeightError.changedOnDisk` naming the file.
    public func checkWeightFiles() throws {
        for file in weightFiles { try file.checkUnchanged() }
    }

    /// Builds the parts of an opened checkpoint (chosen by its detected family); strict: every
    /// weight must be used.
    public convenience init(
        checkpoint: Checkpoint, tokenizer: CLIPTokenizer, taesd: TAESDDecoder? = nil, controlNet: String? = nil, name: String
    ) throws {
        self.init(
            components: try ModelComponents.load(checkpoint, tokenizer: tokenizer, fastDecoder: taesd, controlNet: controlNet), name: name)
    }

    /// Loads `model` (a .safetensors, .gguf or PyTorch .ckpt file, or a diffusers folder; nil = the built-in
    /// tiny-shapes model) with an optional separate VAE file and an optional TAESD decoder
    /// (madebyollin/taesd `diffusion_pytorch_model.safetensors`, `decoder.layers.N` names), and
    /// an optional ControlNet (`ControlNet.load`).
    /// - Throws: `WeightError` for unreadable, malformed or mismatched weights (naming file and
    ///   tensor; a file shorter than its header says is `.badOffsets` or `.truncated`), or
    ///   `.changedOnDisk` when a file changed while the model was built; `TokenizerError` for a
    ///   bad vocabulary, `ControlNetError` for a ControlNet of another architecture.
    public convenience init(
        model: String? = nil, vae: String? = nil, taesd: String? = nil, prediction: PredictionType? = nil, controlNet: String? = nil
    ) throws {
        let (components, files) = try MappedFile.recordingMapped { () throws -> ModelComponents in
            let path = try model ?? BuiltInModel.checkpointPath()
            let checkpoint = try Checkpoint(path: path, vaePath: vae, predictionType: prediction)
            let vocabulary = try BuiltInModel.file("vocab.json"), merges = try BuiltInModel.file("merges.txt")
            let tokenizer = try CLIPTokenizer(vocabulary: URL(fileURLWithPath: vocabulary), merges: URL(fileURLWithPath: merges))
            let fastDecoder = try taesd.map { path -> TAESDDecoder in
                let index = WeightIndex(source: path, tensors: try Checkpoint.weightFile(path).tensors)
                let decoder = try TAESDDecoder(index.weights())
                try index.checkAllConsumed(under: "decoder.")
                return decoder
            }
            return try ModelComponents.load(checkpoint, tokenizer: tokenizer, fastDecoder: fastDecoder, controlNet: controlNet)
        }
        self.init(components: components, name: model.map { ($0 as NSString).lastPathComponent } ?? "tiny-shapes")
        var seen = Set(weightFiles.map(ObjectIdentifier.init))
        weightFiles += files.filter { seen.insert(ObjectIdentifier($0)).inserted }
        try checkWeightFiles()
    }

    /// A small picture of a latent (one pixel per latent cell) for progress previews; the map is
    /// fitted to this model's codec on first use (one encode of a 128x128 test card).
    public func preview(_ latent: Tensor) -> RGBImage {
        previewLock.lock()
        defer { previewLock.unlock() }
        let map = fittedPreview ?? LatentPreview(fittingEncoder: { [codec = components.codec] in codec.encode($0, tiled: false).meanLatent })
        fittedPreview = map
        return map.image(from: latent)
    }

    /// Runs a request: `options.count` pictures with seeds seed, seed + 1, ...
    /// `progress` is called after every step; throwing from it (e.g. `CancellationError`) stops
    /// the run and the error propagates, except `GenerationInterruption`, which ends the current
    /// picture early (decoded from the step's estimate) and skips to the next or stops there.
    /// - Throws: `GenerationError.invalidOption` for a bad field (named), errors from `progress`.
    public func generate(
        _ options: GenerationOptions, limits: GenerationOptions.Limits = .init(),
        progress: (GenerationProgress) throws -> Void = { _ in }
    ) throws -> [GeneratedImage] {
        try options.validate(limits: limits)
        // Before any weight is read: a truncated file would raise SIGBUS on the first page past its end.
        try checkWeightFiles()
        // The activations' memory goes back to the system between requests (a server idles at
        // its weights' size, not at the largest decode it ran).
        defer { TensorStorage.releaseUnusedMemory() }
        if case .unsupported(let reason) = components.network.imageConditioning { throw GenerationError.unsupported(reason) }
        if options.controlImage != nil && components.controlNet == nil {
            throw GenerationError.invalidOption(
                field: "control_image",
                reason: "cannot be used with model '\(modelName)': " + (controlNetProblem ?? "no ControlNet is loaded (start with --control-net)"))
        }
        let width = options.width ?? nativeSize, height = options.height ?? nativeSize
        let prompt = try PromptParser.parse(options.prompt)
        // The prompt's tags are A1111's way to ask for LoRAs; the negative prompt's are removed
        // from its text and not applied (as A1111).
        let tagged = prompt.loras.map { LoRAUse(name: $0.name, multiplier: Float($0.multiplier ?? 1)) }
        let loras = try layerAdapters(options.loras, tags: tagged, limits: limits)
        return try (loras?.adapters.withValue ?? { try $0() }) {
            try generate(options, prompt: prompt, width: width, height: height, limits: limits, loras: loras?.files ?? [], progress: progress)
        }
    }

    /// One request's LoRAs as layer deltas, and their files (nil for none).
    /// - Throws: `GenerationError.invalidOption` naming `lora` (the field's) or `prompt` (a tag's).
    private func layerAdapters(
        _ fromField: [LoRAUse], tags: [LoRAUse], limits: GenerationOptions.Limits
    ) throws -> (adapters: LayerAdapters, files: [LoRAFile])? {
        let uses = fromField.map { ($0, "lora") } + tags.map { ($0, "prompt") }
        guard !uses.isEmpty else { return nil }
        if uses.count > limits.maxLoRAs {
            throw GenerationError.invalidOption(field: "lora", reason: "asks for \(uses.count) LoRAs, more than the \(limits.maxLoRAs) allowed")
        }
        guard let loraLibrary else {
            throw GenerationError.invalidOption(
                field: uses[0].1, reason: "asks for the LoRA '\(uses[0].0.name.prefix(80))', but no LoRA folder is configured (--lora-model-dir)")
        }
        // Errors go back to clients: they name the LoRA file, not where the folder is.
        func described(_ error: any Error) -> String { "\(error)".replacingOccurrences(of: loraLibrary.directory + "/", with: "") }
        var files: [(file: LoRAFile, multiplier: Float)] = []
        for (use, field) in uses {
            if let problem = LoRALibrary.problem(with: use.name) {
                throw GenerationError.invalidOption(field: field, reason: "names the LoRA '\(use.name.prefix(80))', which \(problem)")
            }
            guard use.multiplier.isFinite && abs(use.multiplier) <= 10 else {
                throw GenerationError.invalidOption(field: field, reason: "gives the LoRA '\(use.name.prefix(80))' multiplier \(use.multiplier), outside -10 to 10")
            }
            do {
                files.append((try loraLibrary.file(named: use.name), use.multiplier))
            } catch {
                throw GenerationError.invalidOption(field: field, reason: described(error))
            }
        }
        do {
            return (try LoRAAdapters.make(files, for: checkpoint.index), files.map(\.file))
        } catch {
            throw GenerationError.invalidOption(field: uses[0].1, reason: described(error))
        }
    }

    /// `generate` with the LoRAs (if any) installed.
    private func generate(
        _ options: GenerationOptions, prompt: ParsedPrompt, width: Int, height: Int, limits: GenerationOptions.Limits,
        loras: [LoRAFile], progress: (GenerationProgress) throws -> Void
    ) throws -> [GeneratedImage] {
        let network = components.network, codec = components.codec, parameterization = components.parameterization
        let controlNet = components.controlNet
        func condition(_ parsed: ParsedPrompt, _ text: String, _ role: ConditioningRequest.Role) throws -> Conditioning {
            let request = ConditioningRequest(
                role: role, text: text, clipSkip: options.clipSkip, width: width, height: height, maxChunks: limits.maxPromptChunks,
                embeddings: embeddingLibrary)
            return try components.conditioner.condition(parsed, request)
        }
        let cond = try condition(prompt, options.prompt, .prompt)
        try GenerationCancellation.check()
        let uncond = options.cfgScale == 1 ? nil : try condition(try PromptParser.parse(options.negativePrompt), options.negativePrompt, .negativePrompt)
        // One-shot: the text encoder's packed weights are not needed while sampling.
        if freesWeightsBeforeDecoding { PackedWeights.releaseAll() }

        // The network needs latent sides divisible by its total downsampling; other sizes
        // (multiples of the codec's factor) run on a latent padded up to the next multiple and
        // are cropped after decoding.
        let down = codec.downscale, multiple = network.spatialMultiple
        let latentHeight = (height / down + multiple - 1) / multiple * multiple
        let latentWidth = (width / down + multiple - 1) / multiple * multiple
        let latentShape = [1, codec.channels, latentHeight, latentWidth]

        var sigmas = (options.schedule ?? options.sampler.defaultSchedule)
            .makeSchedule(ays: components.alignYourSteps)
            .sigmas(steps: options.steps, table: parameterization.table)
        let sampler = options.sampler.makeSampler(eta: options.eta)

        // img2img: encode once, with the posterior noise from the base seed's stream, drawn before
        // the per-picture re-seeding (engine-reference 2.7).
        var initLatent: Tensor?
        var latentMask: Tensor?
        var extras = NetworkExtras()
        if let image = options.initImage {
            let pixels = padded(image.resized(width: width, height: height), toWidth: latentWidth * down, height: latentHeight * down)
            var rng = options.rng.makeSource(seed: options.seed)
            let posterior = codec.encode(pixels.tensor(), tiled: options.vaeTiling)
            initLatent = posterior.sample(noise: rng.normal(shape: posterior.mean.shape))
            sigmas = Img2ImgStart.sigmas(sigmas, strength: options.strength)
            if let mask = options.mask {
                let maskImage = padded(mask.resized(width: width, height: height), toWidth: latentWidth * down, height: latentHeight * down)
                latentMask = Self.latentMask(maskImage, factor: down)
                if network.imageConditioning == .maskAndMaskedLatent {
                    extras.concatenatedChannels = maskAndMaskedLatent(image: pixels, mask: maskImage, latentMask: latentMask)
                }
            }
        }
        if network.imageConditioning == .maskAndMaskedLatent && extras.concatenatedChannels == nil {
            // An inpainting network without a mask: the whole picture is repainted (mask 1
            // everywhere, masked picture all grey, which encodes to the latent of mid-grey).
            let side = (width: latentWidth * down, height: latentHeight * down), count = side.width * side.height * 3
            let grey = RGBImage(width: side.width, height: side.height, pixels: .init(repeating: 128, count: count))
            let full = RGBImage(width: side.width, height: side.height, pixels: .init(repeating: 255, count: count))
            extras.concatenatedChannels = maskAndMaskedLatent(image: grey, mask: full, latentMask: nil)
        }

        if let picture = options.controlImage, let controlNet {
            var control = picture.resized(width: width, height: height)
            if options.cannyPreprocessing { control = CannyEdgeDetector().edgeMap(of: control) }
            let pixels = padded(control, toWidth: latentWidth * down, height: latentHeight * down)
            extras.control = ControlSignal(
                controlNet: controlNet, hint: controlNet.encodeHint(pixels.unitTensor()), strength: options.controlStrength,
                start: options.controlStart, end: options.controlEnd, stepCount: sigmas.count - 1)
        }

        let predictor = GuidedNoisePredictor(network: network, cond: cond, uncond: uncond, scale: options.cfgScale, extras: extras)
        // A network that takes no mask inpaints by blending the kept region back every step.
        let blend = extras.concatenatedChannels == nil ? zip(latentMask, initLatent) : nil
        var results: [GeneratedImage] = []
        for index in 0..<options.count {
            let seed = options.seed &+ UInt64(index)
            var rng = options.rng.makeSource(seed: seed)
            let noise = rng.normal(shape: latentShape)
            let x = initLatent.map { parameterization.noiseModel.noised($0, noise: noise, sigma: sigmas[0]) } ?? Tensor.weightedSum((sigmas[0], noise))
            extras.control?.step = 0
            // The estimate an interruption (A1111's skip / interrupt) keeps as the picture.
            var lastDenoised: Tensor?
            let report: (SamplerStep) throws -> Void = { [control = extras.control] step in
                control?.step = step.index + 1
                lastDenoised = step.denoised
                try progress(
                    GenerationProgress(
                        imageIndex: index, imageCount: options.count, step: step.index, stepCount: step.count,
                        sigma: step.sigma, denoised: step.denoised))
            }
            let latent: Tensor
            var interruption: GenerationInterruption?
            do {
                latent = try Self.sample(
                    x, sigmas: sigmas, sampler: sampler, predictor: predictor, parameterization: parameterization, blend: blend,
                    noise: &rng, onStep: report)
            } catch let stop as GenerationInterruption {
                // Only `progress` throws these, so a step has reported its estimate.
                guard let lastDenoised else { throw stop }
                latent = lastDenoised
                interruption = stop
            }
            // A one-shot run gives the text encoder's and network's packed weights back before the
            // decoder's activations (the largest, 1.3 GB at 512x512) are allocated.
            if freesWeightsBeforeDecoding { PackedWeights.releaseAll() }
            let decoded = codec.decode(latent, tiled: options.vaeTiling)  // [1, 3, H', W']
            var image = RGBImage(decoded: decoded.reshaped(Array(decoded.shape.dropFirst())))
            if image.width != width || image.height != height {
                image = image.cropped(x: 0, y: 0, width: width, height: height)
            }
            let text = parameters(
                options, seed: seed, width: width, height: height, loras: loras, embeddings: cond.embeddings + (uncond?.embeddings ?? []))
            results.append(GeneratedImage(image: image, seed: seed, latent: latent, parameters: text))
            if interruption == .stop { break }
        }
        return results
    }

    /// One picture's sampling loop over the guided network under the model's parameterization
    /// (a generic parameter here, so the samplers get a concrete denoiser type), blending the kept
    /// region back after every evaluation when a network that takes no mask inpaints.
    private static func sample(
        _ x: Tensor, sigmas: [Float], sampler: any Sampler, predictor: GuidedNoisePredictor, parameterization: some Parameterization,
        blend: (mask: Tensor, original: Tensor)?, noise: inout some RandomSource, onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        let denoiser = ParameterizedDenoiser(predictor, parameterization: parameterization)
        guard let (mask, original) = blend else {
            return try sampler.sample(x, sigmas: sigmas, denoiser: denoiser, noise: &noise, onStep: onStep)
        }
        return try sampler.sample(
            x, sigmas: sigmas, denoiser: MaskBlendingDenoiser(base: denoiser, mask: mask, original: original), noise: &noise, onStep: onStep)
    }

    /// The inpainting network's extra input: [mask (1), latent of the picture with the repainted
    /// region set to mid-grey (C)], LDM order.
    func maskAndMaskedLatent(image: RGBImage, mask: RGBImage, latentMask: Tensor?) -> Tensor {
        var masked = image
        for i in 0..<(image.width * image.height) where mask.pixels[i * 3] >= 128 {
            masked.pixels[i * 3] = 128
            masked.pixels[i * 3 + 1] = 128
            masked.pixels[i * 3 + 2] = 128
        }
        let maskedLatent = components.codec.encode(masked.tensor(), tiled: false).meanLatent
        let m = latentMask ?? Self.latentMask(mask, factor: components.codec.downscale)
        return Tensor.concat([m, maskedLatent], axis: 1)  // [1, 1 + C, h, w]
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
    func parameters(
        _ o: GenerationOptions, seed: UInt64, width: Int, height: Int, loras: [LoRAFile] = [], embeddings: [TextualInversion] = []
    ) -> String {
        var lines = [o.prompt]
        if !o.negativePrompt.isEmpty { lines.append("Negative prompt: \(o.negativePrompt)") }
        var fields = [
            "Steps: \(o.steps)", "Sampler: \(o.sampler.rawValue)", "Schedule type: \((o.schedule ?? o.sampler.defaultSchedule).rawValue)",
            "CFG scale: \(o.cfgScale)", "Seed: \(seed)", "Size: \(width)x\(height)", "Model: \(modelName)", "RNG: \(o.rng.rawValue)",
        ]
        if let clipSkip = o.clipSkip { fields.append("Clip skip: \(clipSkip)") }
        if !o.loras.isEmpty { fields.append("LoRA: " + o.loras.map { "\($0.name):\($0.multiplier)" }.joined(separator: " ")) }
        // A1111's fields, by which viewers and model sites find the files: "name: hash" pairs.
        func hashes(_ pairs: [(name: String, hash: String?)]) -> String {
            var seen = Set<String>()
            let listed = pairs.filter { seen.insert($0.name).inserted }.map { "\($0.name): \($0.hash ?? "unknown")" }
            return "\"" + listed.joined(separator: ", ") + "\""
        }
        if !loras.isEmpty {
            let named = loras.map { file in (name: ((file.path as NSString).lastPathComponent as NSString).deletingPathExtension, hash: file.hash) }
            fields.append("Lora hashes: " + hashes(named))
        }
        if !embeddings.isEmpty { fields.append("TI hashes: " + hashes(embeddings.map { ($0.name, $0.hash) })) }
        if o.initImage != nil { fields.append("Denoising strength: \(o.strength)") }
        if o.controlImage != nil, let controlNet = components.controlNet {
            fields.append("ControlNet: \((controlNet.source as NSString).lastPathComponent)")
            fields.append("Control strength: \(o.controlStrength)")
            if o.controlStart != 0 || o.controlEnd != 1 { fields.append("Control steps: \(o.controlStart)-\(o.controlEnd)") }
            if o.cannyPreprocessing { fields.append("Control preprocessor: canny") }
        }
        lines.append(fields.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}

/// Both values, or nil.
private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
