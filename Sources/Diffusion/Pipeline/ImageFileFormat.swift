/// The file formats a generated picture is written in, with OpenAI's `output_compression`
/// (0-100) mapped onto each: the one place the CLI and the server share, so `-o x.webp` and
/// `"output_format": "webp"` give the same bytes.
///
/// - PNG: lossless; the compression is ignored; parameters in a `tEXt` chunk named `parameters`.
/// - JPEG: quality = compression (0 counts as 1), 90 when none is given; parameters in EXIF.
/// - WebP: 100 (also the default, as OpenAI's) is lossless VP8L; 0-99 is lossy VP8 at that
///   quality. Even quality 100 VP8 halves the chroma resolution, so "no compression" can only
///   honestly mean lossless. Parameters in an `EXIF` chunk.
///
/// EXIF parameters are A1111's: the UserComment, UTF-16 (see `EXIF`).
public enum ImageFileFormat: String, Sendable, CaseIterable {
    case png, jpeg, webp

    /// From a file name's extension (any case): png, jpg/jpeg, webp; nil for anything else.
    public init?(pathExtension: String) {
        switch pathExtension.lowercased() {
        case "png": self = .png
        case "jpg", "jpeg": self = .jpeg
        case "webp": self = .webp
        default: return nil
        }
    }

    /// The extension of the files the server stores.
    public var fileExtension: String {
        switch self {
        case .png: "png"
        case .jpeg: "jpg"
        case .webp: "webp"
        }
    }

    public var mediaType: String { "image/" + rawValue }

    /// JPEG's quality for a compression value.
    public static func jpegQuality(compression: Int?) -> Int { max(1, min(compression ?? 90, 100)) }

    /// WebP's mode for a compression value.
    public static func webpCompression(_ compression: Int?) -> WebP.Compression {
        let value = compression ?? 100
        return value >= 100 ? .lossless : .lossy(quality: max(0, value))
    }

    /// `image` in this format, with `parameters` (A1111's text) embedded when given.
    /// - Throws: `WebP.EncodeError` (sides over 16383).
    public func encode(_ image: RGBImage, parameters: String?, compression: Int?) throws -> [UInt8] {
        switch self {
        case .png:
            return PNG.encode(image, text: parameters.map { [("parameters", $0)] } ?? [])
        case .jpeg:
            // The text is cut to what one APP1 segment holds (about 32 000 characters).
            let exif = parameters.map { EXIF.userComment($0, maxBytes: JPEG.maxAPP1Payload - 6) }
            return JPEG.encode(image, quality: Self.jpegQuality(compression: compression), exif: exif)
        case .webp:
            return try WebP.encode(image, compression: Self.webpCompression(compression), exif: parameters.map { EXIF.userComment($0) })
        }
    }
}
