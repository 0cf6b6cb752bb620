import Foundation
import Tensor

/// DPM-Solver++(2M) "v2": 2M whose correction uses the mean of the last two log-steps, which
/// behaves better with uneven step sizes (k-diffusion issue #56, A1111 discussion 8457).
/// The x coefficient keeps the true step, so the update is not an affine combination.
///
/// Matches stable-diffusion.cpp `dpm++2mv2` (not in crowsonkb's k-diffusion).
public struct DPMPP2MV2Sampler: Sampler {
    public init() {}

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        var previousDenoised: Tensor?
        return try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "dpm++2mv2", onStep: onStep) { x, step in
            defer { previousDenoised = step.denoised }
            if step.sigmaNext == 0 || step.sigma == 0 {
                x = step.denoised
            } else if let previous = previousDenoised {
                let h = log(step.sigma / step.sigmaNext)
                let hLast = log(Double(sigmas[step.index - 1]) / step.sigma)
                let hMin = min(h, hLast), hMax = max(h, hLast)
                let r = hMax / hMin
                let hMean = (hMax + hMin) / 2
                let d = Tensor.weightedSum((Float(1 + 1 / (2 * r)), step.denoised), (Float(-1 / (2 * r)), previous))
                x = .weightedSum((Float(step.sigmaNext / step.sigma), x), (Float(-expm1(-hMean)), d))
            } else {
                let r = step.sigmaNext / step.sigma
                x = .weightedSum((Float(r), x), (Float(1 - r), step.denoised))
            }
        }
    }
}
