import Foundation
import Tensor

/// DPM-Solver-2 in Karras's form: the slope is taken at the log-midpoint sigma
/// `sqrt(sigma * sigmaNext)`; the last step is plain Euler.
///
/// Matches k-diffusion `sample_dpm_2` (s_churn = 0) and stable-diffusion.cpp `dpm2` (not the
/// ancestral `dpm2_a`). 2N-1 model calls.
public struct DPM2Sampler: Sampler {
    public init() {}

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "dpm2", onStep: onStep) { x, step in
            if step.sigmaNext == 0 || step.sigma == 0 {
                x = step.denoised
                return
            }
            let sigmaMid = exp((log(step.sigma) + log(step.sigmaNext)) / 2)
            let d = derivative(x, denoised: step.denoised, sigma: step.sigma)
            let midpoint = Tensor.weightedSum((1, x), (Float(sigmaMid - step.sigma), d))
            let denoisedMid = try denoiser.denoise(midpoint, sigma: Float(sigmaMid))
            let dMid = derivative(midpoint, denoised: denoisedMid, sigma: sigmaMid)
            x = .weightedSum((1, x), (Float(step.sigmaNext - step.sigma), dMid))
        }
    }
}
