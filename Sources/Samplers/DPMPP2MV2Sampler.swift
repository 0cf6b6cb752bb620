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
        validate(sigmas, sampler: "dpm++2mv2")
        var x = x
        var previousDenoised: Tensor?
        let count = sigmas.count - 1
        for i in 0..<count {
            let sigma = Double(sigmas[i]), sigmaNext = Double(sigmas[i + 1])
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            if sigmaNext == 0 || sigma == 0 {
                x = denoised
            } else if let previous = previousDenoised, i > 0 {
                let h = log(sigma / sigmaNext)
                let hLast = log(Double(sigmas[i - 1]) / sigma)
                let hMin = min(h, hLast), hMax = max(h, hLast)
                let r = hMax / hMin
                let hMean = (hMax + hMin) / 2
                let d = Tensor.weightedSum((Float(1 + 1 / (2 * r)), denoised), (Float(-1 / (2 * r)), previous))
                x = .weightedSum((Float(sigmaNext / sigma), x), (Float(-expm1(-hMean)), d))
            } else {
                let r = sigmaNext / sigma
                x = .weightedSum((Float(r), x), (Float(1 - r), denoised))
            }
            previousDenoised = denoised
            try onStep(SamplerStep(index: i, count: count, sigma: sigmas[i], sigmaNext: sigmas[i + 1], x: x, denoised: denoised))
        }
        return x
    }
}
