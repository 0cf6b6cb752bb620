import Foundation
import Testing

@testable import Samplers
@testable import Tensor

/// On Gaussian data x0 ~ N(0, s^2) the exact denoiser is D = x s^2/(s^2+sigma^2) and the
/// probability-flow ODE has the closed form x(sigma) = x(sigma_max) sqrt((s^2+sigma^2)/(s^2+sigma_max^2)).
/// Deterministic samplers must approach it at their order as the step count doubles.
@Suite struct SamplerConvergenceTests {
    let s = 0.5
    let sigmaMax: Float = 14.6

    /// Karras sigmas from sigmaMax down to 1e-3, then 0: the final jump to 0 costs O(1e-6) only.
    func sigmas(_ steps: Int) -> [Float] {
        let minInv = pow(1e-3, 1 / 7.0), maxInv = pow(Double(sigmaMax), 1 / 7.0)
        return (0..<steps).map { Float(pow(maxInv + Double($0) / Double(steps - 1) * (minInv - maxInv), 7)) } + [0]
    }

    func error(_ kind: SamplerKind, steps: Int) throws -> Double {
        let x = Tensor(shape: [4], values: [1, -0.5, 0.25, 2].map { $0 * sigmaMax })
        var noise = RecordedNoise(queue: [])
        let out = try kind.makeSampler().sample(x, sigmas: sigmas(steps), denoiser: GaussianDenoiser(s: s), noise: &noise)
        let scale = (s * s / (s * s + Double(sigmaMax) * Double(sigmaMax))).squareRoot()
        return zip(out.scalars, x.scalars).map { abs(Double($0) - Double($1) * scale) }.max() ?? .infinity
    }

    /// (sampler, expected order): error ratio when doubling steps from 16 to 32 to 64.
    @Test(arguments: [
        (SamplerKind.euler, 1.0), (.heun, 2.0), (.dpm2, 2.0), (.dpmpp2M, 2.0), (.dpmpp2MV2, 2.0), (.ipndm, 2.0),
        (.ipndmV, 2.0),
    ] as [(SamplerKind, Double)])
    func deterministicSamplerConvergesAtItsOrder(kind: SamplerKind, order: Double) throws {
        let e16 = try error(kind, steps: 16), e32 = try error(kind, steps: 32), e64 = try error(kind, steps: 64)
        let observed = log2(e32 / e64)
        #expect(e64 < e32 && e32 < e16, "\(kind): errors \(e16), \(e32), \(e64)")
        #expect(observed >= order - 0.3, "\(kind): observed order \(observed) (errors \(e16), \(e32), \(e64))")
    }

    /// Given an oracle that always answers x0, every deterministic sampler lands on x0.
    @Test(arguments: [SamplerKind.euler, .heun, .dpm2, .dpmpp2M, .dpmpp2MV2, .ipndm, .ipndmV, .lcm, .ddimTrailing])
    func deterministicSamplerEndsAtOracleTarget(kind: SamplerKind) throws {
        let x0 = Tensor(shape: [2, 3], values: [0.5, -1, 2, 0, 0.25, -0.75])
        let x = Tensor(shape: [2, 3], values: [3, -7, 1, 12, -4, 5])
        var noise = RecordedNoise(queue: [])
        let out = try kind.makeSampler().sample(
            x, sigmas: DiscreteSchedule().sigmas(steps: 12, table: .stableDiffusion), denoiser: OracleDenoiser(x0: x0),
            noise: &noise)
        #expect(maxAbsDifference(out, x0) <= 1e-5, "\(kind): \(out.scalars)")
    }

    /// Ancestral samplers reach the data distribution: over many independent elements, the final
    /// mean and variance match N(0, s^2).
    @Test(arguments: [SamplerKind.eulerAncestral, .dpmpp2SAncestral, .lcm])
    func ancestralSamplerReachesTheDataDistribution(kind: SamplerKind) throws {
        let count = 40_000
        var rng = RNGKind.cpu.makeSource(seed: 7)
        let sigmas = KarrasSchedule().sigmas(steps: 30, table: .stableDiffusion)
        let x = Tensor.weightedSum((sigmas[0], rng.normal(shape: [count])))
        let out = try kind.makeSampler().sample(x, sigmas: sigmas, denoiser: GaussianDenoiser(s: s), noise: &rng).scalars
        let mean = out.reduce(0.0) { $0 + Double($1) } / Double(count)
        let variance = out.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(count)
        // Standard errors at n = 40 000: mean 0.0025, variance 0.0009 (for s^2 = 0.25).
        #expect(abs(mean) < 0.01, "\(kind): mean \(mean)")
        #expect(abs(variance - s * s) < 0.01, "\(kind): variance \(variance)")
    }
}
