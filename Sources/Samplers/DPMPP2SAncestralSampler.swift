import Foundation
import Tensor

/// DPM-Solver++(2S) with ancestral noise: a second-order single-step solver (Lu et al. 2022,
/// "DPM-Solver++", Algorithm 1 with r = 1/2) down to `sigmaDown`, then noise of std `sigmaUp`.
///
/// Matches k-diffusion `sample_dpmpp_2s_ancestral` and stable-diffusion.cpp `dpm++2s_a` (after its
/// PR #1435, which moved the second model call to the midpoint sigma as k-diffusion has it).
public struct DPMPP2SAncestralSampler: Sampler {
    /// Scale of the ancestral noise.
    public let eta: Float
    /// Extra scale on the added noise (k-diffusion `s_noise`).
    public let sNoise: Float

    public init(eta: Float = 1, sNoise: Float = 1) {
        self.eta = eta
        self.sNoise = sNoise
    }

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "dpm++2s_a", onStep: onStep) { x, step in
            let split = AncestralStep(from: step.sigma, to: step.sigmaNext, eta: Double(eta))
            if split.down == 0 || step.sigma == 0 {
                x = step.denoised
            } else {
                // t = -log(sigma); h = t(sigmaDown) - t(sigma); the midpoint is at t + h/2.
                let h = log(step.sigma / split.down)
                let sigmaMid = (step.sigma * split.down).squareRoot()
                let midpoint = Tensor.weightedSum(
                    (Float(sigmaMid / step.sigma), x), (Float(-expm1(-h / 2)), step.denoised))
                let denoisedMid = try denoiser.denoise(midpoint, sigma: Float(sigmaMid))
                x = .weightedSum((Float(split.down / step.sigma), x), (Float(-expm1(-h)), denoisedMid))
            }
            if step.sigmaNext > 0 && split.up > 0 {
                x = .weightedSum((1, x), (Float(split.up) * sNoise, noise.normal(shape: x.shape)))
            }
        }
    }
}
