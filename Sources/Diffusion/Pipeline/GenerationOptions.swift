import Samplers
import Tensor

/// Everything one generation request asks for. Defaults are stable-diffusion.cpp's / sd-api-server's
/// (seed 42, euler_a, 20 steps, cfg 7); width and height default to the model's native size.
public struct GenerationOptions: Sendable {
    public var prompt: String
    public var negativePrompt: String = ""
    /// Picture size in pixels; nil means the model's native size. Multiples of 8.
    public var width: Int?
    public var height: Int?
    public var steps: Int = 20
    public var cfgScale: Float = 7
    /// Image i of a request uses seed + i.
    public var seed: UInt64 = 42
    /// Number of pictures.
    public var count: Int = 1
    public var sampler: SamplerKind = .eulerAncestral
    /// nil means the sampler's default schedule.
    public var schedule: ScheduleKind?
    public var rng: RNGKind = .cuda
    /// A1111 / stable-diffusion.cpp convention: 1 = last layer, 2 = penultimate; nil = the
    /// model family's default.
    public var clipSkip: Int?
    /// Ancestral noise scale for the samplers that have one; nil = the sampler's default.
    public var eta: Float?
    /// img2img / inpainting source picture (resized to the output size).
    public var initImage: RGBImage?
    /// Inpainting mask, same size as the output after resizing: white (>= 128 in the red channel
    /// after greyscale) is repainted, black kept.
    public var mask: RGBImage?
    /// How much of the init image is replaced (0 to 1; stable-diffusion.cpp's default 0.75).
    public var strength: Float = 0.75
    /// Decode (and encode) the VAE in overlapping tiles to bound memory on large pictures.
    public var vaeTiling = false
    /// The picture that steers the model's ControlNet (edges, depth, pose), resized to the output
    /// size; nil runs without the ControlNet.
    public var controlImage: RGBImage?
    /// How strongly the ControlNet steers (its residuals' factor; sd-api-server's default 0.9).
    public var controlStrength: Float = 0.9
    /// The fractions of the steps between which the ControlNet steers (diffusers'
    /// `control_guidance_start` / `_end`; A1111's guidance start / end).
    public var controlStart: Float = 0
    public var controlEnd: Float = 1
    /// Turn the control picture into Canny edges first (sd-api-server's `apply_canny_preprocessor`).
    public var cannyPreprocessing = false
    /// LoRAs to apply (names in the pipeline's LoRA folder), besides the prompt's
    /// `<lora:name:weight>` tags.
    public var loras: [LoRAUse] = []

    public init(prompt: String) { self.prompt = prompt }

    /// The largest values `validate` accepts unless the caller sets tighter ones.
    public struct Limits: Sendable {
        public var maxWidth = 4096, maxHeight = 4096, maxSteps = 1000, maxCount = 16
        /// The most 75-token chunks a prompt or negative prompt may take (A1111 and
        /// stable-diffusion.cpp users write long prompts; each chunk is one more text-encoder pass
        /// and 77 more context tokens for every attention of every step).
        public var maxPromptChunks = 32
        /// A cheap bound checked before tokenizing (BPE's cost grows with the square of a word's
        /// length): far above what `maxPromptChunks` chunks of real text take.
        public var maxPromptBytes = 32 * 1024
        /// The most LoRAs one request may apply (field and tags together).
        public var maxLoRAs = 16
        public init() {}
    }

    /// Checks every field; the error names the field.
    /// - Throws: `GenerationError.invalidOption`.
    public func validate(limits: Limits = Limits()) throws {
        func fail(_ field: String, _ reason: String) -> GenerationError { .invalidOption(field: field, reason: reason) }
        if let width {
            guard width >= 8 && width <= limits.maxWidth && width % 8 == 0 else {
                throw fail("width", "must be a multiple of 8 between 8 and \(limits.maxWidth), got \(width)")
            }
        }
        if let height {
            guard height >= 8 && height <= limits.maxHeight && height % 8 == 0 else {
                throw fail("height", "must be a multiple of 8 between 8 and \(limits.maxHeight), got \(height)")
            }
        }
        for (field, text) in [("prompt", prompt), ("negative_prompt", negativePrompt)] where text.utf8.count > limits.maxPromptBytes {
            throw fail(field, "is \(text.utf8.count) bytes long, more than the \(limits.maxPromptBytes) allowed")
        }
        guard steps >= 1 && steps <= limits.maxSteps else { throw fail("steps", "must be between 1 and \(limits.maxSteps), got \(steps)") }
        guard count >= 1 && count <= limits.maxCount else { throw fail("n", "must be between 1 and \(limits.maxCount), got \(count)") }
        guard cfgScale.isFinite && cfgScale >= 0 && cfgScale <= 100 else { throw fail("cfg_scale", "must be between 0 and 100, got \(cfgScale)") }
        guard strength.isFinite && strength >= 0 && strength <= 1 else { throw fail("strength", "must be between 0 and 1, got \(strength)") }
        if let clipSkip { guard clipSkip >= 1 && clipSkip <= 12 else { throw fail("clip_skip", "must be between 1 and 12, got \(clipSkip)") } }
        if let eta { guard eta.isFinite && eta >= 0 && eta <= 10 else { throw fail("eta", "must be between 0 and 10, got \(eta)") } }
        if mask != nil && initImage == nil { throw fail("mask", "needs an init image") }
        guard controlStrength.isFinite && controlStrength >= 0 && controlStrength <= 10 else {
            throw fail("control_strength", "must be between 0 and 10, got \(controlStrength)")
        }
        guard controlStart.isFinite && controlStart >= 0 && controlStart <= 1 else {
            throw fail("control_start", "must be between 0 and 1, got \(controlStart)")
        }
        guard controlEnd.isFinite && controlEnd >= controlStart && controlEnd <= 1 else {
            throw fail("control_end", "must be between the start (\(controlStart)) and 1, got \(controlEnd)")
        }
        if cannyPreprocessing && controlImage == nil { throw fail("control_image", "is missing: apply_canny_preprocessor needs one") }
        guard loras.count <= limits.maxLoRAs else { throw fail("lora", "lists \(loras.count) LoRAs, more than the \(limits.maxLoRAs) allowed") }
        for lora in loras {
            if let problem = LoRALibrary.problem(with: lora.name) { throw fail("lora", "'\(lora.name.prefix(80))' \(problem)") }
            guard lora.multiplier.isFinite && abs(lora.multiplier) <= 10 else {
                throw fail("lora", "'\(lora.name.prefix(80))' has multiplier \(lora.multiplier); it must be between -10 and 10")
            }
        }
    }
}

/// Why a generation could not run or stopped.
public enum GenerationError: Error, Equatable, CustomStringConvertible {
    case invalidOption(field: String, reason: String)
    case unsupported(String)
    case cancelled

    public var description: String {
        switch self {
        case .invalidOption(let field, let reason): "invalid \(field): \(reason)"
        case .unsupported(let what): "unsupported: \(what)"
        case .cancelled: "cancelled"
        }
    }
}
