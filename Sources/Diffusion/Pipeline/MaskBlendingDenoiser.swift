import Samplers
import Tensor

/// Inpainting with a network that takes no mask: after every model evaluation the kept region is
/// put back from the original latent, D = D * mask + original * (1 - mask) (stable-diffusion.cpp,
/// A1111).
struct MaskBlendingDenoiser<Base: Denoiser>: Denoiser {
    let base: Base
    /// [1, 1, h, w], 1 = repaint.
    let mask: Tensor
    /// original * (1 - mask), [1, C, h, w]: the same every step.
    let keptOriginal: Tensor

    init(base: Base, mask: Tensor, original: Tensor) {
        self.base = base
        self.mask = mask
        keptOriginal = original * (mask.scaled(by: -1) + 1)
    }

    var noiseModel: NoiseModel { base.noiseModel }

    func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
        try base.denoise(x, sigma: sigma) * mask + keptOriginal
    }
}
