import CWebP

/// WebP encoding and decoding through libwebp's simple API, with libwebpmux to add an `EXIF`
/// chunk (the container then becomes the extended VP8X form, as the WebP container spec requires
/// for metadata).
public enum WebP {
    /// Lossy VP8 at a quality of 0-100 (libwebp's scale, as cwebp `-q`), or lossless VP8L.
    public enum Compression: Sendable, Equatable {
        case lossy(quality: Int)
        case lossless
    }

    public enum EncodeError: Error, Equatable, CustomStringConvertible {
        /// libwebp refused the picture (sides over 16383 pixels, or no memory).
        case encodingFailed(width: Int, height: Int)
        case metadataFailed

        public var description: String {
            switch self {
            case .encodingFailed(let w, let h): "WebP encoding of a \(w)x\(h) picture failed (WebP sides are at most 16383)"
            case .metadataFailed: "WebP: adding the EXIF chunk failed"
            }
        }
    }

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case notAWebP
        case invalid
        case tooLarge(width: Int, height: Int, limit: Int)

        public var description: String {
            switch self {
            case .notAWebP: "not a WebP file"
            case .invalid: "invalid or truncated WebP"
            case .tooLarge(let w, let h, let limit): "WebP of \(w)x\(h) exceeds the limit of \(limit) pixels"
            }
        }
    }

    /// "RIFF" size "WEBP".
    public static func hasSignature(_ data: [UInt8]) -> Bool {
        data.count >= 12 && data[0..<4].elementsEqual("RIFF".utf8) && data[8..<12].elementsEqual("WEBP".utf8)
    }

    /// Encodes `image`; `exif` (a TIFF block, see `EXIF`) goes into an `EXIF` chunk.
    /// - Throws: `EncodeError` when libwebp fails.
    public static func encode(_ image: RGBImage, compression: Compression, exif: [UInt8]? = nil) throws -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        let size = image.pixels.withUnsafeBufferPointer { pixels -> Int in
            let w = Int32(image.width), h = Int32(image.height), stride = Int32(image.width * 3)
            switch compression {
            case .lossless: return WebPEncodeLosslessRGB(pixels.baseAddress, w, h, stride, &output)
            case .lossy(let quality): return WebPEncodeRGB(pixels.baseAddress, w, h, stride, Float(min(max(quality, 0), 100)), &output)
            }
        }
        defer { WebPFree(output) }
        guard size > 0, let output else { throw EncodeError.encodingFailed(width: image.width, height: image.height) }
        guard let exif else { return Array(UnsafeBufferPointer(start: output, count: size)) }
        return try addingChunk("EXIF", exif, to: UnsafeBufferPointer(start: output, count: size))
    }

    /// The bitstream re-assembled with one metadata chunk.
    private static func addingChunk(_ fourCC: String, _ payload: [UInt8], to bitstream: UnsafeBufferPointer<UInt8>) throws -> [UInt8] {
        guard let mux = WebPMuxNew() else { throw EncodeError.metadataFailed }
        defer { WebPMuxDelete(mux) }
        var image = WebPData(bytes: bitstream.baseAddress, size: bitstream.count)
        var assembled = WebPData()
        defer { WebPDataClear(&assembled) }
        let ok = payload.withUnsafeBufferPointer { chunk -> Bool in
            var data = WebPData(bytes: chunk.baseAddress, size: chunk.count)
            // copy_data 1: the mux owns copies, so nothing it keeps points into Swift arrays.
            return WebPMuxSetImage(mux, &image, 1) == WEBP_MUX_OK
                && WebPMuxSetChunk(mux, fourCC, &data, 1) == WEBP_MUX_OK
                && WebPMuxAssemble(mux, &assembled) == WEBP_MUX_OK
        }
        guard ok, let bytes = assembled.bytes else { throw EncodeError.metadataFailed }
        return Array(UnsafeBufferPointer(start: bytes, count: assembled.size))
    }

    /// The payload of the file's `EXIF` chunk, or nil (no chunk, or not a WebP).
    public static func exifChunk(_ data: [UInt8]) -> [UInt8]? {
        guard hasSignature(data) else { return nil }
        return data.withUnsafeBufferPointer { buffer -> [UInt8]? in
            var bitstream = WebPData(bytes: buffer.baseAddress, size: buffer.count)
            guard let mux = WebPMuxCreate(&bitstream, 0) else { return nil }
            defer { WebPMuxDelete(mux) }
            var chunk = WebPData()
            guard WebPMuxGetChunk(mux, "EXIF", &chunk) == WEBP_MUX_OK, let bytes = chunk.bytes else { return nil }
            return Array(UnsafeBufferPointer(start: bytes, count: chunk.size))
        }
    }

    /// Decodes a WebP (lossy or lossless; alpha dropped) to 8-bit RGB. Pictures above `maxPixels`
    /// are rejected from the header, before their pixels are allocated.
    public static func decode(_ data: [UInt8], maxPixels: Int = 64 << 20) throws -> RGBImage {
        guard hasSignature(data) else { throw DecodeError.notAWebP }
        var width: Int32 = 0, height: Int32 = 0
        guard data.withUnsafeBufferPointer({ WebPGetInfo($0.baseAddress, $0.count, &width, &height) }) != 0, width > 0, height > 0 else {
            throw DecodeError.invalid
        }
        guard Int(width) * Int(height) <= maxPixels else {
            throw DecodeError.tooLarge(width: Int(width), height: Int(height), limit: maxPixels)
        }
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let decoded = data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                WebPDecodeRGBInto(src.baseAddress, src.count, dst.baseAddress, dst.count, width * 3)
            }
        }
        guard decoded != nil else { throw DecodeError.invalid }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }
}
