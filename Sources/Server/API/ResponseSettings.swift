import Diffusion
import Foundation

/// How a finished request is answered: the parts of the request that are about the response,
/// not about the picture.
struct ResponseSettings: Sendable, Equatable {
    enum Format: String, Sendable {
        case url
        case b64JSON = "b64_json"
    }

    /// png, jpeg or webp (the library's, shared with the CLI).
    typealias OutputFormat = ImageFileFormat

    var format: Format = .url
    var outputFormat: OutputFormat = .png
    /// OpenAI's `output_compression`, 0-100; nil: the format's default. `ImageFileFormat` maps
    /// it (JPEG quality; WebP quality, 100 lossless).
    var outputCompression: Int?
    /// Echoed in the `user` response header (sd-api-server); generated when absent.
    var user: String
    /// The prompt as given, echoed in each data item.
    var prompt: String
    var stream = false
    var preview = false
}
