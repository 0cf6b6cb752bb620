import Tensor

/// Euler ancestral: an Euler step down to `sigmaDown`, then fresh noise of std `sigmaUp`.
///
/// Matches k-diffusion `sample_euler_ancestral` and stable-diffusion.cpp `euler_a`. With
/// `eta = 0` it is DDIM in k-diffusion space, which is what `ddim_trailing` uses.
/// Noise is drawn only when it is added (`sigmaUp > 0`), as stable-diffusion.cpp does.
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
        validate(sigmas, sampler: "euler_a")
        var x = x
        let count = sigmas.count - 1
        for i in 0..<count {
            let sigma = Double(sigmas[i]), sigmaNext = Double(sigmas[i + 1])
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            if sigmaNext == 0 || sigma == 0 {
                x = denoised
            } else {
                let step = AncestralStep(from: sigma, to: sigmaNext, eta: Double(eta))
                let r = step.down / sigma
                x = .weightedSum((Float(r), x), (Float(1 - r), denoised))
                if step.up > 0 {
                    x = .weightedSum((1, x), (Float(step.up) * sNoise, noise.normal(shape: x.shape)))
                }
            }
            try onStep(SamplerStep(index: i, count: count, sigma: sigmas[i], sigmaNext: sigmas[i + 1], x: x, denoised: denoised))
        }
        return x
    }
}
