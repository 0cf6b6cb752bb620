import CPNG
import Foundation

/// PNG encoding (our own writer over zlib, so generation parameters can go in a tEXt chunk) and
/// decoding (libpng's simplified API, which reports errors by return value instead of longjmp).
public enum PNG {
    /// What can go wrong reading a picture.
    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case notAPNG
        case invalid(String)
        case tooLarge(width: Int, height: Int, limit: Int)

        public var description: String {
            switch self {
            case .notAPNG: "not a PNG file"
            case .invalid(let reason): "invalid PNG: \(reason)"
            case .tooLarge(let w, let h, let limit): "PNG of \(w)x\(h) exceeds the limit of \(limit) pixels"
            }
        }
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `image` as an 8-bit RGB PNG; `text` entries become tEXt chunks (keys of 1 to 79
    /// Latin-1 characters; A1111 and ComfyUI read generation settings from the key "parameters").
    public static func encode(_ image: RGBImage, text: [(key: String, value: String)] = []) -> [UInt8] {
        var out = signature
        var header: [UInt8] = []
        header += bigEndian(UInt32(image.width)) + bigEndian(UInt32(image.height))
        header += [8, 2, 0, 0, 0]  // 8 bits, colour type 2 (RGB), deflate, adaptive filters, no interlace
        appendChunk("IHDR", header, to: &out)
        for (key, value) in text {
            let k = Array(key.unicodeScalars.filter { $0.value >= 32 && $0.value < 256 }.prefix(79).map { UInt8($0.value) })
            // tEXt is Latin-1: characters outside it are replaced rather than mis-encoded.
            let v = value.unicodeScalars.map { $0.value < 256 ? UInt8($0.value) : UInt8(ascii: "?") }
            if !k.isEmpty { appendChunk("tEXt", k + [0] + v, to: &out) }
        }
        // Filter type 1 (Sub) on every row: a cheap predictor that compresses generated pictures
        // about as well as adaptive filtering.
        let stride = image.width * 3
        var raw = [UInt8](repeating: 0, count: (stride + 1) * image.height)
        for y in 0..<image.height {
            raw[y * (stride + 1)] = 1
            for i in 0..<stride {
                let left = i >= 3 ? image.pixels[y * stride + i - 3] : 0
                raw[y * (stride + 1) + 1 + i] = image.pixels[y * stride + i] &- left
            }
        }
        var compressedLength = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedLength))
        let status = compressed.withUnsafeMutableBufferPointer { dst in
            raw.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &compressedLength, src.baseAddress, uLong(src.count), 6)
            }
        }
        precondition(status == Z_OK, "PNG: zlib compress2 failed with \(status)")
        appendChunk("IDAT", Array(compressed.prefix(Int(compressedLength))), to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    /// Decodes any PNG (grey, palette, RGB, alpha, 16-bit) to 8-bit RGB; alpha is composited on
    /// white in sRGB byte values, as PIL and the web UIs do (libpng's own compositing works in
    /// linear light and would give other colours). Pictures above `maxPixels` are rejected before
    /// their pixels are allocated.
    public static func decode(_ data: [UInt8], maxPixels: Int = 64 << 20) throws -> RGBImage {
        guard data.count > 8, Array(data.prefix(8)) == signature else { throw DecodeError.notAPNG }
        try checkChunkLayout(data)
        return try decodeWithLibpng(data, maxPixels: maxPixels)
    }

    /// Every chunk's data up to IEND must lie within `data`. libpng (1.6.39) allocates and
    /// zero-fills a buffer of a chunk's declared length before reading it, so 126 bytes declaring
    /// a 2 GB tEXt chunk cost 2 GB of resident memory before failing with "read beyond end of
    /// data". Such a file can never decode, so refusing it first changes no answer but its cost
    /// (a test checks every cut of a valid file against libpng alone).
    static func checkChunkLayout(_ data: [UInt8]) throws {
        var offset = 8  // after the signature
        while offset + 8 <= data.count {
            let length = data[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: data[offset + 4..<offset + 8], as: UTF8.self)
            // The data must be there (libpng tolerates a missing final CRC, so this does too).
            guard length <= data.count - offset - 8 else {
                throw DecodeError.invalid(
                    "truncated or corrupt: chunk '\(type.prefix(4))' at byte \(offset) declares \(length) bytes, \(data.count - offset - 8) remain")
            }
            if type == "IEND" { return }
            offset += 12 + length
        }
    }

    /// `decode` without the chunk-layout check.
    static func decodeWithLibpng(_ data: [UInt8], maxPixels: Int) throws -> RGBImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        let begun = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw DecodeError.invalid(message(image)) }
        defer { png_image_free(&image) }
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0, width.multipliedReportingOverflow(by: height).partialValue <= maxPixels,
            width <= maxPixels, height <= maxPixels
        else {
            throw DecodeError.tooLarge(width: width, height: height, limit: maxPixels)
        }
        image.format = png_uint_32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let finished = rgba.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        guard finished != 0 else { throw DecodeError.invalid(message(image)) }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            let alpha = Int(rgba[i * 4 + 3])
            for c in 0..<3 {
                // c * a + 255 * (1 - a), rounded, in integers.
                pixels[i * 3 + c] = UInt8((Int(rgba[i * 4 + c]) * alpha + 255 * (255 - alpha) + 127) / 255)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The tEXt chunks of a PNG (for tests and for reading back generation parameters).
    public static func textChunks(_ data: [UInt8]) -> [String: String] {
        var result: [String: String] = [:]
        var offset = 8
        while offset + 12 <= data.count {
            let length = Int(data[offset]) << 24 | Int(data[offset + 1]) << 16 | Int(data[offset + 2]) << 8 | Int(data[offset + 3])
            let type = String(decoding: data[(offset + 4)..<(offset + 8)], as: UTF8.self)
            guard length >= 0, offset + 12 + length <= data.count else { break }
            if type == "tEXt" {
                let body = data[(offset + 8)..<(offset + 8 + length)]
                if let zero = body.firstIndex(of: 0) {
                    let key = String(decoding: body[body.startIndex..<zero], as: UTF8.self)
                    result[key] = String(body[(zero + 1)...].map { Character(Unicode.Scalar($0)) })
                }
            }
            offset += 12 + length
        }
        return result
    }

    private static func message(_ image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)] }

    private static func appendChunk(_ type: String, _ body: [UInt8], to out: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        out += bigEndian(UInt32(body.count)) + typeBytes + body
        var crc = crc32(0, nil, 0)
        crc = typeBytes.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        crc = body.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        out += bigEndian(UInt32(crc))
    }
}
