import Foundation
import Tensor

/// DPM-Solver++(2S) with ancestral noise: a second-order single-step solver (Lu et al. 2022,
/// "DPM-Solver++", Algorithm 1 with r = 1/2) down to `sigmaDown`, then noise of std `sigmaUp`.
///
/// Matches k-diffusion `sample_dpmpp_2s_ancestral` and stable-diffusion.cpp `dpm++2s_a` (after its
/// PR #1435, which moved the second model call to the midpoint sigma as k-diffusion has it).
public struct DPMPP2SAncestralSampler: Sampler {
    /// Scale of the ancestral noise.
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
        validate(sigmas, sampler: "dpm++2s_a")
        var x = x
        let count = sigmas.count - 1
        for i in 0..<count {
            let sigma = Double(sigmas[i]), sigmaNext = Double(sigmas[i + 1])
            let denoised = try denoiser.denoise(x, sigma: sigmas[i])
            let step = AncestralStep(from: sigma, to: sigmaNext, eta: Double(eta))
            if step.down == 0 || sigma == 0 {
                x = denoised
            } else {
                // t = -log(sigma); h = t(sigmaDown) - t(sigma); the midpoint is at t + h/2.
                let h = log(sigma / step.down)
                let sigmaMid = (sigma * step.down).squareRoot()
                let midpoint = Tensor.weightedSum((Float(sigmaMid / sigma), x), (Float(-expm1(-h / 2)), denoised))
                let denoisedMid = try denoiser.denoise(midpoint, sigma: Float(sigmaMid))
                x = .weightedSum((Float(step.down / sigma), x), (Float(-expm1(-h)), denoisedMid))
            }
            if sigmaNext > 0 && step.up > 0 {
                x = .weightedSum((1, x), (Float(step.up) * sNoise, noise.normal(shape: x.shape)))
            }
            try onStep(SamplerStep(index: i, count: count, sigma: sigmas[i], sigmaNext: sigmas[i + 1], x: x, denoised: denoised))
        }
        return x
    }
}
