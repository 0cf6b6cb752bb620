import Diffusion
import Tensor

/// What the server needs from a model: its name, and a synchronous, CPU-bound generation that reports every step (throwing from `progress` stops it). The real conformer is
/// `DiffusionPipeline`; tests use fakes that block, fail or count.
public protocol ImageGenerating: Sendable {
    /// A short model name for `/v1/models` and logs.
    var modelName: String { get }
    /// Runs one request; image i uses seed `options.seed + i`.
    func generate(
        _ options: GenerationOptions, limits: GenerationOptions.Limits,
        progress: (GenerationProgress) throws -> Void
    ) throws -> [GeneratedImage]
    /// A small picture of a latent (the denoiser's estimate during a run) for progress previews.
    func preview(_ latent: Tensor) -> RGBImage
    /// Throws when the model's weight files changed on disk since it was loaded (truncated or
    /// written to), before a generation reads them; the pool then loads the model again.
    func checkWeights() throws
}

extension ImageGenerating {
    /// Nothing to check (fakes, models held in memory).
    public func checkWeights() throws {}
}

extension DiffusionPipeline: ImageGenerating {
    /// `checkWeightFiles()`: one `fstat` per weight file.
    public func checkWeights() throws { try checkWeightFiles() }
}
