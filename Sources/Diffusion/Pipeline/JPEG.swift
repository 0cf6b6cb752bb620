import CTurboJPEG

/// JPEG encoding and decoding through libjpeg-turbo's TurboJPEG API, which reports errors by
/// return value (the classic libjpeg API longjmps, which Swift cannot survive).
public enum JPEG {
    /// What can go wrong reading a picture.
    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case notAJPEG
        case invalid(String)
        case tooLarge(width: Int, height: Int, limit: Int)

        public var description: String {
            switch self {
            case .notAJPEG: "not a JPEG file"
            case .invalid(let reason): "invalid JPEG: \(reason)"
            case .tooLarge(let w, let h, let limit): "JPEG of \(w)x\(h) exceeds the limit of \(limit) pixels"
            }
        }
    }

    /// Encodes `image` as a baseline JPEG, 4:2:0, at `quality` 1-100 (clamped). `exif` (a TIFF
    /// block, see `EXIF`, under 64 KiB) goes into an APP1 segment.
    public static func encode(_ image: RGBImage, quality: Int = 90, exif: [UInt8]? = nil) -> [UInt8] {
        guard let handle = tjInitCompress() else { preconditionFailure("JPEG: tjInitCompress failed") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(
                handle, pixels.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue), &buffer,
                &size, Int32(TJSAMP_420.rawValue), Int32(min(max(quality, 1), 100)), 0)
        }
        defer { tjFree(buffer) }
        // Compression of a valid in-memory RGB buffer cannot fail but for memory exhaustion.
        precondition(status == 0 && buffer != nil, "JPEG: tjCompress2 failed: \(String(cString: tjGetErrorStr2(handle)))")
        let jpeg = Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
        guard let exif else { return jpeg }
        return insertingAPP1(Array("Exif".utf8) + [0, 0] + exif, into: jpeg)
    }

    /// Largest APP1 payload: a segment's 16-bit length counts itself.
    public static let maxAPP1Payload = 0xFFFF - 2

    /// `payload` as an APP1 segment after SOI and the JFIF APP0 that TurboJPEG writes (where
    /// Pillow puts EXIF too; readers look for it among the leading APPn segments).
    static func insertingAPP1(_ payload: [UInt8], into jpeg: [UInt8]) -> [UInt8] {
        precondition(payload.count <= maxAPP1Payload, "JPEG: APP1 payload of \(payload.count) bytes")
        var at = 2
        if jpeg.count > 6, jpeg[2] == 0xFF, jpeg[3] == 0xE0 { at = 4 + (Int(jpeg[4]) << 8 | Int(jpeg[5])) }
        let length = payload.count + 2
        return Array(jpeg[..<at]) + [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + Array(jpeg[at...])
    }

    /// The TIFF block of the first EXIF APP1 segment, or nil. Walks the segments before the
    /// first scan only, bounded by the data.
    public static func exifBlock(_ data: [UInt8]) -> [UInt8]? {
        guard data.count > 3, data[0] == 0xFF, data[1] == 0xD8 else { return nil }
        var at = 2
        while at + 4 <= data.count, data[at] == 0xFF {
            let marker = data[at + 1], length = Int(data[at + 2]) << 8 | Int(data[at + 3])
            guard marker != 0xDA, length >= 2, at + 2 + length <= data.count else { return nil }
            let body = data[(at + 4)..<(at + 2 + length)]
            if marker == 0xE1, body.starts(with: Array("Exif".utf8) + [0, 0]) { return Array(body.dropFirst(6)) }
            at += 2 + length
        }
        return nil
    }

    /// Decodes a JPEG (greyscale, YCbCr or CMYK) to 8-bit RGB. Pictures above `maxPixels` are
    /// rejected from the header, before their pixels are allocated.
    public static func decode(_ data: [UInt8], maxPixels: Int = 64 << 20) throws -> RGBImage {
        guard data.count > 3, data[0] == 0xFF, data[1] == 0xD8 else { throw DecodeError.notAJPEG }
        guard let handle = tjInitDecompress() else { throw DecodeError.invalid("cannot create a decoder") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = data.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else { throw DecodeError.invalid(String(cString: tjGetErrorStr2(handle))) }
        // libjpeg-turbo can report success with a 0x0 frame when the data ends before the
        // frame header (SOF); that is a truncated file, not an oversized one.
        guard width > 0, height > 0 else { throw DecodeError.invalid("truncated or corrupt header (no frame size)") }
        guard Int(width) * Int(height) <= maxPixels else {
            throw DecodeError.tooLarge(width: Int(width), height: Int(height), limit: maxPixels)
        }
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let status = data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress, width, 0, height, Int32(TJPF_RGB.rawValue), 0)
            }
        }
        // A truncated file decodes with a warning (grey bottom rows), as browsers show it; only errors fail.
        if status != 0 && tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue) {
            throw DecodeError.invalid(String(cString: tjGetErrorStr2(handle)))
        }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }
}

/// Decodes an uploaded picture, PNG or JPEG, by its signature.
public enum ImageFile {
    /// - Throws: `PNG.DecodeError` / `JPEG.DecodeError`; `notAnImage` for anything else.
    public static func decode(_ data: [UInt8], maxPixels: Int = 64 << 20) throws -> RGBImage {
        if data.starts(with: PNG.signature) { return try PNG.decode(data, maxPixels: maxPixels) }
        if data.starts(with: [0xFF, 0xD8]) { return try JPEG.decode(data, maxPixels: maxPixels) }
        throw UnsupportedImage()
    }

    /// Neither PNG nor JPEG.
    public struct UnsupportedImage: Error, CustomStringConvertible {
        public var description: String { "not a PNG or JPEG picture" }
    }
}
