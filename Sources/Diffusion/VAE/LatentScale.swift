import Tensor

/// How the UNet's latent relates to the VAE's: `latent = scalingFactor · (z - shiftFactor)`
/// (engine reference 6; diffusers `vae.config.scaling_factor` / `shift_factor`).
///
/// The one place the family's factor lives: encode multiplies by it (`latent(fromVAE:)`), decode
/// divides by it (`vae(fromLatent:)`). TAESD works on the UNet's latent directly, so its scale is 1.
public struct LatentScale: Sendable, Equatable {
    /// Multiplies the VAE's z into the UNet's latent space.
    public var scalingFactor: Float
    /// Subtracted from z before scaling (0 for the SD families; SD3/Flux VAEs use one).
    public var shiftFactor: Float

    public init(scalingFactor: Float, shiftFactor: Float = 0) {
        self.scalingFactor = scalingFactor
        self.shiftFactor = shiftFactor
    }

    /// SD 1.x and 2.x (LDM `scale_factor: 0.18215`).
    public static let sd1 = LatentScale(scalingFactor: 0.18215)
    /// SD 2.x: the same VAE as SD 1.x.
    public static let sd2 = sd1
    /// SDXL's retrained VAE (SGM `scale_factor: 0.13025`).
    public static let sdxl = LatentScale(scalingFactor: 0.13025)
    /// TAESD / TAESDXL: no scaling, they read and write the UNet's latent.
    public static let identity = LatentScale(scalingFactor: 1)

    /// The UNet's latent from the VAE's z (a posterior sample or mean).
    public func latent(fromVAE z: Tensor) -> Tensor {
        shiftFactor == 0 ? z.scaled(by: scalingFactor) : z.affine(scale: scalingFactor, shift: -shiftFactor * scalingFactor)
    }

    /// The VAE's z from the UNet's latent, ready for `VAEDecoder`.
    public func vae(fromLatent latent: Tensor) -> Tensor {
        // latent / s + shift, written as division so the common shift-0 case is exactly `latent / s`.
        shiftFactor == 0 ? latent / scalingFactor : latent / scalingFactor + shiftFactor
    }
}
