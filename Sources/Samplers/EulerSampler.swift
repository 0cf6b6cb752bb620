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
        try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "euler", onStep: onStep) { x, step in
            if step.sigmaNext == 0 || step.sigma == 0 {
                x = step.denoised
            } else {
                let r = step.sigmaNext / step.sigma
                x = .weightedSum((Float(r), x), (Float(1 - r), step.denoised))
            }
        }
    }
}
