/// `std::minstd_rand0`: the Lehmer generator x <- 16807 x mod (2^31 - 1), which libstdc++
/// uses as `std::default_random_engine`. Integer-only, so exact on every platform.
public struct MinimalStandardEngine: Sendable {
    static let multiplier: UInt64 = 16807
    /// The modulus 2^31 - 1.
    static let modulus: UInt64 = 2_147_483_647
    /// Smallest and largest outputs (`min()`, `max()`).
    static let minimum: UInt64 = 1
    static let maximum: UInt64 = modulus - 1

    private var state: UInt64

    /// The engine after `seed(s)`: state s mod m, or 1 where that is 0 (libstdc++'s rule for
    /// an increment of 0, since state 0 would repeat forever).
    public init(seed: UInt64) {
        let reduced = seed % Self.modulus
        state = reduced == 0 ? 1 : reduced
    }

    /// The next output, in 1...2^31 - 2.
    public mutating func next() -> UInt64 {
        state = state * Self.multiplier % Self.modulus
        return state
    }
}
