import Foundation
import Tensor

/// The ancestral split of a step from `sigma` to `sigmaNext`: go deterministically down to
/// `down`, then add fresh noise of standard deviation `up`, so that the marginal at `sigmaNext`
/// is right. Matches k-diffusion `get_ancestral_step` (with stable-diffusion.cpp's clamps).
struct AncestralStep {
    let down: Double
    let up: Double

    init(from sigma: Double, to sigmaNext: Double, eta: Double) {
        guard eta > 0, sigma > 0 else {
            down = sigmaNext
            up = 0
            return
        }
        let radicand = max(0, sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext) / (sigma * sigma))
        up = min(sigmaNext, eta * radicand.squareRoot())
        down = max(0, sigmaNext * sigmaNext - up * up).squareRoot()
    }
}

/// The ancestral split of a rectified-flow step (stable-diffusion.cpp `get_ancestral_step_flow`,
/// ComfyUI's `sample_euler_ancestral_RF`): down to `down` deterministically, scale by `alpha`
/// (the signal that `x = (1 - s) x0 + s noise` keeps from `down` to `sigmaNext`), then add noise of
/// std `up`, so that x is a sample at `sigmaNext`. eta is clamped to 1, past which it has no
/// real solution.
struct FlowAncestralStep {
    let down: Double
    let up: Double
    let alpha: Double

    init(from sigma: Double, to sigmaNext: Double, eta: Double) {
        let down = max(0, min(sigmaNext, sigmaNext * (1 + (sigmaNext / sigma - 1) * min(eta, 1))))
        guard eta > 0, sigma > 0, sigmaNext > 0, down < 1 else {
            (self.down, up, alpha) = (sigmaNext, 0, 1)
            return
        }
        let alpha = (1 - sigmaNext) / (1 - down)
        let term = max(-1, min(1, down / sigmaNext * alpha))
        (self.down, self.up, self.alpha) = (down, sigmaNext * max(0, 1 - term * term).squareRoot(), alpha)
    }
}

extension FlowAncestralStep {
    /// A variance-exploding split in the same form (no rescaling).
    init(varianceExploding step: AncestralStep) {
        (down, up, alpha) = (step.down, step.up, 1)
    }
}

/// d = (x - D) / sigma, the Karras ODE derivative (k-diffusion `to_d`).
func derivative(_ x: Tensor, denoised: Tensor, sigma: Double) -> Tensor {
    Tensor.weightedSum((Float(1 / sigma), x), (Float(-1 / sigma), denoised))
}

/// Checks what every sampler needs of its sigma array.
func validate(_ sigmas: [Float], sampler: String) {
    precondition(sigmas.count >= 1, "\(sampler): empty sigma array")
    precondition(sigmas.allSatisfy { $0.isFinite && $0 >= 0 }, "\(sampler): sigmas must be finite and >= 0: \(sigmas)")
}

/// One step of a sampler's loop: where it starts and ends, and the model's x0 estimate at the start.
struct StepContext {
    let index: Int
    let sigma: Double
    let sigmaNext: Double
    let denoised: Tensor
}

/// The loop every sampler shares: validates the sigmas, asks the denoiser for D(x, sigma_i),
/// lets `update` move x to sigma_{i+1}, and reports the step. Only `update` differs per method.
func runSteps(
    _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, name: String, onStep: (SamplerStep) throws -> Void,
    update: (inout Tensor, StepContext) throws -> Void
) throws -> Tensor {
    validate(sigmas, sampler: name)
    var x = x
    let count = sigmas.count - 1
    for i in 0..<count {
        let denoised = try denoiser.denoise(x, sigma: sigmas[i])
        try update(&x, StepContext(index: i, sigma: Double(sigmas[i]), sigmaNext: Double(sigmas[i + 1]), denoised: denoised))
        try onStep(SamplerStep(index: i, count: count, sigma: sigmas[i], sigmaNext: sigmas[i + 1], x: x, denoised: denoised))
    }
    return x
}
