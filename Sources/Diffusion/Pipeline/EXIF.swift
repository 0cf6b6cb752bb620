/// The smallest EXIF block that carries a picture's generation parameters the way A1111 writes
/// them into JPEG and WebP files (`modules/images.py`: `piexif.dump` of one `UserComment` in the
/// Exif IFD, `piexif.helper.UserComment.dump(text, encoding="unicode")`), so A1111's PNG Info tab,
/// piexif and exiftool read the text back.
///
/// Layout (TIFF 6.0 / EXIF 2.3, big-endian "MM" as piexif writes):
///
///     0  "MM" 0x002A, offset of IFD0 (8)
///     8  IFD0: 1 entry: 0x8769 ExifIFDPointer, LONG, 1, offset of the Exif IFD (26); next IFD 0
///    26  Exif IFD: 1 entry: 0x9286 UserComment, UNDEFINED, n, offset of the value (44); next 0
///    44  the value: an 8-byte charset code ("UNICODE\0": UTF-16BE, "ASCII\0\0\0") then the text
///
/// A WebP `EXIF` chunk holds these bytes as they are; a JPEG APP1 segment prefixes "Exif\0\0".
/// Checked by hand: Pillow 13 with piexif 1.1.3, A1111's own reading path
/// (`read_info_from_image`), gives back the text of `sd generate`'s JPEG and WebP files.
public enum EXIF {
    static let userCommentTag: UInt16 = 0x9286
    static let exifIFDPointerTag: UInt16 = 0x8769
    static let unicodePrefix: [UInt8] = Array("UNICODE".utf8) + [0]
    /// Bytes before the comment's value.
    static let headerSize = 44

    /// The TIFF block with `text` as its UserComment, in UTF-16BE. With `maxBytes`, the text is
    /// cut (at a character boundary) so the block fits: a JPEG segment holds under 64 KiB.
    public static func userComment(_ text: String, maxBytes: Int = .max) -> [UInt8] {
        var value = unicodePrefix
        let room = (maxBytes - headerSize - value.count) / 2
        var units = 0
        for character in text {
            let utf16 = Array(String(character).utf16)
            guard units + utf16.count <= room else { break }
            for unit in utf16 { value += [UInt8(unit >> 8), UInt8(unit & 0xFF)] }
            units += utf16.count
        }
        var out: [UInt8] = Array("MM".utf8) + [0x00, 0x2A] + bigEndian32(8)
        // IFD0: one entry pointing at the Exif IFD.
        out += bigEndian16(1) + bigEndian16(exifIFDPointerTag) + bigEndian16(4) + bigEndian32(1) + bigEndian32(26) + bigEndian32(0)
        // Exif IFD: the comment, type 7 (UNDEFINED), stored after the IFD.
        out += bigEndian16(1) + bigEndian16(userCommentTag) + bigEndian16(7) + bigEndian32(UInt32(value.count))
        out += bigEndian32(UInt32(headerSize)) + bigEndian32(0)
        return out + value
    }

    /// The UserComment of a TIFF block (either byte order; UNICODE or ASCII charset), or nil when
    /// there is none or the block is malformed. Reads any writer's layout, not only ours.
    public static func userComment(in tiff: [UInt8]) -> String? {
        guard tiff.count >= 8 else { return nil }
        let bigEndian: Bool
        switch (tiff[0], tiff[1]) {
        case (0x4D, 0x4D): bigEndian = true
        case (0x49, 0x49): bigEndian = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return bigEndian ? Int(tiff[at]) << 8 | Int(tiff[at + 1]) : Int(tiff[at + 1]) << 8 | Int(tiff[at])
        }
        func u32(_ at: Int) -> Int? {
            guard let high = u16(bigEndian ? at : at + 2), let low = u16(bigEndian ? at + 2 : at) else { return nil }
            return high << 16 | low
        }
        /// (type, count, value-or-offset position) of `tag` in the IFD at `offset`.
        func entry(_ tag: UInt16, inIFDAt offset: Int) -> (type: Int, count: Int, field: Int)? {
            guard let count = u16(offset) else { return nil }
            for i in 0..<count {
                let at = offset + 2 + i * 12
                guard let found = u16(at), let type = u16(at + 2), let n = u32(at + 4) else { return nil }
                if found == Int(tag) { return (type, n, at + 8) }
            }
            return nil
        }
        guard u16(2) == 0x2A, let ifd0 = u32(4),
            let pointer = entry(exifIFDPointerTag, inIFDAt: ifd0), let exifIFD = u32(pointer.field),
            let comment = entry(userCommentTag, inIFDAt: exifIFD), comment.count >= 8
        else { return nil }
        // Values of over 4 bytes (a comment has at least its 8-byte code) live at the offset the
        // entry holds.
        guard let start = u32(comment.field), start + comment.count <= tiff.count else { return nil }
        let value = tiff[start..<start + comment.count]
        let code = Array(value.prefix(8)), text = Array(value.dropFirst(8))
        if code == unicodePrefix {
            var units: [UInt16] = []
            units.reserveCapacity(text.count / 2)
            for i in stride(from: 0, to: text.count - 1, by: 2) {
                let first = UInt16(text[i]), second = UInt16(text[i + 1])
                units.append(bigEndian ? first << 8 | second : second << 8 | first)
            }
            return String(decoding: units, as: UTF16.self)
        }
        return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func bigEndian16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    private static func bigEndian32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
}
