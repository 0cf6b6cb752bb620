import Tensor

/// Heun's second-order method (Karras et al. 2022, Algorithm 1 without churn): an Euler
/// predictor, then the average of the two slopes; the last step (to sigma 0) is plain Euler.
///
/// Matches k-diffusion `sample_heun` (s_churn = 0) and stable-diffusion.cpp `heun`. 2N-1 model calls.
public struct HeunSampler: Sampler {
    public init() {}

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "heun", onStep: onStep) { x, step in
            if step.sigmaNext == 0 || step.sigma == 0 {
                x = step.denoised
                return
            }
            let dt = step.sigmaNext - step.sigma
            let d = derivative(x, denoised: step.denoised, sigma: step.sigma)
            let predicted = Tensor.weightedSum((1, x), (Float(dt), d))
            let denoised2 = try denoiser.denoise(predicted, sigma: Float(step.sigmaNext))
            let d2 = derivative(predicted, denoised: denoised2, sigma: step.sigmaNext)
            x = .weightedSum((1, x), (Float(dt / 2), d), (Float(dt / 2), d2))
        }
    }
}
