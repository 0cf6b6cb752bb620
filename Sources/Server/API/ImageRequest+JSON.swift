import Diffusion
import Foundation

/// JSON body of `POST /v1/images/generations`: snake_case keys; unknown keys are ignored (as
/// sd-api-server) and a wrong type names its field. `control_image` is a base64 picture (or a
/// `data:` URL) or, as sd-api-server takes it, a FileObject naming a file of this server.
extension ImageRequest: Decodable {
    enum CodingKeys: String, CodingKey {
        case prompt, model, n, size, width, height, steps, seed, rng, eta, strength, user, quality, style, stream, preview
        case negativePrompt = "negative_prompt"
        case cfgScale = "cfg_scale"
        case sampleMethod = "sample_method"
        case sampler
        case scheduler
        case clipSkip = "clip_skip"
        case responseFormat = "response_format"
        case outputFormat = "output_format"
        case outputCompression = "output_compression"
        case controlImage = "control_image"
        case controlStrength = "control_strength"
        case controlStart = "control_start"
        case controlEnd = "control_end"
        case applyCannyPreprocessor = "apply_canny_preprocessor"
        case styleRatio = "style_ratio"
        case lora, loras
        case image, mask
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decodeIfPresent(String.self, forKey: .prompt)
        negativePrompt = try c.decodeIfPresent(String.self, forKey: .negativePrompt)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        n = try c.decodeIfPresent(Int.self, forKey: .n)
        size = try c.decodeIfPresent(String.self, forKey: .size)
        width = try c.decodeIfPresent(Int.self, forKey: .width)
        height = try c.decodeIfPresent(Int.self, forKey: .height)
        cfgScale = try c.decodeIfPresent(Float.self, forKey: .cfgScale)
        sampleMethod = try c.decodeIfPresent(String.self, forKey: .sampleMethod) ?? c.decodeIfPresent(String.self, forKey: .sampler)
        scheduler = try c.decodeIfPresent(String.self, forKey: .scheduler)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps)
        seed = try c.decodeIfPresent(Int64.self, forKey: .seed)
        clipSkip = try c.decodeIfPresent(Int.self, forKey: .clipSkip)
        rng = try c.decodeIfPresent(String.self, forKey: .rng)
        eta = try c.decodeIfPresent(Float.self, forKey: .eta)
        strength = try c.decodeIfPresent(Float.self, forKey: .strength)
        responseFormat = try c.decodeIfPresent(String.self, forKey: .responseFormat)
        outputFormat = try c.decodeIfPresent(String.self, forKey: .outputFormat)
        outputCompression = try c.decodeIfPresent(Int.self, forKey: .outputCompression)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        if try c.contains(.controlImage) && !c.decodeNil(forKey: .controlImage) {
            controlImage = try Self.controlImage(c)
        }
        controlStrength = try c.decodeIfPresent(Float.self, forKey: .controlStrength)
        controlStart = try c.decodeIfPresent(Float.self, forKey: .controlStart)
        controlEnd = try c.decodeIfPresent(Float.self, forKey: .controlEnd)
        applyCannyPreprocessor = try c.decodeIfPresent(Bool.self, forKey: .applyCannyPreprocessor)
        styleRatio = try c.decodeIfPresent(Float.self, forKey: .styleRatio)
        for key in [CodingKeys.lora, .loras] where try c.contains(key) && !c.decodeNil(forKey: key) {
            loras = (loras ?? []) + (try c.decode([LoRAEntry].self, forKey: key)).map(\.use)
        }
        quality = try c.decodeIfPresent(String.self, forKey: .quality)
        style = try c.decodeIfPresent(String.self, forKey: .style)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
        preview = try c.decodeIfPresent(Bool.self, forKey: .preview)
        if try c.contains(.image) && !c.decodeNil(forKey: .image) {
            throw ServerError.invalidField(field: "image", message: "image uploads go to /v1/images/edits as multipart/form-data")
        }
        if try c.contains(.mask) && !c.decodeNil(forKey: .mask) {
            throw ServerError.invalidField(field: "mask", message: "masks go to /v1/images/edits as multipart/form-data")
        }
    }
}

/// One entry of `lora`: stable-diffusion.cpp's server's `{"path": NAME, "multiplier": W}` (also
/// `name` and `weight`), or a string `NAME` / `NAME:WEIGHT` as A1111's tag writes it.
struct LoRAEntry: Decodable {
    let use: LoRAUse

    enum CodingKeys: String, CodingKey {
        case path, name, multiplier, weight
    }

    init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            use = try Self.parse(text)
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        guard let name = try c.decodeIfPresent(String.self, forKey: .path) ?? c.decodeIfPresent(String.self, forKey: .name) else {
            throw ServerError.invalidField(field: "lora", message: "'lora' entries need a \"path\" (or \"name\"): the LoRA's name in the LoRA folder")
        }
        let multiplier = try c.decodeIfPresent(Float.self, forKey: .multiplier) ?? c.decodeIfPresent(Float.self, forKey: .weight) ?? 1
        use = LoRAUse(name: name, multiplier: multiplier)
    }

    /// `NAME` or `NAME:WEIGHT`.
    static func parse(_ text: String) throws -> LoRAUse {
        guard let colon = text.lastIndex(of: ":") else { return LoRAUse(name: text) }
        guard let weight = Float(text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)) else {
            throw ServerError.invalidField(field: "lora", message: "'lora' entry '\(text.prefix(60))': the weight after ':' must be a number")
        }
        return LoRAUse(name: String(text[..<colon]), multiplier: weight)
    }
}

extension ImageRequest {
    /// The id of a FileObject (`{"id": "file_...", ...}`; its other fields are not needed).
    private struct FileReference: Decodable {
        let id: String
    }

    /// `control_image` as base64 (optionally a `data:image/...;base64,` URL) or a FileObject.
    private static func controlImage(_ c: KeyedDecodingContainer<CodingKeys>) throws -> ControlImage {
        let wrongType = ServerError.invalidField(
            field: "control_image", message: "'control_image' must be a base64 picture or a file object {\"id\": \"file_...\"}")
        if let text = try? c.decode(String.self, forKey: .controlImage) {
            return .upload(try Base64Upload.decode(text, field: "control_image"))
        }
        guard let reference = try? c.decode(FileReference.self, forKey: .controlImage) else { throw wrongType }
        return .storedFile(id: reference.id)
    }

    /// Integer fields, for naming the one that overflows: Foundation's decoder reports a number
    /// too large for its type as "not valid JSON" with no field at all.
    static let integerFields = ["n", "width", "height", "steps", "seed", "clip_skip", "output_compression"]

    /// Decodes a JSON body, naming the field in every error (`JSONBodyDecoder`).
    /// - Throws: `ServerError.invalidField`.
    static func decodeJSON(_ data: Data) throws -> ImageRequest {
        try JSONBodyDecoder.decode(ImageRequest.self, from: data, integerFields: integerFields)
    }
}
