import Diffusion
import Foundation

/// The answer of `txt2img` and `img2img`: `{"images": [base64 PNG], "parameters": {the request
/// as sent, A1111's defaults filled in}, "info": "<JSON string>"}`; `info` is a JSON *string*, as
/// A1111's `Processed.js()`, which clients parse again.
struct A1111ImageResponse: Encodable, Sendable {
    var images: [String]
    var parameters: [String: A1111JSON]
    var info: String
}

/// What `info` holds: A1111's `Processed.js()` fields, those that mean something here. The seeds
/// are the real ones (a request's -1 is resolved); `all_seeds` lists every planned picture,
/// `infotexts` every returned one (an interrupt returns fewer).
struct A1111Info: Codable, Equatable, Sendable {
    var prompt: String
    var allPrompts: [String]
    var negativePrompt: String
    var allNegativePrompts: [String]
    var seed: UInt64
    var allSeeds: [UInt64]
    var subseed: Int64
    var allSubseeds: [Int64]
    var subseedStrength: Double = 0
    var width: Int
    var height: Int
    var samplerName: String
    var scheduler: String
    var cfgScale: Float
    var steps: Int
    var batchSize: Int
    var nIter: Int
    var restoreFaces = false
    var sdModelName: String
    var sdModelHash: String?
    var seedResizeFromW = -1
    var seedResizeFromH = -1
    var denoisingStrength: Float?
    var extraGenerationParams: [String: String]
    var indexOfFirstImage = 0
    var infotexts: [String]
    var styles: [String] = []
    /// When the job started, `YYYYMMDDhhmmss` local time (A1111's format).
    var jobTimestamp: String
    var clipSkip: Int
    var isUsingInpaintingConditioning = false
    var version = "swift-sd"

    enum CodingKeys: String, CodingKey {
        case prompt, seed, subseed, width, height, scheduler, steps, infotexts, styles, version
        case allPrompts = "all_prompts"
        case negativePrompt = "negative_prompt"
        case allNegativePrompts = "all_negative_prompts"
        case allSeeds = "all_seeds"
        case allSubseeds = "all_subseeds"
        case subseedStrength = "subseed_strength"
        case samplerName = "sampler_name"
        case cfgScale = "cfg_scale"
        case batchSize = "batch_size"
        case nIter = "n_iter"
        case restoreFaces = "restore_faces"
        case sdModelName = "sd_model_name"
        case sdModelHash = "sd_model_hash"
        case seedResizeFromW = "seed_resize_from_w"
        case seedResizeFromH = "seed_resize_from_h"
        case denoisingStrength = "denoising_strength"
        case extraGenerationParams = "extra_generation_params"
        case indexOfFirstImage = "index_of_first_image"
        case jobTimestamp = "job_timestamp"
        case clipSkip = "clip_skip"
        case isUsingInpaintingConditioning = "is_using_inpainting_conditioning"
    }

    /// `info` as the string the answer carries.
    var jsonString: String { String(decoding: JSONResponse.bytes(self), as: UTF8.self) }

    /// A1111's `job_timestamp` format.
    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMddHHmmss"
        return formatter.string(from: date)
    }
}

/// A finished request's pictures as the worker thread rendered them (PNG with the parameters
/// text, base64), handed from the job's render step to the waiting route.
final class A1111Pictures: @unchecked Sendable {
    struct Picture: Sendable {
        var base64PNG: String?
        var seed: UInt64
        var infotext: String
        var width: Int
        var height: Int
    }

    private let lock = NSLock()
    private var stored: [Picture] = []

    var pictures: [Picture] { lock.withLock { stored } }

    /// Encodes `images` (skipping the PNGs when the client asked for none: `send_images: false`).
    func store(_ images: [GeneratedImage], encode: Bool) {
        let rendered = images.map { image in
            Picture(
                base64PNG: encode ? Data(image.pngWithParameters()).base64EncodedString() : nil, seed: image.seed,
                infotext: image.parameters, width: image.image.width, height: image.image.height)
        }
        lock.withLock { stored = rendered }
    }
}
