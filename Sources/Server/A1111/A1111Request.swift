import Foundation

/// The body of `POST /sdapi/v1/txt2img` and `/sdapi/v1/img2img` by AUTOMATIC1111's field names
/// (`modules/api/models.py`: the processing classes' arguments plus the API's own), typed but
/// not yet validated. Fields this server does not act on (`styles`, `restore_faces`, `tiling`,
/// `save_images`, `alwayson_scripts`, `subseed_strength`, `inpainting_fill`, `mask_blur`,
/// `inpaint_full_res`, `resize_mode`, ...) are accepted and ignored, as is any unknown key:
/// clients send A1111's whole request model.
struct A1111Request: Sendable, Equatable {
    var prompt: String?
    var negativePrompt: String?
    /// -1 (or any negative): random; the seed used is reported.
    var seed: Int64?
    /// Accepted and ignored (echoed in `info`).
    var subseed: Int64?
    var samplerName: String?
    /// The pre-1.0 name of the sampler field, still sent by older scripts.
    var samplerIndex: String?
    var scheduler: String?
    var batchSize: Int?
    var nIter: Int?
    var steps: Int?
    var cfgScale: Float?
    var width: Int?
    var height: Int?
    var denoisingStrength: Float?
    var eta: Float?
    /// SD.Next's (and SillyTavern's) top-level clip skip; `override_settings` wins.
    var clipSkip: Int?
    var overrideSettings = OverrideSettings()
    var sendImages: Bool?
    /// Hires fix: refused when true (no second pass here).
    var enableHR: Bool?
    /// img2img: the source pictures (base64, or `data:` URLs); the first is used.
    var initImages: [String]?
    /// img2img: white repaints, black keeps.
    var mask: String?
    /// 1 inverts the mask (A1111's "inpaint not masked").
    var inpaintingMaskInvert: Int?
    /// Echo `init_images` and `mask` in `parameters` (A1111 blanks them otherwise).
    var includeInitImages: Bool?

    /// The `override_settings` keys this server acts on; the others are ignored.
    struct OverrideSettings: Decodable, Sendable, Equatable {
        var sdModelCheckpoint: String?
        var clipStopAtLastLayers: Int?

        enum CodingKeys: String, CodingKey {
            case sdModelCheckpoint = "sd_model_checkpoint"
            case clipStopAtLastLayers = "CLIP_stop_at_last_layers"
        }
    }
}

extension A1111Request: Decodable {
    enum CodingKeys: String, CodingKey {
        case prompt, seed, subseed, scheduler, steps, width, height, eta, mask
        case negativePrompt = "negative_prompt"
        case samplerName = "sampler_name"
        case samplerIndex = "sampler_index"
        case batchSize = "batch_size"
        case nIter = "n_iter"
        case cfgScale = "cfg_scale"
        case denoisingStrength = "denoising_strength"
        case clipSkip = "clip_skip"
        case overrideSettings = "override_settings"
        case sendImages = "send_images"
        case enableHR = "enable_hr"
        case initImages = "init_images"
        case inpaintingMaskInvert = "inpainting_mask_invert"
        case includeInitImages = "include_init_images"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decodeIfPresent(String.self, forKey: .prompt)
        negativePrompt = try c.decodeIfPresent(String.self, forKey: .negativePrompt)
        seed = try c.decodeIfPresent(Int64.self, forKey: .seed)
        subseed = try c.decodeIfPresent(Int64.self, forKey: .subseed)
        samplerName = try c.decodeIfPresent(String.self, forKey: .samplerName)
        samplerIndex = try c.decodeIfPresent(String.self, forKey: .samplerIndex)
        scheduler = try c.decodeIfPresent(String.self, forKey: .scheduler)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize)
        nIter = try c.decodeIfPresent(Int.self, forKey: .nIter)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps)
        cfgScale = try c.decodeIfPresent(Float.self, forKey: .cfgScale)
        width = try c.decodeIfPresent(Int.self, forKey: .width)
        height = try c.decodeIfPresent(Int.self, forKey: .height)
        denoisingStrength = try c.decodeIfPresent(Float.self, forKey: .denoisingStrength)
        eta = try c.decodeIfPresent(Float.self, forKey: .eta)
        clipSkip = try c.decodeIfPresent(Int.self, forKey: .clipSkip)
        overrideSettings = try c.decodeIfPresent(OverrideSettings.self, forKey: .overrideSettings) ?? OverrideSettings()
        sendImages = try c.decodeIfPresent(Bool.self, forKey: .sendImages)
        enableHR = try c.decodeIfPresent(Bool.self, forKey: .enableHR)
        initImages = try c.decodeIfPresent([String].self, forKey: .initImages)
        mask = try c.decodeIfPresent(String.self, forKey: .mask)
        // A1111 types it as an int (0 / 1); some clients send a boolean.
        if let flag = try? c.decodeIfPresent(Bool.self, forKey: .inpaintingMaskInvert) {
            inpaintingMaskInvert = flag ? 1 : 0
        } else {
            inpaintingMaskInvert = try c.decodeIfPresent(Int.self, forKey: .inpaintingMaskInvert)
        }
        includeInitImages = try c.decodeIfPresent(Bool.self, forKey: .includeInitImages)
    }

    /// Integer fields, for naming the one that overflows (`JSONBodyDecoder`).
    static let integerFields = ["seed", "subseed", "batch_size", "n_iter", "steps", "width", "height", "clip_skip"]

    /// Decodes a body, naming the field in every error; also returns the body as sent, for the
    /// answer's `parameters`.
    /// - Throws: `ServerError.invalidField`, also when the body is not a JSON object.
    static func decode(_ data: Data) throws -> (request: A1111Request, body: [String: A1111JSON]) {
        let request = try JSONBodyDecoder.decode(A1111Request.self, from: data, integerFields: integerFields)
        // Bounded by the budget check above; any JSON the first decode took is valid here.
        guard case .object(let body) = try JSONDecoder().decode(A1111JSON.self, from: data) else {
            throw ServerError.invalidField(field: nil, message: "the body must be a JSON object")
        }
        return (request, body)
    }
}
