import Diffusion
import Foundation

// The A1111 body -> the library's `GenerationRequest` (the mapping the OpenAI routes and the CLI
// share), with A1111's defaults and its field names in every error.

extension A1111Request {
    enum Mode: String, Sendable {
        case txt2img, img2img

        /// A1111's `state.job` for API jobs.
        var jobName: String { "scripts_\(rawValue)" }
    }

    /// A1111's defaults where ours differ (`StableDiffusionProcessing`'s arguments).
    enum Defaults {
        static let steps = 50
        static let side = 512
        static let cfgScale: Float = 7
        static let denoisingStrength: Float = 0.75
    }

    /// Library field names -> A1111's, for the errors of the shared validation.
    static let fieldNames = ["n": "batch_size", "sample_method": "sampler_name", "strength": "denoising_strength", "image": "init_images"]

    /// A validated request: the options and what the answer reports besides them.
    struct Prepared: Sendable {
        var options: GenerationOptions
        var choice: A1111SamplerCatalog.Choice
        var batchSize: Int
        var iterations: Int
    }

    /// The library options for this request (every error names its A1111 field).
    /// - Throws: `ServerError.invalidField` / `.unsupported`.
    func prepared(_ mode: Mode, context: ImageRequest.Context) throws -> Prepared {
        if enableHR == true {
            throw ServerError.unsupported(field: "enable_hr", message: "'enable_hr' (hires fix) is not supported by this server; send false")
        }
        let limit = context.limits.maxCount
        let batchSize = self.batchSize ?? 1, iterations = nIter ?? 1
        for (field, value) in [("batch_size", batchSize), ("n_iter", iterations)] where value < 1 || value > limit {
            throw ServerError.invalidField(field: field, message: "'\(field)' must be between 1 and \(limit), got \(value)")
        }
        guard batchSize * iterations <= limit else {
            throw ServerError.invalidField(
                field: "batch_size", message: "'batch_size' * 'n_iter' is \(batchSize * iterations) pictures, more than the \(limit) allowed")
        }
        let samplerField = samplerName != nil || samplerIndex == nil ? "sampler_name" : "sampler_index"
        let choice = try A1111SamplerCatalog.resolve(sampler: samplerName ?? samplerIndex, field: samplerField, scheduler: scheduler)
        let clipSkipField = overrideSettings.clipStopAtLastLayers != nil ? "override_settings.CLIP_stop_at_last_layers" : "clip_skip"

        var request = GenerationRequest(prompt: prompt)
        request.negativePrompt = negativePrompt
        request.count = batchSize * iterations
        request.width = width ?? Defaults.side
        request.height = height ?? Defaults.side
        request.steps = steps ?? Defaults.steps
        request.cfgScale = cfgScale ?? Defaults.cfgScale
        request.seed = seed ?? -1
        request.sampler = choice.sampler.rawValue
        request.scheduler = choice.schedule?.rawValue
        request.clipSkip = overrideSettings.clipStopAtLastLayers ?? clipSkip
        request.eta = eta
        if mode == .img2img {
            request.strength = denoisingStrength ?? Defaults.denoisingStrength
            guard let first = initImages?.first else {
                throw ServerError.invalidField(field: "init_images", message: "'init_images' is missing: img2img needs a picture")
            }
            request.initImage = try ImageDecoding.decode(
                Base64Upload.decode(first, field: "init_images"), field: "init_images", maxPixels: context.maxUploadPixels)
            if let mask, !mask.isEmpty {
                var picture = try ImageDecoding.decode(Base64Upload.decode(mask, field: "mask"), field: "mask", maxPixels: context.maxUploadPixels)
                if inpaintingMaskInvert == 1 { picture.pixels = picture.pixels.map { 255 - $0 } }
                request.mask = picture
            }
        }
        do {
            let options = try request.options(limits: context.limits, randomSeed: context.randomSeed)
            return Prepared(options: options, choice: choice, batchSize: batchSize, iterations: iterations)
        } catch GenerationError.invalidOption(let field, let reason) {
            let name = field == "clip_skip" ? clipSkipField : Self.fieldNames[field] ?? field
            throw ServerError.invalidField(field: name, message: "'\(name)' \(reason)")
        }
    }
}
