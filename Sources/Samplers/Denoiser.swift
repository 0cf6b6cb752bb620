import Tensor

/// A model as samplers see it: an estimate of the clean sample x0 from a noisy `x` at noise
/// level `sigma`, in k-diffusion's variance-exploding space (`x = x0 + sigma * noise`).
///
/// Samplers know nothing else about the model: not its parameterization, not its conditioning,
/// not classifier-free guidance. That keeps every sampler usable on an analytic denoiser.
public protocol Denoiser {
    /// D(x, sigma): the model's estimate of x0.
    func denoise(_ x: Tensor, sigma: Float) throws -> Tensor
}

/// The raw network: its output (eps or v, depending on training) for input `x` at a training
/// timestep `t` in [0, 999], fractional between table entries.
public protocol NoisePredictor {
    func predict(_ x: Tensor, timestep: Float) throws -> Tensor
}
