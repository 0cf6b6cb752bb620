/// The chunk layout of an uploaded PNG, checked before libpng sees it: the data of every chunk
/// up to IEND must lie within the bytes uploaded.
///
/// libpng (1.6.39) allocates and zero-fills a buffer of a chunk's declared length before
/// reading it, so a 126-byte upload declaring a 2 GB tEXt chunk cost 2 GB of resident memory
/// and a second of page faults before failing with "read beyond end of data". Such a file can
/// never decode, so refusing it here changes no answer but the cost of it (a test checks that
/// every cut of a valid file is accepted or refused exactly as libpng alone does).
enum PNGChunkLayout {
    /// The eight bytes every PNG starts with.
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// - Throws: `ServerError.invalidField` naming `field` for a chunk that runs past the end.
    static func check(_ bytes: [UInt8], field: String) throws {
        var offset = 8  // after the signature
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            // The data must be there (libpng tolerates a missing final CRC, so this does too).
            guard length <= bytes.count - offset - 8 else {
                throw ServerError.invalidField(
                    field: field,
                    message: "'\(field)' is a truncated or corrupt PNG: chunk '\(type.prefix(4))' at byte \(offset) declares \(length) bytes, \(bytes.count - offset - 8) remain")
            }
            if type == "IEND" { return }
            offset += 12 + length
        }
    }
}
