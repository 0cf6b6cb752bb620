import Diffusion

/// Uploaded pictures: PNG or JPEG, recognised by their first bytes, bounded in pixels.
enum ImageDecoding {
    /// - Throws: `ServerError.invalidField` naming `field` for anything that is not a readable
    ///   PNG or JPEG within `maxPixels` (a PNG whose chunks overrun the upload is refused before
    ///   libpng allocates for them, in `PNG.decode`).
    static func decode(_ upload: Upload, field: String, maxPixels: Int) throws -> RGBImage {
        do {
            return try ImageFile.decode(upload.bytes, maxPixels: maxPixels)
        } catch is ImageFile.UnsupportedImage {
            throw ServerError.invalidField(field: field, message: "'\(field)' is not a PNG or JPEG picture")
        } catch {
            throw ServerError.invalidField(field: field, message: "'\(field)' could not be decoded: \(error)")
        }
    }
}
