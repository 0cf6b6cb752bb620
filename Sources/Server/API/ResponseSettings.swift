import Foundation

/// How a finished request is answered: the parts of the request that are about the response,
/// not about the picture.
struct ResponseSettings: Sendable, Equatable {
    enum Format: String, Sendable {
        case url
        case b64JSON = "b64_json"
    }

    enum OutputFormat: String, Sendable {
        case png, jpeg

        var fileExtension: String { rawValue == "jpeg" ? "jpg" : "png" }
        var mediaType: String { self == .png ? "image/png" : "image/jpeg" }
    }

    var format: Format = .url
    var outputFormat: OutputFormat = .png
    /// JPEG quality, 1-100.
    var jpegQuality = 90
    /// Echoed in the `user` response header (sd-api-server); generated when absent.
    var user: String
    /// The prompt as given, echoed in each data item.
    var prompt: String
    var stream = false
    var preview = false
}
