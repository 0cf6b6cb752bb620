import Foundation

/// The `std_default` generator: stable-diffusion.cpp's `STDDefaultRNG` as built with g++ and
/// libstdc++ (Linux), bit for bit.
///
/// stable-diffusion.cpp seeds `std::default_random_engine` (libstdc++: `minstd_rand0`) with
/// `(unsigned int)seed`, and each `randn(n)` builds a fresh `std::normal_distribution<float>`,
/// so the polar method's cached second value is dropped at the end of every call. libstdc++'s
/// distribution is Marsaglia's polar method over `generate_canonical<float, 24>` uniforms
/// (bits/random.tcc). Other standard libraries (MSVC, libc++) give other numbers.
///
/// Seeds that agree modulo 2^32 give the same stream, and so do seeds whose low 32 bits agree
/// modulo 2^31 - 1 (0, 1 and 4294967295 all start from state 1).
public struct StdDefaultGenerator: RandomSource, Sendable {
    private var engine: MinimalStandardEngine

    /// The engine after `generator.seed((unsigned int)seed)`.
    public init(seed: UInt64) {
        engine = MinimalStandardEngine(seed: seed & 0xFFFF_FFFF)
    }

    /// One `STDDefaultRNG::randn(n)` call.
    public mutating func normal(shape: [Int]) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        result.withUnsafeMutableBufferPointer { out in
            var saved: Float?  // the distribution's cache, local to the call as in sd.cpp
            for i in 0..<out.count {
                if let value = saved {
                    saved = nil
                    out[i] = value * 1 + 0
                    continue
                }
                let (first, second) = nextPolarPair()
                saved = second
                out[i] = first * 1 + 0  // `ret * stddev + mean`, kept for its -0 -> +0
            }
        }
        return result
    }

    /// `generate_canonical<float, 24>` for minstd_rand0: one draw suffices (log2 of the range
    /// is 30), and `(x - min) / range` is evaluated in float, where the range 2^31 - 2 rounds
    /// to 2^31. A result that rounds up to 1 is replaced by the float just below 1.
    @inline(__always)
    private mutating func nextCanonical() -> Float {
        let draw = Float(engine.next() - MinimalStandardEngine.minimum)
        let range = Float(MinimalStandardEngine.maximum - MinimalStandardEngine.minimum + 1)
        let value = draw / range
        return value >= 1 ? Float(1).nextDown : value
    }

    /// One round of libstdc++'s polar method: returns (y * mult, x * mult), the value returned
    /// first and the one it caches.
    private mutating func nextPolarPair() -> (Float, Float) {
        var x: Float, y: Float, r2: Float
        repeat {
            // `result_type(2.0) * u - 1.0` is evaluated in double; it is exact there and
            // then rounded once to float.
            x = Float(Double(2 * nextCanonical()) - 1.0)
            y = Float(Double(2 * nextCanonical()) - 1.0)
            r2 = x * x + y * y
        } while r2 > 1 || r2 == 0
        // std::log and std::sqrt on float: logf and sqrtf.
        let mult = (-2 * Foundation.log(r2) / r2).squareRoot()
        return (y * mult, x * mult)
    }
}
