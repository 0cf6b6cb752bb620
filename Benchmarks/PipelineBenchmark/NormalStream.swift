import Foundation

/// A seeded stream of standard normal Floats (SplitMix64 + Box-Muller), cheap enough to draw the
/// billion values of a full SD 1.5 checkpoint in seconds. A class so that a tensor's stream keeps
/// its place across the chunks a writer asks for.
///
/// Not any reference generator: the weights only need to be random, reproducible and sane.
final class NormalStream {
    private var state: UInt64
    /// The second value of the last Box-Muller pair.
    private var spare: Float?

    /// A stream seeded with `seed`.
    init(seed: UInt64) { state = seed }

    /// A stream for one tensor: `seed` mixed with the name (FNV-1a), so every tensor differs and
    /// does not depend on the order tensors are written in.
    convenience init(seed: UInt64, name: String) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        self.init(seed: hash ^ seed)
    }

    private func nextBits() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The next N(0, 1) value.
    func next() -> Float {
        if let value = spare {
            spare = nil
            return value
        }
        let bits = nextBits()
        // Two 24-bit uniforms; u1 in (0, 1] so the logarithm is finite.
        let u1 = (Float(bits >> 40) + 1) / 16_777_216
        let u2 = Float((bits >> 8) & 0xff_ffff) / 16_777_216
        let radius = (-2 * logf(u1)).squareRoot()
        let angle = 2 * Float.pi * u2
        spare = radius * sinf(angle)
        return radius * cosf(angle)
    }

    /// Writes `count` values of N(0, std²) to `buffer`.
    func fill(_ buffer: UnsafeMutablePointer<Float>, count: Int, std: Float) {
        for i in 0..<count { buffer[i] = next() * std }
    }
}
