import Diffusion

/// Uploaded pictures: PNG or JPEG, recognised by their first bytes, bounded in pixels.
enum ImageDecoding {
    /// - Throws: `ServerError.invalidField` naming `field` for anything that is not a readable
    ///   PNG or JPEG within `maxPixels`.
    static func decode(_ upload: Upload, field: String, maxPixels: Int) throws -> RGBImage {
        let bytes = upload.bytes
        do {
            if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try PNG.decode(bytes, maxPixels: maxPixels) }
            if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return try JPEG.decode(bytes, maxPixels: maxPixels) }
        } catch GenerationError.unsupported(let what) {
            throw ServerError.unsupported(field: field, message: "'\(field)': \(what)")
        } catch {
            throw ServerError.invalidField(field: field, message: "'\(field)' could not be decoded: \(error)")
        }
        throw ServerError.invalidField(field: field, message: "'\(field)' is not a PNG or JPEG picture")
    }
}
