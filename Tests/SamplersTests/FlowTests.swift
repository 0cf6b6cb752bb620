import Foundation
import TestSupport
import Testing

@testable import Samplers
@testable import Tensor

/// The exact rectified-flow denoiser of Tests/Golden/generate_flow_goldens.py's data: x0 per
/// element from 0.5 N(-1, s^2) + 0.5 N(1, s^2), x = (1 - sigma) x0 + sigma noise.
struct FlowMixtureDenoiser: Denoiser {
    let s = 0.5
    let means = [-1.0, 1.0]
    var noiseModel: NoiseModel { .rectifiedFlow }

    func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
        let a = 1 - Double(sigma)
        let variance = a * a * s * s + Double(sigma) * Double(sigma)
        var out = x
        out.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices {
                let v = Double(buffer[i])
                let logW = means.map { -(v - a * $0) * (v - a * $0) / (2 * variance) }
                let top = logW.max() ?? 0
                let w = logW.map { exp($0 - top) }
                let total = w.reduce(0, +)
                var d = 0.0
                for (k, m) in means.enumerated() { d += w[k] / total * (m + a * s * s / variance * (v - a * m)) }
                buffer[i] = Float(d)
            }
        }
        return out
    }
}

/// The mixture's velocity v = (x - D) / sigma as a network sees it: at timestep t = 1000 sigma.
struct FlowMixtureVelocity: NoisePredictor {
    func predict(_ x: Tensor, timestep: Float) throws -> Tensor {
        let sigma = timestep / 1000
        let d = try FlowMixtureDenoiser().denoise(x, sigma: sigma)
        return .weightedSum((1 / sigma, x), (-1 / sigma, d))
    }
}

/// Rectified flow (SD3, FLUX) against diffusers' `FlowMatchEulerDiscreteScheduler` (schedules,
/// timesteps, its Euler loop), k-diffusion (heun, dpm++2m over the flow denoiser) and
/// transcriptions of stable-diffusion.cpp's flow variants of euler_a, dpm++2s_a and lcm.
/// Golden: Tests/Golden/generate_flow_goldens.py.
@Suite struct FlowTests {
    static let golden = Result { try SafetensorsFile(path: fixturePath("flow_goldens.safetensors")) }

    func values(_ name: String) throws -> [Float] { try Self.golden.get().tensor(name).toTensor().scalars }

    @Test func tableIsTheShiftedTrainingSigmas() throws {
        let table = FlowParameterization(shift: 3).table
        let reference = try values("table.sd3")
        #expect(table.sigmas.count == 1000 && table.sigmaMax == 1)
        #expect(maxAbsDifference(table.sigmas, reference) <= 2.4e-7, "two float32 ulps at 1")
    }

    @Test(arguments: [1, 4, 8, 28])
    func schedulesAndTimestepsAreDiffusers(steps: Int) throws {
        let flow = FlowParameterization(shift: 3)
        let sd3 = FlowMatchSchedule(.shifted(3)).sigmas(steps: steps, table: flow.table)
        let reference = try values("schedule.sd3.\(steps)")
        #expect(sd3.count == steps + 1 && sd3.last == 0)
        #expect(maxAbsDifference(sd3, reference) <= 2e-7, "sd3 \(steps): \(sd3) vs \(reference)")
        let timesteps = sd3.dropLast().map { flow.timestep(forSigma: $0) }
        #expect(maxAbsDifference(Array(timesteps), try values("schedule.sd3.\(steps).timesteps")) <= 1e-4)
        for (name, tokens) in [("flux1024", 4096), ("flux512", 1024)] {
            let mu = FlowMatchSchedule.mu(imageTokens: tokens)
            let flux = FlowMatchSchedule(.exponential(mu: mu)).sigmas(steps: steps, table: flow.table)
            let expected = try values("schedule.\(name).\(steps)")
            #expect(maxAbsDifference(flux, expected) <= 2e-7, "\(name) \(steps): \(flux) vs \(expected)")
        }
    }

    @Test(arguments: [SamplerKind.euler, .heun, .dpmpp2M, .eulerAncestral, .dpmpp2SAncestral, .lcm])
    func trajectoriesMatchTheReferences(kind: SamplerKind) throws {
        let file = try Self.golden.get()
        let sigmas = try values("sd3_8.sigmas")
        let x = try file.tensor("sd3_8.x").toTensor()
        let expected = unstack(try file.tensor("sd3_8.trajectory.\(kind.rawValue)").toTensor())
        var noise = RecordedNoise(queue: try file.tensors["sd3_8.noise.\(kind.rawValue)"].map { unstack(try $0.toTensor()) } ?? [])
        var steps: [Tensor] = []
        _ = try kind.makeSampler().sample(x, sigmas: sigmas, denoiser: FlowMixtureDenoiser(), noise: &noise) { steps.append($0.x) }
        #expect(steps.count == expected.count)
        #expect(noise.served == noise.queue.count, "drew \(noise.served) noise tensors, the reference \(noise.queue.count)")
        for (i, (actual, reference)) in zip(steps, expected).enumerated() {
            let diff = maxAbsDifference(actual, reference)
            #expect(diff <= 2e-5, "\(kind.rawValue), step \(i): max abs \(diff)")
        }
    }

    /// The variance-exploding split would be wrong here: the flow one must be what is used.
    @Test func ancestralSamplersUseTheFlowSplit() throws {
        let file = try Self.golden.get()
        let sigmas = try values("sd3_8.sigmas")
        let x = try file.tensor("sd3_8.x").toTensor()
        let reference = unstack(try file.tensor("sd3_8.trajectory.euler_a").toTensor())
        struct VEView: Denoiser {
            func denoise(_ x: Tensor, sigma: Float) throws -> Tensor { try FlowMixtureDenoiser().denoise(x, sigma: sigma) }
        }
        var noise = RecordedNoise(queue: unstack(try file.tensor("sd3_8.noise.euler_a").toTensor()))
        let wrong = try SamplerKind.eulerAncestral.makeSampler().sample(x, sigmas: sigmas, denoiser: VEView(), noise: &noise) { _ in }
        #expect(maxAbsDifference(wrong, try #require(reference.last)) > 1e-2)
    }

    @Test func parameterizedNetworkIsTheDenoiser() throws {
        let flow = FlowParameterization(shift: 3)
        let denoiser = ParameterizedDenoiser(FlowMixtureVelocity(), parameterization: flow)
        #expect(denoiser.noiseModel == .rectifiedFlow)
        #expect(ParameterizedDenoiser(FlowMixtureVelocity(), parameterization: EpsilonParameterization()).noiseModel == .varianceExploding)
        let x = pseudoRandomTensor([2, 3, 4], seed: 5)
        for sigma: Float in [0.9, 0.5, 0.05] {
            let d = try denoiser.denoise(x, sigma: sigma), exact = try FlowMixtureDenoiser().denoise(x, sigma: sigma)
            #expect(maxAbsDifference(d, exact) <= 1e-5, "sigma \(sigma)")
        }
        let x0 = pseudoRandomTensor([5], seed: 1), n = pseudoRandomTensor([5], seed: 2)
        let noised = NoiseModel.rectifiedFlow.noised(x0, noise: n, sigma: 0.25).scalars
        #expect(maxAbsDifference(noised, zip(x0.scalars, n.scalars).map { 0.75 * $0 + 0.25 * $1 }) <= 1e-7)
        #expect(NoiseModel.varianceExploding.noised(x0, noise: n, sigma: 2).scalars == zip(x0.scalars, n.scalars).map { $0 + 2 * $1 })
    }
}
