import Diffusion
import Foundation
import Samplers
import Tensor

// The one translation from wire names to the library's `GenerationOptions`: defaults, `size`
// parsing, seeds, sampler/scheduler/rng names, uploads. The library never sees wire names.

extension ImageRequest {
    /// What the mapping needs to know about the server.
    struct Context: Sendable {
        var nativeSize: Int
        var limits: GenerationOptions.Limits
        var maxUploadPixels: Int
        /// Draws the seed for a negative `seed`.
        var randomSeed: @Sendable () -> UInt64 = { UInt64.random(in: 0...UInt64(UInt32.max)) }
    }

    /// The library options for this request, validated (every error names its field).
    /// Defaults: sd-api-server's (seed 42, euler_a, 20 steps, cfg 7, strength 0.75, n 1); the
    /// model's native size. `size` (`WIDTHxHEIGHT`) overrides `width`/`height`.
    /// - Throws: `ServerError.invalidField` / `.unsupported`.
    func generationOptions(_ context: Context) throws -> GenerationOptions {
        guard let prompt else { throw ServerError.invalidField(field: "prompt", message: "missing field 'prompt'") }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ServerError.invalidField(field: "prompt", message: "'prompt' must not be empty")
        }
        if hasControlImage {
            throw ServerError.unsupported(
                field: "control_image", message: "ControlNet is not supported yet: 'control_image' cannot be used")
        }
        if applyCannyPreprocessor == true {
            throw ServerError.unsupported(
                field: "apply_canny_preprocessor", message: "ControlNet is not supported yet: 'apply_canny_preprocessor' cannot be used")
        }
        if let controlStrength, !(controlStrength.isFinite && controlStrength >= 0 && controlStrength <= 10) {
            throw ServerError.invalidField(field: "control_strength", message: "'control_strength' must be between 0 and 10")
        }

        var options = GenerationOptions(prompt: prompt)
        options.negativePrompt = negativePrompt ?? ""
        options.count = n ?? 1
        options.steps = steps ?? 20
        options.cfgScale = cfgScale ?? 7
        options.strength = strength ?? 0.75
        options.clipSkip = clipSkip
        options.eta = eta

        let (width, height) = try resolvedSize(nativeSize: context.nativeSize)
        options.width = width
        options.height = height

        if let seed { options.seed = seed < 0 ? context.randomSeed() : UInt64(seed) }
        if let sampleMethod {
            guard let kind = SamplerKind(name: sampleMethod) else {
                let names = SamplerKind.allCases.map(\.rawValue).joined(separator: ", ")
                throw ServerError.invalidField(field: "sample_method", message: "unknown sample_method '\(sampleMethod.prefix(40))' (one of \(names))")
            }
            options.sampler = kind
        }
        if let scheduler {
            guard let kind = ScheduleKind(name: scheduler) else {
                let names = ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")
                throw ServerError.invalidField(field: "scheduler", message: "unknown scheduler '\(scheduler.prefix(40))' (one of \(names))")
            }
            options.schedule = kind
        }
        if let rng {
            guard let kind = RNGKind(rawValue: rng.lowercased()) else {
                throw ServerError.invalidField(field: "rng", message: "unknown rng '\(rng.prefix(40))' (cuda, cpu, std_default)")
            }
            options.rng = kind
        }
        if let image {
            options.initImage = try ImageDecoding.decode(image, field: "image", maxPixels: context.maxUploadPixels)
        }
        if let mask {
            options.mask = try ImageDecoding.decode(mask, field: "mask", maxPixels: context.maxUploadPixels)
        }
        do {
            try options.validate(limits: context.limits)
        } catch GenerationError.invalidOption(let field, let reason) {
            throw ServerError.invalidField(field: field, message: "'\(field)' \(reason)")
        }
        return options
    }

    /// `size` as `WIDTHxHEIGHT` (OpenAI and stable-diffusion.cpp order; sd-api-server read
    /// height first, which only differs for non-square sizes), else `width`/`height`, else the
    /// native size. `auto` means the native size.
    func resolvedSize(nativeSize: Int) throws -> (width: Int, height: Int) {
        if let size {
            let text = size.trimmingCharacters(in: .whitespaces).lowercased()
            if text == "auto" { return (nativeSize, nativeSize) }
            let parts = text.split(separator: "x", omittingEmptySubsequences: false)
            guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]) else {
                throw ServerError.invalidField(field: "size", message: "'size' must be WIDTHxHEIGHT, e.g. 512x768, got '\(size.prefix(40))'")
            }
            return (w, h)
        }
        return (width ?? nativeSize, height ?? nativeSize)
    }

    /// The response-side fields, validated.
    /// - Throws: `ServerError.invalidField` naming the field.
    func responseSettings(endpoint: Endpoint) throws -> ResponseSettings {
        var settings = ResponseSettings(user: user ?? "imgen-\(UUID().uuidString.lowercased())", prompt: prompt ?? "")
        if let responseFormat {
            guard let format = ResponseSettings.Format(rawValue: responseFormat.lowercased()) else {
                throw ServerError.invalidField(field: "response_format", message: "'response_format' must be url or b64_json, got '\(responseFormat.prefix(40))'")
            }
            settings.format = format
        }
        if let outputFormat {
            switch outputFormat.lowercased() {
            case "png": settings.outputFormat = .png
            case "jpeg", "jpg": settings.outputFormat = .jpeg
            default:
                throw ServerError.invalidField(field: "output_format", message: "'output_format' must be png or jpeg, got '\(outputFormat.prefix(40))'")
            }
        }
        if let outputCompression {
            guard (0...100).contains(outputCompression) else {
                throw ServerError.invalidField(field: "output_compression", message: "'output_compression' must be between 0 and 100")
            }
            settings.jpegQuality = max(1, outputCompression)
        }
        if let user, user.utf8.count > 256 || user.contains(where: { $0.isNewline || $0 == "\0" }) {
            // It goes back as a header value: no line breaks, bounded length.
            throw ServerError.invalidField(field: "user", message: "'user' must be one line of at most 256 bytes")
        }
        if stream == true {
            guard endpoint == .generations else {
                throw ServerError.invalidField(field: "stream", message: "'stream' is only supported by /v1/images/generations")
            }
            settings.stream = true
        }
        settings.preview = preview ?? false
        return settings
    }
}
