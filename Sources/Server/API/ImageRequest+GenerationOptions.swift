import Diffusion
import Foundation
import Samplers
import Tensor

// The request body -> the library's `GenerationRequest` (whose one mapping to `GenerationOptions`
// the CLI shares): uploads decoded, a control picture fetched from the files, errors as the
// server's.

extension ImageRequest {
    /// What the mapping needs to know about the server.
    struct Context: Sendable {
        var limits: GenerationOptions.Limits
        var maxUploadPixels: Int
        /// The bytes of a stored file, for a `control_image` FileObject; nil when there is none.
        var storedFile: @Sendable (String) -> [UInt8]? = { _ in nil }
        /// Draws the seed for a negative `seed`.
        var randomSeed: @Sendable () -> UInt64 = { UInt64.random(in: 0...UInt64(UInt32.max)) }
    }

    /// The library options for this request, validated (every error names its field); defaults
    /// and name rules are `GenerationRequest.options`'s.
    /// - Throws: `ServerError.invalidField` / `.unsupported`.
    func generationOptions(_ context: Context) throws -> GenerationOptions {
        var request = GenerationRequest(prompt: prompt)
        request.negativePrompt = negativePrompt
        request.count = n
        request.size = size
        request.width = width
        request.height = height
        request.steps = steps
        request.cfgScale = cfgScale
        request.seed = seed
        request.sampler = sampleMethod
        request.scheduler = scheduler
        request.rng = rng
        request.clipSkip = clipSkip
        request.eta = eta
        request.strength = strength
        if let image {
            request.initImage = try ImageDecoding.decode(image, field: "image", maxPixels: context.maxUploadPixels)
        }
        if let mask {
            request.mask = try ImageDecoding.decode(mask, field: "mask", maxPixels: context.maxUploadPixels)
        }
        switch controlImage {
        case .upload(let upload):
            request.controlImage = try ImageDecoding.decode(upload, field: "control_image", maxPixels: context.maxUploadPixels)
        case .storedFile(let id):
            guard let bytes = context.storedFile(id) else {
                throw ServerError.invalidField(field: "control_image", message: "'control_image' names no file of this server: '\(id.prefix(60))'")
            }
            let upload = Upload(filename: nil, contentType: nil, bytes: bytes)
            request.controlImage = try ImageDecoding.decode(upload, field: "control_image", maxPixels: context.maxUploadPixels)
        case nil: break
        }
        request.controlStrength = controlStrength
        request.controlStart = controlStart
        request.controlEnd = controlEnd
        request.applyCannyPreprocessor = applyCannyPreprocessor
        request.loras = loras
        do {
            return try request.options(limits: context.limits, randomSeed: context.randomSeed)
        } catch GenerationError.invalidOption(let field, let reason) {
            throw ServerError.invalidField(field: field, message: "'\(field)' \(reason)")
        }
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
            guard let format = ResponseSettings.OutputFormat(pathExtension: outputFormat) else {
                throw ServerError.invalidField(field: "output_format", message: "'output_format' must be png, jpeg or webp, got '\(outputFormat.prefix(40))'")
            }
            settings.outputFormat = format
        }
        if let outputCompression {
            guard (0...100).contains(outputCompression) else {
                throw ServerError.invalidField(field: "output_compression", message: "'output_compression' must be between 0 and 100")
            }
            settings.outputCompression = outputCompression
        }
        if let user, user.utf8.count > 256 || user.contains(where: { $0.isNewline || $0 == "\0" }) {
            // It goes back as a header value: no line breaks, bounded length.
            throw ServerError.invalidField(field: "user", message: "'user' must be one line of at most 256 bytes")
        }
        // Edits stream too (OpenAI's gpt-image edits do; the web page shows their steps).
        if stream == true { settings.stream = true }
        settings.preview = preview ?? false
        return settings
    }
}
