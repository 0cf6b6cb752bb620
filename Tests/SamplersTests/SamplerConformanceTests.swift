import TestSupport
import Testing

@testable import Samplers
@testable import Tensor

/// What every sampler must do, whatever its algorithm.
@Suite struct SamplerConformanceTests {
    struct Stop: Error {}

    @Test(arguments: SamplerKind.allCases)
    func runsAnyStepCountWithoutNaNAndIsDeterministic(kind: SamplerKind) throws {
        for steps in [1, 2, 50] {
            let sigmas = kind.defaultSchedule.makeSchedule().sigmas(steps: steps, table: .stableDiffusion)
            func run() throws -> (Tensor, Int) {
                var rng = RNGKind.cuda.makeSource(seed: 42)
                let x = Tensor.weightedSum((sigmas[0], rng.normal(shape: [1, 4, 5, 3])))
                var reported = 0
                let out = try kind.makeSampler().sample(x, sigmas: sigmas, denoiser: MixtureDenoiser(), noise: &rng) { step in
                    #expect(step.index == reported && step.count == steps)
                    reported += 1
                }
                return (out, reported)
            }
            let (a, reported) = try run()
            let (b, _) = try run()
            #expect(a.shape == [1, 4, 5, 3])
            #expect(reported == steps)
            #expect(a.scalars.allSatisfy { $0.isFinite }, "\(kind) at \(steps) steps")
            #expect(a.scalars == b.scalars, "\(kind) is not deterministic for a fixed seed")
        }
    }

    @Test(arguments: SamplerKind.allCases)
    func throwingFromTheCallbackStopsTheRun(kind: SamplerKind) throws {
        let sigmas = DiscreteSchedule().sigmas(steps: 10, table: .stableDiffusion)
        var rng = RNGKind.cuda.makeSource(seed: 1)
        var calls = 0
        #expect(throws: Stop.self) {
            _ = try kind.makeSampler().sample(
                Tensor(shape: [3], repeating: 1), sigmas: sigmas, denoiser: MixtureDenoiser(), noise: &rng
            ) { step in
                calls += 1
                if step.index == 2 { throw Stop() }
            }
        }
        #expect(calls == 3)
    }

    @Test func namesAndAliasesParse() {
        for kind in SamplerKind.allCases { #expect(SamplerKind(name: kind.rawValue) == kind) }
        #expect(SamplerKind(name: "dpmpp_2m") == .dpmpp2M)
        #expect(SamplerKind(name: "DPM++ 2M") == .dpmpp2M)
        #expect(SamplerKind(name: "k_euler_a") == .eulerAncestral)
        #expect(SamplerKind(name: "Euler a") == .eulerAncestral)
        #expect(SamplerKind(name: "euler_ancestral") == .eulerAncestral)
        #expect(SamplerKind(name: "dpmpp_2s_ancestral") == .dpmpp2SAncestral)
        #expect(SamplerKind(name: "k_dpm_2") == .dpm2)
        #expect(SamplerKind(name: "ipndm_v") == .ipndmV)
        #expect(SamplerKind(name: "plms") == nil)
        #expect(SamplerKind(name: "") == nil)
        #expect(SamplerKind.lcm.defaultSchedule == .lcm && SamplerKind.ddimTrailing.defaultSchedule == .simple)
        #expect(SamplerKind.heun.modelEvaluations(steps: 20) == 39)
    }

    /// A denoiser that counts its calls: the number of model evaluations per method is as documented.
    @Test(arguments: SamplerKind.allCases)
    func modelEvaluationCountIsAsDocumented(kind: SamplerKind) throws {
        final class Counter: Denoiser {
            var calls = 0
            func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
                calls += 1
                return .weightedSum((0.5, x))
            }
        }
        let counter = Counter()
        var rng = RNGKind.cuda.makeSource(seed: 3)
        let sigmas = DiscreteSchedule().sigmas(steps: 9, table: .stableDiffusion)
        _ = try kind.makeSampler().sample(Tensor(shape: [2], repeating: 1), sigmas: sigmas, denoiser: counter, noise: &rng)
        #expect(counter.calls == kind.modelEvaluations(steps: 9))
    }
}
