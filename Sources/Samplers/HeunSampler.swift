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
        validate(sigmas, sampler: "heun")
        var x = x
        let count = sigmas.count - 1
        for i in 0..<count {
            let sigma = Double(sigmas[i]), sigmaNext = Double(sigmas[i + 1])
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            if sigmaNext == 0 || sigma == 0 {
                x = denoised
            } else {
                let dt = sigmaNext - sigma
                let d = derivative(x, denoised: denoised, sigma: sigma)
                let predicted = Tensor.weightedSum((1, x), (Float(dt), d))
                let denoised2 = try denoiser.denoise(predicted, sigma: sigmas[i + 1])
                let d2 = derivative(predicted, denoised: denoised2, sigma: sigmaNext)
                x = .weightedSum((1, x), (Float(dt / 2), d), (Float(dt / 2), d2))
            }
            try onStep(SamplerStep(index: i, count: count, sigma: sigmas[i], sigmaNext: sigmas[i + 1], x: x, denoised: denoised))
        }
        return x
    }
}
