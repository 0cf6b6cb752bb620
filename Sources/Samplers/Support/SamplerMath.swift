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

/// d = (x - D) / sigma, the Karras ODE derivative (k-diffusion `to_d`).
func derivative(_ x: Tensor, denoised: Tensor, sigma: Double) -> Tensor {
    Tensor.weightedSum((Float(1 / sigma), x), (Float(-1 / sigma), denoised))
}

/// Checks what every sampler needs of its sigma array.
func validate(_ sigmas: [Float], sampler: String) {
    precondition(sigmas.count >= 1, "\(sampler): empty sigma array")
    precondition(sigmas.allSatisfy { $0.isFinite && $0 >= 0 }, "\(sampler): sigmas must be finite and >= 0: \(sigmas)")
}
