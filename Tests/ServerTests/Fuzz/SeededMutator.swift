/// Deterministic mutations of byte strings (a seeded SplitMix64), in the spirit of libFuzzer's
/// default mutators without its coverage feedback: bit flips, "interesting" bytes and integers
/// (0, -1, 2^31, 2^63, ...) overwritten at random offsets, insertions, deletions, duplicated or
/// spliced chunks, truncation. The same seed gives the same inputs, so any failure replays.
struct SeededMutator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound (bound > 0).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    private static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x0A, 0x22, 0x5C, 0x2C, 0x5B, 0x7B, 0x3A, 0x2D]
    private static let interestingWords: [UInt64] = [
        0, 1, 0xFF, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32, 0x7FFF_FFFF_FFFF_FFFF,
        0x8000_0000_0000_0000, UInt64.max, UInt64.max - 3, 100 << 20,
    ]

    /// One to four mutations of `input`; `other` is spliced from.
    mutating func mutate(_ input: [UInt8], splicing other: [UInt8], maxLength: Int) -> [UInt8] {
        var bytes = input
        for _ in 0...below(4) { mutateOnce(&bytes, other: other) }
        if bytes.count > maxLength { bytes.removeLast(bytes.count - maxLength) }
        return bytes
    }

    private mutating func mutateOnce(_ bytes: inout [UInt8], other: [UInt8]) {
        let at = bytes.isEmpty ? 0 : below(bytes.count)
        switch below(9) {
        case 0 where !bytes.isEmpty:
            bytes[at] ^= 1 << UInt8(below(8))
        case 1 where !bytes.isEmpty:
            bytes[at] = Self.interestingBytes[below(Self.interestingBytes.count)]
        case 2 where !bytes.isEmpty:
            bytes[at] = UInt8(truncatingIfNeeded: next())
        case 3:
            let word = Self.interestingWords[below(Self.interestingWords.count)]
            let width = [1, 2, 4, 8][below(4)]
            let raw = withUnsafeBytes(of: below(2) == 0 ? word.littleEndian : word.bigEndian) { Array($0.prefix(width)) }
            for (i, b) in raw.enumerated() where at + i < bytes.count { bytes[at + i] = b }
        case 4:
            let count = 1 + below(16)
            bytes.insert(contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }, at: at)
        case 5 where !bytes.isEmpty:
            bytes.removeSubrange(at..<min(bytes.count, at + 1 + below(32)))
        case 6 where !bytes.isEmpty:
            let end = min(bytes.count, at + 1 + below(64))
            bytes.insert(contentsOf: bytes[at..<end], at: below(bytes.count))
        case 7 where !other.isEmpty:
            let from = below(other.count)
            let chunk = other[from..<min(other.count, from + 1 + below(64))]
            bytes.insert(contentsOf: chunk, at: at)
        case 8 where !bytes.isEmpty:
            bytes.removeLast(below(bytes.count))
        default:
            bytes.append(UInt8(truncatingIfNeeded: next()))
        }
    }
}
