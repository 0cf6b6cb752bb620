/// MT19937, the 32-bit Mersenne Twister (Matsumoto and Nishimura 1998), seeded with `init_genrand`.
///
/// Matches torch's `at::mt19937` (ATen/core/MT19937RNGEngine.h) and C++ `std::mt19937`.
/// Integer-only, so its output is exact on every platform.
public struct MersenneTwister: Sendable {
    static let stateCount = 624
    static let shift = 397
    static let matrixA: UInt32 = 0x9908_B0DF

    private var state: [UInt32]
    private var index: Int

    /// The generator after `init_genrand(seed)`.
    public init(seed: UInt32) {
        var state = [UInt32](repeating: 0, count: Self.stateCount)
        state[0] = seed
        for j in 1..<Self.stateCount {
            let previous = state[j - 1]
            state[j] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(j)
        }
        self.state = state
        // Twist before the first output, as the reference does.
        self.index = Self.stateCount
    }

    /// The next 32-bit output.
    public mutating func next() -> UInt32 {
        if index == Self.stateCount { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func twist() {
        let n = Self.stateCount, m = Self.shift
        state.withUnsafeMutableBufferPointer { s in
            for k in 0..<n {
                let y = (s[k] & 0x8000_0000) | (s[(k + 1) % n] & 0x7FFF_FFFF)
                s[k] = s[(k + m) % n] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : Self.matrixA)
            }
        }
        index = 0
    }
}
