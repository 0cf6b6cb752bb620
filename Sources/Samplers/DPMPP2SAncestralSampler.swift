import Foundation
import Tensor

/// DPM-Solver++(2S) with ancestral noise: a second-order single-step solver (Lu et al. 2022,
/// "DPM-Solver++", Algorithm 1 with r = 1/2) down to `sigmaDown`, then noise of std `sigmaUp`.
///
/// Matches k-diffusion `sample_dpmpp_2s_ancestral` and stable-diffusion.cpp `dpm++2s_a` (after its
/// PR #1435, which moved the second model call to the midpoint sigma as k-diffusion has it). On a
/// rectified-flow denoiser it is stable-diffusion.cpp's `dpmpp_2s_ancestral_flow`: half-logSNR
/// lambda = log((1 - sigma) / sigma), the flow ancestral split, and no second call at sigma 1
/// (where the midpoint is the start).
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
        if denoiser.noiseModel == .rectifiedFlow {
            return try sampleFlow(x, sigmas: sigmas, denoiser: denoiser, noise: &noise, onStep: onStep)
        }
        return try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "dpm++2s_a", onStep: onStep) { x, step in
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

    private func sampleFlow(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "dpm++2s_a", onStep: onStep) { x, step in
            let (sigma, sigmaNext) = (step.sigma, step.sigmaNext)
            guard sigmaNext > 0 else {
                x = step.denoised
                return
            }
            let split = FlowAncestralStep(from: sigma, to: sigmaNext, eta: Double(eta))
            var denoisedMid = step.denoised
            if 1 - sigma >= 1e-6 {
                // The midpoint in lambda, written so sigma -> 1 has no singularity:
                // exp(lambda_mid) = sqrt((1 - sigma) / sigma * (1 - down) / down).
                let expMid = ((1 - sigma) / sigma * (1 - split.down) / split.down).squareRoot()
                let sigmaMid = 1 / (expMid + 1)
                let ratio = sigmaMid / sigma
                let midpoint = Tensor.weightedSum((Float(ratio), x), (Float(1 - ratio), step.denoised))
                denoisedMid = try denoiser.denoise(midpoint, sigma: Float(sigmaMid))
            }
            let ratio = split.down / sigma
            x = .weightedSum((Float(ratio), x), (Float(1 - ratio), denoisedMid))
            if eta > 0 && split.up > 0 {
                x = .weightedSum((Float(split.alpha), x), (Float(split.up) * sNoise, noise.normal(shape: x.shape)))
            }
        }
    }
}
