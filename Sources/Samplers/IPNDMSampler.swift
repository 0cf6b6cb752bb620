import Tensor

/// Improved PNDM: Adams–Bashforth in sigma with fixed coefficients of order up to 4, reusing
/// the last three slopes (Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential
/// Integrator", iPNDM; zju-pi diff-sampler).
///
/// Matches stable-diffusion.cpp `ipndm`, which, unlike ComfyUI, also extrapolates the last step
/// to sigma 0 with the multistep formula instead of returning D.
public struct IPNDMSampler: Sampler {
    public init() {}

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        try AdamsBashforth.sample(
            x, sigmas: sigmas, denoiser: denoiser, variableSecondOrder: false, name: "ipndm", onStep: onStep)
    }
}

/// iPNDM with a variable-step second-order coefficient.
///
/// Matches stable-diffusion.cpp `ipndm_v`: only order 2 uses the step ratio; orders 3 and 4 keep
/// the fixed coefficients (the zju-pi/ComfyUI reference makes those variable too), and the last
/// step is extrapolated like `ipndm`.
public struct IPNDMVSampler: Sampler {
    public init() {}

    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        try AdamsBashforth.sample(
            x, sigmas: sigmas, denoiser: denoiser, variableSecondOrder: true, name: "ipndm_v", onStep: onStep)
    }
}

/// The multistep loop shared by the two iPNDM variants.
enum AdamsBashforth {
    static func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, variableSecondOrder: Bool, name: String,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor {
        var history: [Tensor] = []  // previous slopes, newest last, at most 3
        return try runSteps(x, sigmas: sigmas, denoiser: denoiser, name: name, onStep: onStep) { x, step in
            guard step.sigma > 0 else {
                x = step.denoised
                return
            }
            let d = derivative(x, denoised: step.denoised, sigma: step.sigma)
            let dt = step.sigmaNext - step.sigma
            switch history.count {
            case 0:
                x = .weightedSum((1, x), (Float(dt), d))
            case 1:
                if variableSecondOrder {
                    let q = dt / (step.sigma - Double(sigmas[step.index - 1]))
                    x = .weightedSum((1, x), (Float(dt * (2 + q) / 2), d), (Float(-dt * q / 2), history[0]))
                } else {
                    x = .weightedSum((1, x), (Float(dt * 3 / 2), d), (Float(-dt / 2), history[0]))
                }
            case 2:
                x = .weightedSum(
                    (1, x), (Float(dt * 23 / 12), d), (Float(-dt * 16 / 12), history[1]), (Float(dt * 5 / 12), history[0]))
            default:
                x = .weightedSum(
                    (1, x), (Float(dt * 55 / 24), d), (Float(-dt * 59 / 24), history[2]),
                    (Float(dt * 37 / 24), history[1]), (Float(-dt * 9 / 24), history[0]))
            }
            history.append(d)
            if history.count > 3 { history.removeFirst() }
        }
    }
}
