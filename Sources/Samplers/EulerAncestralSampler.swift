import Tensor

/// Euler ancestral: an Euler step down to `sigmaDown`, then fresh noise of std `sigmaUp`.
///
/// Matches k-diffusion `sample_euler_ancestral` and stable-diffusion.cpp `euler_a`. With
/// `eta = 0` it is DDIM in k-diffusion space, which is what `ddim_trailing` uses.
/// Noise is drawn only when it is added (`sigmaUp > 0`), as stable-diffusion.cpp does. On a
/// rectified-flow denoiser the split is the flow one (`FlowAncestralStep`: the step down is
/// rescaled before the noise is added), as stable-diffusion.cpp's and ComfyUI's RF variants.
public struct EulerAncestralSampler: Sampler {
    /// Scale of the ancestral noise (1 = full ancestral sampling, 0 = deterministic DDIM).
    public let eta: Float
    /// Extra scale on the added noise (k-diffusion `s_noise`).
    public let sNoise: Float

    public init(eta: Float = 1, sNoise: Float = 1) {
        self.eta = eta
        self.sNoise = sNoise
    }

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: "euler_a", onStep: onStep) { x, step in
            if step.sigmaNext == 0 || step.sigma == 0 {
                x = step.denoised
                return
            }
            let split =
                denoiser.noiseModel == .rectifiedFlow
                ? FlowAncestralStep(from: step.sigma, to: step.sigmaNext, eta: Double(eta))
                : FlowAncestralStep(varianceExploding: AncestralStep(from: step.sigma, to: step.sigmaNext, eta: Double(eta)))
            let r = split.down / step.sigma
            x = .weightedSum((Float(r), x), (Float(1 - r), step.denoised))
            if split.up > 0 {
                x = .weightedSum((Float(split.alpha), x), (Float(split.up) * sNoise, noise.normal(shape: x.shape)))
            }
        }
    }
}
