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
        var previousDenoised: Tensor?  // the only history the method needs
        return try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "dpm++2m", onStep: onStep) { x, step in
            defer { previousDenoised = step.denoised }
            if step.sigmaNext == 0 || step.sigma == 0 {
                x = step.denoised
                return
            }
            let h = log(step.sigma / step.sigmaNext)  // t = -log(sigma), h = tNext - t
            var d = step.denoised
            if let previous = previousDenoised {
                let r = log(Double(sigmas[step.index - 1]) / step.sigma) / h
                d = .weightedSum((Float(1 + 1 / (2 * r)), step.denoised), (Float(-1 / (2 * r)), previous))
            }
            x = .weightedSum((Float(step.sigmaNext / step.sigma), x), (Float(-expm1(-h)), d))
        }
    }
}
