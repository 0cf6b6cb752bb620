import Tensor

/// The SD families' codec: the KL VAE with the family's latent scale, optionally decoding through
/// TAESD instead (it reads the network's latent as is; encoding stays with the VAE).
public struct VAELatentCodec: LatentCodec {
    public let vae: AutoencoderKL
    public let scale: LatentScale
    public let fastDecoder: TAESDDecoder?

    public init(vae: AutoencoderKL, scale: LatentScale, fastDecoder: TAESDDecoder? = nil) {
        self.vae = vae
        self.scale = scale
        self.fastDecoder = fastDecoder
    }

    public var channels: Int { vae.decoder.latentChannels }
    public var downscale: Int { vae.decoder.upsamplingFactor }

    public func encode(_ pixels: Tensor, tiled: Bool) -> LatentDistribution {
        let (mean, logVariance) = tiled ? vae.encodeTiled(pixels) : vae.encode(pixels)
        return LatentDistribution(mean: mean, logVariance: logVariance, scale: scale)
    }

    public func decode(_ latent: Tensor, tiled: Bool) -> Tensor {
        if let fastDecoder { return tiled ? fastDecoder.decodeTiled(latent) : fastDecoder(latent) }
        let z = scale.vae(fromLatent: latent)
        return tiled ? vae.decoder.decodeTiled(z) : vae.decode(z)
    }
}
