import Diffusion

/// The fields of `POST /v1/images/generations` and `/v1/images/edits` by their wire names
/// (sd-api-server's, plus OpenAI's and ours), typed but not yet validated. JSON and multipart
/// bodies both produce one; `generationOptions` turns it into the library's options.
struct ImageRequest: Sendable, Equatable {
    var prompt: String?
    var negativePrompt: String?
    /// Accepted and ignored: one model per server (OpenAI clients always send it).
    var model: String?
    var n: Int?
    /// `WIDTHxHEIGHT`; overrides `width` and `height`.
    var size: String?
    var width: Int?
    var height: Int?
    var cfgScale: Float?
    var sampleMethod: String?
    var scheduler: String?
    var steps: Int?
    /// Negative means random.
    var seed: Int64?
    var clipSkip: Int?
    var rng: String?
    var eta: Float?
    /// img2img strength (edits).
    var strength: Float?
    /// `url` (default) or `b64_json`.
    var responseFormat: String?
    /// `png` (default), `jpeg` or `webp`.
    var outputFormat: String?
    /// JPEG / WebP quality 0-100 (OpenAI's `output_compression`; WebP 100 is lossless).
    var outputCompression: Int?
    var user: String?
    /// The picture that steers the model's ControlNet.
    var controlImage: ControlImage?
    var controlStrength: Float?
    /// Fractions of the steps between which the ControlNet steers (ours; diffusers' names).
    var controlStart: Float?
    var controlEnd: Float?
    var applyCannyPreprocessor: Bool?
    var styleRatio: Float?
    /// LoRAs by name in `--lora-model-dir` (stable-diffusion.cpp's server's `lora` list).
    var loras: [LoRAUse]?
    /// OpenAI fields accepted for compatibility and ignored.
    var quality: String?
    var style: String?
    /// Answer with server-sent events (generations only).
    var stream: Bool?
    /// With `stream`, attach a small preview picture to step events.
    var preview: Bool?
    /// Edits: the source picture and the optional inpainting mask (white = repaint).
    var image: Upload?
    var mask: Upload?

    /// Where a control picture comes from: sent with the request (a multipart file, or base64 in
    /// JSON), or a file of this server named by its id (sd-api-server's FileObject form).
    enum ControlImage: Sendable, Equatable {
        case upload(Upload)
        case storedFile(id: String)
    }
}
