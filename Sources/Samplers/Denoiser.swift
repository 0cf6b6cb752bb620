import Tensor

/// How a noisy sample is made from a clean one at noise level sigma: what samplers that add
/// fresh noise (ancestral, LCM) must keep true.
public enum NoiseModel: Sendable, Equatable {
    /// k-diffusion's space: `x = x0 + sigma * noise`, sigma unbounded (SD 1.x, 2.x, XL).
    case varianceExploding
    /// Rectified flow: `x = (1 - sigma) * x0 + sigma * noise`, sigma in [0, 1] (SD3, FLUX).
    case rectifiedFlow

    /// `x0` noised to `sigma` with `noise` (img2img's start).
    public func noised(_ x0: Tensor, noise: Tensor, sigma: Float) -> Tensor {
        switch self {
        case .varianceExploding: .weightedSum((1, x0), (sigma, noise))
        case .rectifiedFlow: .weightedSum((1 - sigma, x0), (sigma, noise))
        }
    }
}

/// A model as samplers see it: an estimate of the clean sample x0 from a noisy `x` at noise
/// level `sigma`, and how noisy samples relate to clean ones (`noiseModel`).
///
/// Samplers know nothing else about the model: not its parameterization, not its conditioning,
/// not classifier-free guidance. That keeps every sampler usable on an analytic denoiser. The
/// deterministic ones need only D: with d = (x - D) / sigma their updates are the same in both
/// noise models (for a flow model d is the predicted velocity).
public protocol Denoiser {
    /// D(x, sigma): the model's estimate of x0.
    func denoise(_ x: Tensor, sigma: Float) throws -> Tensor
    /// How `x` relates to x0 and noise (variance-exploding unless said otherwise).
    var noiseModel: NoiseModel { get }
}

extension Denoiser {
    public var noiseModel: NoiseModel { .varianceExploding }
}

/// The raw network: its output (eps or v, depending on training) for input `x` at a training
/// timestep `t` in [0, 999], fractional between table entries.
public protocol NoisePredictor {
    func predict(_ x: Tensor, timestep: Float) throws -> Tensor
}
