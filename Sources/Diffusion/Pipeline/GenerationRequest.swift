import Samplers
import Tensor

/// A generation as a client writes it: the wire fields of sd-api-server / stable-diffusion.cpp
/// (names in `snake_case` in errors), every one optional. The one translation into
/// `GenerationOptions` (defaults, `size` parsing, negative seeds, sampler / scheduler / rng names),
/// shared by `sd serve` and `sd generate`, so both read a request by the same rules.
public struct GenerationRequest: Sendable {
    public var prompt: String?
    public var negativePrompt: String?
    /// Number of pictures (`n`).
    public var count: Int?
    /// `WIDTHxHEIGHT` (or `auto`); wins over `width` / `height`.
    public var size: String?
    public var width: Int?
    public var height: Int?
    public var steps: Int?
    public var cfgScale: Float?
    /// Negative: a random seed.
    public var seed: Int64?
    /// `sample_method`: a sampler name or alias.
    public var sampler: String?
    public var scheduler: String?
    public var rng: String?
    public var clipSkip: Int?
    public var eta: Float?
    public var strength: Float?
    public var initImage: RGBImage?
    public var mask: RGBImage?
    public var vaeTiling: Bool?
    public var controlImage: RGBImage?
    public var controlStrength: Float?
    public var controlStart: Float?
    public var controlEnd: Float?
    public var applyCannyPreprocessor: Bool?
    /// LoRAs by name in the LoRA folder, besides the prompt's tags.
    public var loras: [LoRAUse]?

    public init(prompt: String? = nil) { self.prompt = prompt }

    /// The library options for this request, validated.
    /// Defaults: sd-api-server's (seed 42, euler_a, 20 steps, cfg 7, strength 0.75, n 1, control
    /// strength 0.9); no size
    /// (or `auto`) leaves width and height nil, the model's native size.
    /// - Parameter randomSeed: draws the seed for a negative `seed`.
    /// - Throws: `GenerationError.invalidOption` naming the wire field.
    public func options(
        limits: GenerationOptions.Limits = .init(),
        randomSeed: () -> UInt64 = { UInt64.random(in: 0...UInt64(UInt32.max)) }
    ) throws -> GenerationOptions {
        func fail(_ field: String, _ reason: String) -> GenerationError { .invalidOption(field: field, reason: reason) }
        guard let prompt else { throw fail("prompt", "is missing") }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw fail("prompt", "must not be empty") }
        var options = GenerationOptions(prompt: prompt)
        options.negativePrompt = negativePrompt ?? ""
        options.count = count ?? options.count
        options.steps = steps ?? options.steps
        options.cfgScale = cfgScale ?? options.cfgScale
        options.strength = strength ?? options.strength
        options.clipSkip = clipSkip
        options.eta = eta
        options.vaeTiling = vaeTiling ?? false
        let (width, height) = try resolvedSize()
        options.width = width
        options.height = height
        if let seed { options.seed = seed < 0 ? randomSeed() : UInt64(seed) }
        if let sampler {
            guard let kind = SamplerKind(name: sampler) else {
                throw fail("sample_method", "is unknown: '\(sampler.prefix(40))' (one of \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            options.sampler = kind
        }
        if let scheduler {
            guard let kind = ScheduleKind(name: scheduler) else {
                throw fail("scheduler", "is unknown: '\(scheduler.prefix(40))' (one of \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            options.schedule = kind
        }
        if let rng {
            guard let kind = RNGKind(rawValue: rng.lowercased()) else {
                throw fail("rng", "is unknown: '\(rng.prefix(40))' (one of \(RNGKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            options.rng = kind
        }
        options.initImage = initImage
        options.mask = mask
        options.controlImage = controlImage
        options.controlStrength = controlStrength ?? options.controlStrength
        options.controlStart = controlStart ?? options.controlStart
        options.controlEnd = controlEnd ?? options.controlEnd
        options.cannyPreprocessing = applyCannyPreprocessor ?? false
        options.loras = loras ?? []
        try options.validate(limits: limits)
        return options
    }

    /// `size` as `WIDTHxHEIGHT` (OpenAI and stable-diffusion.cpp order; sd-api-server read
    /// height first, which only differs for non-square sizes), else `width`/`height`; nil is the
    /// native size, and so is `auto`.
    func resolvedSize() throws -> (width: Int?, height: Int?) {
        if let size {
            let text = size.trimmingCharacters(in: .whitespaces).lowercased()
            if text == "auto" { return (nil, nil) }
            let parts = text.split(separator: "x", omittingEmptySubsequences: false)
            guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else {
                throw GenerationError.invalidOption(field: "size", reason: "must be WIDTHxHEIGHT, e.g. 512x768, got '\(size.prefix(40))'")
            }
            return (w, h)
        }
        return (width, height)
    }
}
