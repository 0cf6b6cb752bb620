import Tensor

/// Stable Diffusion's VAE: encoder and decoder of one checkpoint's `first_stage_model` (LDM
/// `ldm.models.autoencoder.AutoencoderKL`; diffusers `AutoencoderKL`).
///
/// Scaling between the VAE's z and the UNet's latent is not done here but by `LatentScale`, so a
/// pipeline applies it in exactly one place.
public struct AutoencoderKL: Sendable {
    /// `encoder.*` and `quant_conv`.
    public let encoder: VAEEncoder
    /// `post_quant_conv` and `decoder.*`.
    public let decoder: VAEDecoder

    /// Builds both halves from the `first_stage_model` scope.
    /// - Parameter groups: GroupNorm groups (32 in every SD VAE).
    /// - Throws: `WeightError` for missing or misshapen tensors.
    public init(_ w: Weights, groups: Int = 32) throws {
        encoder = try VAEEncoder(w, groups: groups)
        decoder = try VAEDecoder(w, groups: groups)
    }

    /// The posterior of an image [B, 3, H, W] in [-1, 1]: mean and clamped log-variance, each
    /// [B, 4, H/8, W/8]. Draw a latent with `VAEEncoder.sample(mean:logVariance:noise:)`.
    public func encode(_ image: Tensor) -> (mean: Tensor, logVariance: Tensor) { encoder.encode(image) }

    /// z [B, 4, h, w] (the UNet's latent divided by the scaling factor) -> image [B, 3, 8h, 8w] in about
    /// [-1, 1], not clamped.
    public func decode(_ latent: Tensor) -> Tensor { decoder(latent) }
}
