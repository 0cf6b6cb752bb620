import Foundation

/// SentencePiece's precompiled normalization rules (`precompiled_charsmap`), as Hugging Face
/// tokenizers' `Precompiled` normalizer applies them.
///
/// Format (sentencepiece `normalizer.cc`, `Normalizer::DecodePrecompiledCharsMap`): a little-endian
/// u32 byte size of the trie, the trie as that many bytes of little-endian u32 units (a darts-clone
/// double array over UTF-8 bytes), then a pool of NUL-terminated replacement strings; a key's value
/// is the byte offset of its replacement in the pool.
///
/// Application follows tokenizers 0.23 `normalizers/precompiled.rs` + the `spm_precompiled` crate,
/// which is not sentencepiece's own longest-match loop: the text is walked by extended grapheme
/// cluster; a cluster shorter than 6 UTF-8 bytes whose bytes start with a key is replaced whole by
/// the replacement of the *shortest* such key (results[0] of the common-prefix search), otherwise
/// each scalar of the cluster is looked up alone the same way. (tokenizers' comment: "Yes, this
/// seems broken" — but it is what the reference does, so it is what we do.) Swift's `Character`
/// is an extended grapheme cluster (UAX #29), as `unicode-segmentation`'s `graphemes(true)`.
struct PrecompiledCharsMap: Sendable {
    private let units: [UInt32]
    private let pool: [UInt8]

    /// - Throws: `TokenizerError.malformed` for a blob whose trie size does not fit.
    init(_ blob: [UInt8], file: String) throws {
        guard blob.count >= 4 else { throw TokenizerError.malformed(file: file, reason: "precompiled_charsmap is shorter than 4 bytes") }
        let trieBytes = Int(blob[0]) | Int(blob[1]) << 8 | Int(blob[2]) << 16 | Int(blob[3]) << 24
        guard trieBytes % 4 == 0, trieBytes >= 4, 4 + trieBytes <= blob.count else {
            throw TokenizerError.malformed(
                file: file, reason: "precompiled_charsmap trie of \(trieBytes) bytes in a blob of \(blob.count)")
        }
        units = (0..<trieBytes / 4).map { i in
            let b = 4 + 4 * i
            return UInt32(blob[b]) | UInt32(blob[b + 1]) << 8 | UInt32(blob[b + 2]) << 16 | UInt32(blob[b + 3]) << 24
        }
        pool = Array(blob[(4 + trieBytes)...])
    }

    // darts-clone unit layout: bits 0-7 label, bit 8 has-leaf, bit 9 offset extension, bits 10-30
    // offset; a leaf unit (bit 31 set) holds the value in bits 0-30.
    @inline(__always) private static func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
    @inline(__always) private static func label(_ unit: UInt32) -> UInt32 { unit & ((1 << 31) | 0xFF) }
    @inline(__always) private static func hasLeaf(_ unit: UInt32) -> Bool { (unit >> 8) & 1 == 1 }
    @inline(__always) private static func value(_ unit: UInt32) -> Int { Int(unit & ((1 << 31) - 1)) }

    /// The value of the shortest key that is a prefix of `key` (darts-clone `commonPrefixSearch`,
    /// first result), stopping at a NUL byte as the reference does.
    func shortestPrefixValue<C: Collection>(_ key: C) -> Int? where C.Element == UInt8 {
        var position = 0
        guard !units.isEmpty else { return nil }
        position ^= Self.offset(units[0])
        for byte in key {
            if byte == 0 { return nil }
            position ^= Int(byte)
            guard position < units.count else { return nil }
            let unit = units[position]
            if Self.label(unit) != UInt32(byte) { return nil }
            position ^= Self.offset(unit)
            if Self.hasLeaf(unit) {
                guard position < units.count else { return nil }
                return Self.value(units[position])
            }
        }
        return nil
    }

    /// The replacement for a chunk, nil when no key is a prefix of its bytes.
    func transform<C: Collection>(_ chunk: C) -> String? where C.Element == UInt8 {
        guard let start = shortestPrefixValue(chunk), start <= pool.count else { return nil }
        let end = pool[start...].firstIndex(of: 0) ?? pool.count
        return String(decoding: pool[start..<end], as: UTF8.self)
    }

    /// Applies the rules to `text` (see the type's comment for the grapheme rule).
    func normalize(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for cluster in text {
            let bytes = cluster.utf8
            if bytes.count < 6, let replacement = transform(bytes) {
                out += replacement
                continue
            }
            for scalar in cluster.unicodeScalars {
                if let replacement = transform(String(scalar).utf8) { out += replacement } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
