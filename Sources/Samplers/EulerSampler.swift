import Tensor

/// Euler's method on the probability-flow ODE (Karras et al. 2022, Algorithm 1 without churn).
///
/// Matches k-diffusion `sample_euler` (s_churn = 0) and stable-diffusion.cpp `euler`.
/// The step `x + d (sigmaNext - sigma)` is computed in its equivalent affine form
/// `(sigmaNext/sigma) x + (1 - sigmaNext/sigma) D`, which lands exactly on D at sigma = 0.
public struct EulerSampler: Sampler {
    public init() {}

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        validate(sigmas, sampler: "euler")
        var x = x
        let count = sigmas.count - 1
        for i in 0..<count {
            let sigma = Double(sigmas[i]), sigmaNext = Double(sigmas[i + 1])
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            if sigmaNext == 0 || sigma == 0 {
                x = denoised
            } else {
                let r = sigmaNext / sigma
                x = .weightedSum((Float(r), x), (Float(1 - r), denoised))
            }
            try onStep(SamplerStep(index: i, count: count, sigma: sigmas[i], sigmaNext: sigmas[i + 1], x: x, denoised: denoised))
        }
        return x
    }
}
