import Tensor

/// Read access to the pipeline's own components, so that a benchmark (or a tool) can time one UNet
/// evaluation or one VAE decode on exactly the models `generate` runs, rather than on a second copy
/// built with possibly different settings (head counts, norm groups, latent scale).
extension StableDiffusionPipeline {
    /// The denoising UNet, as `generate` calls it for every sampler step.
    public var denoisingUNet: UNet { unet }

    /// Latent (UNet scale, [B, 4, h, w]) -> picture in [-1, 1] ([B, 3, 8h, 8w]), by the same path
    /// `generate` decodes with: TAESD when loaded, else the VAE's decoder after unscaling.
    public func decodeLatent(_ latent: Tensor, tiled: Bool = false) -> Tensor { decode(latent, tiled: tiled) }
}
