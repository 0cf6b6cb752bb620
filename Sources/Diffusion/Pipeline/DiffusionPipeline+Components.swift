import Tensor

/// Read access to the pipeline's own parts, so that a benchmark (or a tool) can time one network
/// evaluation or one decode on exactly the models `generate` runs, rather than on a second copy
/// built with possibly different settings (head counts, norm groups, latent scale).
extension DiffusionPipeline {
    /// The denoising network, as `generate` calls it for every sampler step.
    public var denoisingNetwork: any DenoisingNetwork { components.network }

    /// Latent (network scale, [B, C, h, w]) -> picture in [-1, 1], by the same path `generate`
    /// decodes with (TAESD when loaded, else the VAE's decoder after unscaling).
    public func decodeLatent(_ latent: Tensor, tiled: Bool = false) -> Tensor { components.codec.decode(latent, tiled: tiled) }
}
