import Foundation

/// The `cuda` generator: Philox 4x32-10 counters turned into normals by one Box-Muller branch.
///
/// Matches stable-diffusion.cpp `PhiloxRNG` (`rng_philox.hpp`, a port of A1111's
/// `rng_philox.py`) bit for bit on Linux x86-64, and through it `torch.randn(device="cuda")`
/// to within float rounding of `log` and `sin` (max abs 2.1e-6 measured against torch on an H100).
///
/// Seeding: key = (low 32 bits, high 32 bits) of the full 64-bit seed, offset = 0.
/// Each `normal(shape:)` call uses counter (offset, 0, i, 0) for element i and then advances
/// the offset by one, as torch advances its Philox offset once per `randn` call.
public struct PhiloxGenerator: RandomSource, Sendable {
    /// The 64-bit seed; both halves are Philox key words.
    public let seed: UInt64
    /// Number of `normal(shape:)` calls made so far (Philox counter word 0).
    public private(set) var offset: UInt32 = 0

    static let multiplier0: UInt32 = 0xD251_1F53
    static let multiplier1: UInt32 = 0xCD9E_8D57
    static let keyBump0: UInt32 = 0x9E37_79B9
    static let keyBump1: UInt32 = 0xBB67_AE85
    static let roundCount = 10

    // Written as stable-diffusion.cpp writes them: float literals, and 2pi/2^32 as a float
    // product, so that u and v round exactly as there. (2.3283064e-10f is exactly 2^-32.)
    static let twoPow32Inverse: Float = 2.3283064e-10
    static let twoPow32Inverse2Pi: Float = twoPow32Inverse * 6.2831855

    /// A generator at offset 0.
    public init(seed: UInt64) {
        self.seed = seed
    }

    /// One torch CUDA `randn(shape)` call.
    public mutating func normal(shape: [Int]) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        precondition(result.count <= Int(UInt32.max), "PhiloxGenerator: \(shape) exceeds 2^32 elements")
        // The key schedule is the same for every element of a call: compute it once.
        var keys = [(UInt32, UInt32)]()
        keys.reserveCapacity(Self.roundCount)
        var key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        for _ in 0..<Self.roundCount {
            keys.append(key)
            key = (key.0 &+ Self.keyBump0, key.1 &+ Self.keyBump1)
        }
        let offset = self.offset
        result.withUnsafeMutableBufferPointer { out in
            keys.withUnsafeBufferPointer { keys in
                for i in 0..<out.count {
                    let (g0, g1) = Self.philox(counter: (offset, 0, UInt32(i), 0), keys: keys)
                    out[i] = Self.boxMuller(g0, g1)
                }
            }
        }
        self.offset &+= 1
        return result
    }

    /// Philox 4x32 with the given round keys; returns output words 0 and 1 (the ones used).
    @inline(__always)
    static func philox(counter: (UInt32, UInt32, UInt32, UInt32), keys: UnsafeBufferPointer<(UInt32, UInt32)>)
        -> (UInt32, UInt32)
    {
        var (c0, c1, c2, c3) = counter
        for (k0, k1) in keys {
            let p = UInt64(c0) &* UInt64(multiplier0)
            let q = UInt64(c2) &* UInt64(multiplier1)
            (c0, c1, c2, c3) = (
                UInt32(truncatingIfNeeded: q >> 32) ^ c1 ^ k0, UInt32(truncatingIfNeeded: q),
                UInt32(truncatingIfNeeded: p >> 32) ^ c3 ^ k1, UInt32(truncatingIfNeeded: p)
            )
        }
        return (c0, c1)
    }

    /// stable-diffusion.cpp's `box_muller`: u and v in float (the words are first rounded to
    /// float, as its `(float)` casts do); `log`, `sqrt` and `sin` in double, because its
    /// unqualified calls on floats resolve to the C double functions (checked with g++ 12 and
    /// the same standard headers), with the float stores in between.
    @inline(__always)
    static func boxMuller(_ g0: UInt32, _ g1: UInt32) -> Float {
        let u = Float(g0) * twoPow32Inverse + twoPow32Inverse / 2
        let v = Float(g1) * twoPow32Inverse2Pi + twoPow32Inverse2Pi / 2
        let s = Float((-2.0 * log(Double(u))).squareRoot())
        return Float(Double(s) * sin(Double(v)))
    }
}
