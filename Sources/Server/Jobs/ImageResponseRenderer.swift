import Diffusion
import Foundation

/// Turns finished pictures into the response: encodes each (PNG, JPEG or WebP, with the A1111
/// parameters text), stores it in the file store (as sd-api-server does, in both response formats) and
/// builds the data items. Picture i of a request is named `output.png`, `output-2.png`, ...
/// each under its own file id.
struct ImageResponseRenderer: Sendable {
    let store: FileStore
    let urlPrefix: String

    /// All or nothing: when storing picture i fails, the files already stored for pictures
    /// 0..<i are deleted again, so a failed request leaves no file behind.
    /// - Throws: `StorageError` on disk errors (507 when the disk is full, else 500);
    ///   `WebP.EncodeError` (500).
    func render(_ images: [GeneratedImage], settings: ResponseSettings, created: Date = Date()) throws -> ImageResponse {
        var items: [ImageResponse.Item] = []
        var stored: [String] = []
        do {
            for (index, generated) in images.enumerated() {
                let (item, id) = try renderItem(generated, index: index, settings: settings)
                stored.append(id)
                items.append(item)
            }
        } catch {
            for id in stored { _ = try? store.delete(id) }
            throw error
        }
        return ImageResponse(created: Int(created.timeIntervalSince1970), data: items, outputFormat: settings.outputFormat.rawValue)
    }

    private func renderItem(_ generated: GeneratedImage, index: Int, settings: ResponseSettings) throws -> (ImageResponse.Item, fileID: String) {
        let bytes = try generated.encoded(as: settings.outputFormat, compression: settings.outputCompression)
        let name = (index == 0 ? "output" : "output-\(index + 1)") + "." + settings.outputFormat.fileExtension
        let file = try store.save(bytes, name: name)
        var item = ImageResponse.Item(prompt: settings.prompt, seed: generated.seed, fileID: file.id)
        switch settings.format {
        case .url: item.url = "\(urlPrefix)/v1/files/download/\(file.id)/\(name)"
        case .b64JSON: item.b64JSON = Data(bytes).base64EncodedString()
        }
        return (item, file.id)
    }
}
