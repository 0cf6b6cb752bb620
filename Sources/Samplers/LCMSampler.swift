import Tensor

/// Latent Consistency Model sampling (Luo et al. 2023, Algorithm 1): jump to the model's x0
/// estimate, then re-noise it to the next sigma with fresh noise.
///
/// Matches stable-diffusion.cpp `lcm` and ComfyUI `sample_lcm` for eps and v models (no LCM
/// boundary-condition scalings, as stable-diffusion.cpp). Use with the `lcm` schedule, cfg 1 and
/// 2 to 8 steps. On a rectified-flow denoiser the re-noising is the flow one,
/// `(1 - sigma_next) x0 + sigma_next noise` (stable-diffusion.cpp).
public struct LCMSampler: Sampler {
    public init() {}

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "lcm", onStep: onStep) { x, step in
            x = step.denoised
            if step.sigmaNext > 0 {
                x = denoiser.noiseModel.noised(step.denoised, noise: noise.normal(shape: x.shape), sigma: Float(step.sigmaNext))
            }
        }
    }
}
