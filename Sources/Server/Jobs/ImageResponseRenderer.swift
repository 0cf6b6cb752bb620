import Diffusion
import Foundation

/// Turns finished pictures into the response: encodes each (PNG with the A1111 parameters text,
/// or JPEG), stores it in the file store (as sd-api-server does, in both response formats) and
/// builds the data items. Picture i of a request is named `output.png`, `output-2.png`, ...
/// each under its own file id.
struct ImageResponseRenderer: Sendable {
    let store: FileStore
    let urlPrefix: String

    /// - Throws: `ServerError.internalError` on disk errors.
    func render(_ images: [GeneratedImage], settings: ResponseSettings, created: Date = Date()) throws -> ImageResponse {
        var items: [ImageResponse.Item] = []
        for (index, generated) in images.enumerated() {
            let bytes: [UInt8]
            switch settings.outputFormat {
            case .png:
                bytes = generated.pngWithParameters()
            case .jpeg:
                bytes = JPEG.encode(generated.image, quality: settings.jpegQuality)
            }
            let name = (index == 0 ? "output" : "output-\(index + 1)") + "." + settings.outputFormat.fileExtension
            let file = try store.save(bytes, name: name)
            var item = ImageResponse.Item(prompt: settings.prompt, seed: generated.seed, fileID: file.id)
            switch settings.format {
            case .url: item.url = "\(urlPrefix)/v1/files/download/\(file.id)/\(name)"
            case .b64JSON: item.b64JSON = Data(bytes).base64EncodedString()
            }
            items.append(item)
        }
        return ImageResponse(created: Int(created.timeIntervalSince1970), data: items)
    }
}
