import TestSupport
import Testing

@testable import Samplers
@testable import Tensor

/// Trajectory parity with the references. Goldens: Tests/Golden/generate_sampler_goldens.py
/// (k-diffusion 0.1.1.post1 for euler, euler_a, heun, dpm2, dpm++2s_a, dpm++2m; transcriptions of
/// stable-diffusion.cpp for dpm++2mv2, ipndm, ipndm_v, lcm), run in float64 on the same denoiser,
/// sigmas, starting x and step noise. The Swift side runs in float32.
@Suite struct SamplerParityTests {
    static let golden: SafetensorsFile? = try? SafetensorsFile(path: fixturePath("sampler_goldens.safetensors"))

    static let cases: [(String, SamplerKind)] = ["karras10", "discrete7"].flatMap { set in
        [SamplerKind.euler, .eulerAncestral, .heun, .dpm2, .dpmpp2SAncestral, .dpmpp2M, .dpmpp2MV2, .ipndm, .ipndmV, .lcm]
            .map { (set, $0) }
    }

    @Test(arguments: cases)
    func trajectoryMatchesReferenceAfterEveryStep(set: String, kind: SamplerKind) throws {
        let file = try #require(SamplerParityTests.golden)
        let sigmas = try file.tensor("\(set).sigmas").toTensor().scalars
        let x = try file.tensor("\(set).x").toTensor()
        let expected = unstack(try file.tensor("\(set).trajectory.\(kind.rawValue)").toTensor())
        var noise = RecordedNoise(queue: try file.tensors["\(set).noise.\(kind.rawValue)"].map { unstack(try $0.toTensor()) } ?? [])
        var steps: [Tensor] = []
        let result = try kind.makeSampler().sample(x, sigmas: sigmas, denoiser: MixtureDenoiser(), noise: &noise) {
            steps.append($0.x)
        }
        #expect(steps.count == sigmas.count - 1)
        #expect(noise.served == noise.queue.count, "drew \(noise.served) noise tensors, reference drew \(noise.queue.count)")
        for (i, (actual, reference)) in zip(steps, expected).enumerated() {
            let diff = maxAbsDifference(actual, reference)
            #expect(diff <= 1e-5, "\(kind.rawValue) on \(set), step \(i): max abs \(diff)")
        }
        #expect(result.scalars == steps.last?.scalars)
    }
}
