import Foundation

/// The `cpu` generator: `torch.randn` on a CPU, as diffusers and k-diffusion draw it there.
///
/// Matches torch 2.x `normal_kernel` (aten/src/ATen/native/cpu/DistributionTemplates.h) on an
/// x86-64 CPU with AVX2 (every torch x86 wheel dispatches there), bit for bit:
/// - n >= 16: n float uniforms `(u32 & 0xFFFFFF) * 2^-24`, then Box-Muller on blocks of 16
///   (`normal_fill_16_AVX2`, whose `log256_ps`/`sincos256_ps` are transcribed in
///   `TorchCPUGenerator+AVXMath.swift`); when n % 16 != 0, 16 fresh uniforms redo the last 16.
/// - n < 16: one double Box-Muller pair per two elements from 53-bit uniforms, the second
///   value cached in the generator and used by the next element, even in a later call.
/// stable-diffusion.cpp's `MT19937RNG` follows the same rules with libm `logf`/`cosf`/`sinf`
/// for n >= 16, so it differs from torch (and from this type) by about 1 ulp there.
///
/// Seeding is `torch.manual_seed`: MT19937 `init_genrand` with the low 32 bits of the seed
/// (torch's `mt19937(uint64_t)` keeps only those), and no cached normal.
public struct TorchCPUGenerator: RandomSource, Sendable {
    private var engine: MersenneTwister
    /// torch's `next_double_normal_sample_`: the sine half of the last double Box-Muller pair.
    private var cachedNormal: Double?

    /// The state after `torch.manual_seed(seed)`.
    public init(seed: UInt64) {
        engine = MersenneTwister(seed: UInt32(truncatingIfNeeded: seed))
    }

    /// One torch CPU `randn(shape)` call.
    public mutating func normal(shape: [Int]) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        let n = result.count
        result.withUnsafeMutableBufferPointer { out in
            guard let data = out.baseAddress else { return }
            if n >= 16 {
                for i in 0..<n { data[i] = nextFloatUniform() }
                var start = 0
                while start + 16 <= n {
                    Self.boxMuller16(data + start)
                    start += 16
                }
                if n % 16 != 0 {
                    // torch redraws the whole last block rather than finishing a partial one.
                    let tail = data + (n - 16)
                    for j in 0..<16 { tail[j] = nextFloatUniform() }
                    Self.boxMuller16(tail)
                }
            } else {
                for i in 0..<n { data[i] = Float(nextDoubleNormal()) }
            }
        }
        return result
    }

    /// torch's `uniform_real_distribution<float>(0, 1)`: the low 24 bits of one draw.
    @inline(__always)
    private mutating func nextFloatUniform() -> Float {
        Float(engine.next() & 0xFF_FFFF) * 0x1p-24
    }

    /// torch's `uniform_real_distribution<double>(0, 1)`: 53 bits of `random64()`, whose
    /// first draw is the high word.
    private mutating func nextDoubleUniform() -> Double {
        let high = UInt64(engine.next()), low = UInt64(engine.next())
        return Double(((high << 32) | low) & ((1 << 53) - 1)) * 0x1p-53
    }

    /// torch's `normal_distribution<double>` with mean 0 and std 1.
    private mutating func nextDoubleNormal() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached * 1 + 0
        }
        let u1 = nextDoubleUniform()
        let u2 = nextDoubleUniform()
        let r = (-2.0 * log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = r * sin(theta)
        // `* std + mean` with std 1, mean 0 is kept: it turns -0 into +0 as torch does.
        return r * cos(theta) * 1 + 0
    }

    /// `normal_fill_16_AVX2`: uniforms a[0..<16] become a[j] = r cos t, a[j + 8] = r sin t with
    /// r = sqrt(-2 log(1 - a[j])), t = 2pi a[j + 8], all in float as the AVX2 kernel computes.
    @inline(__always)
    static func boxMuller16(_ data: UnsafeMutablePointer<Float>) {
        // `_mm256_set1_ps(2.0f * c10::pi<double>)`: the double product rounded once to float.
        let twoPi = Float(2.0 * Double.pi)
        for j in 0..<8 {
            let u1: Float = 1 - data[j]
            let u2 = data[j + 8]
            let radius = (-2 * AVXMath.log(u1)).squareRoot()
            let (sine, cosine) = AVXMath.sinCos(twoPi * u2)
            // `_mm256_fmadd_ps(n, std, mean)` with std 1, mean 0: exact, except -0 becomes +0.
            data[j] = radius * cosine + 0
            data[j + 8] = radius * sine + 0
        }
    }
}
