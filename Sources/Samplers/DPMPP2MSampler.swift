import Foundation
import Tensor

/// DPM-Solver++(2M): second-order multistep, deterministic (Lu et al. 2022, "DPM-Solver++",
/// Algorithm 2). The first step and the step to sigma 0 are first order.
///
/// Matches k-diffusion `sample_dpmpp_2m` and stable-diffusion.cpp `dpm++2m`.
public struct DPMPP2MSampler: Sampler {
    public init() {}

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        validate(sigmas, sampler: "dpm++2m")
        var x = x
        var previousDenoised: Tensor?  // the only history the method needs
        let count = sigmas.count - 1
        for i in 0..<count {
            let sigma = Double(sigmas[i]), sigmaNext = Double(sigmas[i + 1])
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            if sigmaNext == 0 || sigma == 0 {
                x = denoised
            } else {
                let h = log(sigma / sigmaNext)  // t = -log(sigma), h = tNext - t
                var d = denoised
                if let previous = previousDenoised, i > 0 {
                    let r = log(Double(sigmas[i - 1]) / sigma) / h
                    d = .weightedSum((Float(1 + 1 / (2 * r)), denoised), (Float(-1 / (2 * r)), previous))
                }
                x = .weightedSum((Float(sigmaNext / sigma), x), (Float(-expm1(-h)), d))
            }
            previousDenoised = denoised
            try onStep(SamplerStep(index: i, count: count, sigma: sigmas[i], sigmaNext: sigmas[i + 1], x: x, denoised: denoised))
        }
        return x
    }
}
