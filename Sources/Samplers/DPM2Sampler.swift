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
        validate(sigmas, sampler: "dpm2")
        var x = x
        let count = sigmas.count - 1
        for i in 0..<count {
            let sigma = Double(sigmas[i]), sigmaNext = Double(sigmas[i + 1])
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            if sigmaNext == 0 || sigma == 0 {
                x = denoised
            } else {
                let sigmaMid = exp((log(sigma) + log(sigmaNext)) / 2)
                let d = derivative(x, denoised: denoised, sigma: sigma)
                let midpoint = Tensor.weightedSum((1, x), (Float(sigmaMid - sigma), d))
                let denoisedMid = try denoiser.denoise(midpoint, sigma: Float(sigmaMid))
                let dMid = derivative(midpoint, denoised: denoisedMid, sigma: sigmaMid)
                x = .weightedSum((1, x), (Float(sigmaNext - sigma), dMid))
            }
            try onStep(SamplerStep(index: i, count: count, sigma: sigmas[i], sigmaNext: sigmas[i + 1], x: x, denoised: denoised))
        }
        return x
    }
}
