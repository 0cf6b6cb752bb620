import Tensor

/// What a sampler reports after each step.
public struct SamplerStep: Sendable {
    /// Step index, 0-based.
    public let index: Int
    /// Number of steps in the run.
    public let count: Int
    /// The noise level the step started from.
    public let sigma: Float
    /// The noise level the step ended at.
    public let sigmaNext: Float
    /// x after the step.
    public let x: Tensor
    /// The denoiser's x0 estimate at the start of the step.
    public let denoised: Tensor

    public init(index: Int, count: Int, sigma: Float, sigmaNext: Float, x: Tensor, denoised: Tensor) {
        self.index = index
        self.count = count
        self.sigma = sigma
        self.sigmaNext = sigmaNext
        self.x = x
        self.denoised = denoised
    }
}

/// A sampling algorithm: integrates the reverse process from `sigmas.first` to `sigmas.last`
/// (which schedules make 0).
///
/// Implementations are immutable values holding only their options; any history a multistep
/// method needs is a local of `sample`, so one value can serve many concurrent runs.
public protocol Sampler: Sendable {
    /// Runs the whole loop. Step noise (ancestral methods) is drawn from `noise`, one full
    /// tensor of `x`'s shape per draw. `onStep` is called after every step; throwing from it
    /// (for example `CancellationError`) stops the run and the error propagates.
    func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource,
        onStep: (SamplerStep) throws -> Void
    ) throws -> Tensor
}

extension Sampler {
    /// `sample` without a step callback.
    public func sample(
        _ x: Tensor, sigmas: [Float], denoiser: some Denoiser, noise: inout some RandomSource
    ) throws -> Tensor {
        try sample(x, sigmas: sigmas, denoiser: denoiser, noise: &noise) { _ in }
    }
}
