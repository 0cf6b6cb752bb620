import Tensor

/// An encoded picture before sampling: the codec's posterior (its own space) and the affine map
/// to the network's latent, so a sample is drawn in the codec's space exactly as the reference does.
public struct LatentDistribution: Sendable {
    public let mean: Tensor
    public let logVariance: Tensor
    public let scale: LatentScale

    public init(mean: Tensor, logVariance: Tensor, scale: LatentScale) {
        self.mean = mean
        self.logVariance = logVariance
        self.scale = scale
    }

    /// The mean as a network latent.
    public var meanLatent: Tensor { scale.latent(fromVAE: mean) }

    /// A posterior sample z = mean + exp(logvar / 2) · noise as a network latent; `noise` has
    /// `mean`'s shape.
    public func sample(noise: Tensor) -> Tensor {
        scale.latent(fromVAE: VAEEncoder.sample(mean: mean, logVariance: logVariance, noise: noise))
    }
}

/// Pictures to latents and back: the family's VAE (or a fast decoder in its place), with the
/// latent's channels, downscale factor and scale/shift.
public protocol LatentCodec: Sendable {
    /// Latent channels (4 for the SD families).
    var channels: Int { get }
    /// Pixels per latent cell along each side (8).
    var downscale: Int { get }
    /// picture [1, 3, H, W] in [-1, 1] -> posterior; `tiled` bounds memory on large pictures.
    func encode(_ pixels: Tensor, tiled: Bool) -> LatentDistribution
    /// network latent [B, C, h, w] -> picture [B, 3, h·downscale, w·downscale] in [-1, 1].
    func decode(_ latent: Tensor, tiled: Bool) -> Tensor
}
