import Foundation

/// Multipart bodies: sd-api-server's field names (and OpenAI's), each parsed with an error that
/// names the field. Unknown fields are refused with 400 `Unsupported field`, as sd-api-server.
extension ImageRequest {
    /// Which endpoint a multipart body was sent to: only edits take `image` and `mask`.
    enum Endpoint: Sendable {
        case generations, edits
    }

    /// OpenAI fields that have no meaning here; accepted so OpenAI clients work unchanged.
    static let ignoredOpenAIFields: Set<String> = [
        "background", "moderation", "input_fidelity", "partial_images",
    ]

    init(form: MultipartForm, endpoint: Endpoint) throws {
        func integer(_ part: MultipartForm.Part) throws -> Int {
            guard let value = Int(part.text.trimmingCharacters(in: .whitespaces)) else {
                throw ServerError.invalidField(field: part.name, message: "'\(part.name)' must be an integer, got '\(part.text.prefix(40))'")
            }
            return value
        }
        func number(_ part: MultipartForm.Part) throws -> Float {
            guard let value = Float(part.text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                throw ServerError.invalidField(field: part.name, message: "'\(part.name)' must be a number, got '\(part.text.prefix(40))'")
            }
            return value
        }
        func boolean(_ part: MultipartForm.Part) throws -> Bool {
            switch part.text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw ServerError.invalidField(field: part.name, message: "'\(part.name)' must be true or false, got '\(part.text.prefix(40))'")
            }
        }
        func upload(_ part: MultipartForm.Part) throws -> Upload {
            guard !part.bytes.isEmpty else { throw ServerError.invalidField(field: part.name, message: "'\(part.name)' is an empty file") }
            return Upload(filename: part.filename, contentType: part.contentType, bytes: part.bytes)
        }

        for part in form.parts {
            switch part.name {
            case "prompt": prompt = part.text
            case "negative_prompt": negativePrompt = part.text
            case "model": model = part.text
            case "n": n = try integer(part)
            case "size": size = part.text
            case "width": width = try integer(part)
            case "height": height = try integer(part)
            case "cfg_scale": cfgScale = try number(part)
            case "sample_method", "sampler": sampleMethod = part.text
            case "scheduler": scheduler = part.text
            case "steps": steps = try integer(part)
            case "seed":
                guard let value = Int64(part.text.trimmingCharacters(in: .whitespaces)) else {
                    throw ServerError.invalidField(field: "seed", message: "'seed' must be an integer, got '\(part.text.prefix(40))'")
                }
                seed = value
            case "clip_skip": clipSkip = try integer(part)
            case "rng": rng = part.text
            case "eta": eta = try number(part)
            case "strength": strength = try number(part)
            case "response_format": responseFormat = part.text
            case "output_format": outputFormat = part.text
            case "output_compression": outputCompression = try integer(part)
            case "user": user = part.text
            case "control_image": controlImage = .upload(try upload(part))
            case "control_strength": controlStrength = try number(part)
            case "control_start": controlStart = try number(part)
            case "control_end": controlEnd = try number(part)
            case "apply_canny_preprocessor": applyCannyPreprocessor = try boolean(part)
            case "style_ratio": styleRatio = try number(part)
            case "lora", "lora[]":
                // One part per LoRA (`NAME:WEIGHT`), or a JSON list as the JSON body takes it.
                let text = part.text.trimmingCharacters(in: .whitespaces)
                if text.hasPrefix("[") {
                    guard let entries = try? JSONDecoder().decode([LoRAEntry].self, from: Data(text.utf8)) else {
                        throw ServerError.invalidField(field: "lora", message: "'lora' is not a JSON list of LoRAs")
                    }
                    loras = (loras ?? []) + entries.map(\.use)
                } else {
                    loras = (loras ?? []) + [try LoRAEntry.parse(text)]
                }
            case "quality": quality = part.text
            case "style": style = part.text
            case "stream": stream = try boolean(part)
            case "preview": preview = try boolean(part)
            case "image" where endpoint == .edits, "image[]" where endpoint == .edits:
                // OpenAI clients may send several `image[]` parts; the first is the source.
                if image == nil { image = try upload(part) }
            case "mask" where endpoint == .edits: mask = try upload(part)
            case "image", "image[]", "mask":
                throw ServerError.invalidField(field: part.name, message: "'\(part.name)' is only taken by /v1/images/edits")
            case let name where ImageRequest.ignoredOpenAIFields.contains(name): break
            default:
                throw ServerError.invalidField(field: part.name, message: "Unsupported field: \(part.name)")
            }
        }
    }
}
