import Samplers
import Tensor

/// The UNet under classifier-free guidance, as samplers' `NoisePredictor`:
/// F = F_uncond + scale (F_cond - F_uncond) on the raw outputs (eps or v), before the
/// parameterization turns them into x0 (engine-reference 3; linear, so equal to guiding x0).
///
/// With scale 1 the unconditional pass is skipped (one UNet call per step). Otherwise cond and
/// uncond run as one batch of 2 when their contexts have the same length, which is faster than
/// stable-diffusion.cpp's two passes of batch 1; prompts of different chunk counts run as two passes.
struct GuidedNoisePredictor: NoisePredictor {
    /// x [B, C, h, w], timesteps (one per batch item), context [B, L, D], added [B, A] -> [B, C', h, w]
    let model: (Tensor, [Float], Tensor, Tensor?) throws -> Tensor
    let cond: Conditioning
    let uncond: Conditioning?
    let scale: Float
    /// Extra input channels concatenated to x (the inpainting UNet's mask and masked latent).
    let extraChannels: Tensor?
    /// cond and uncond stacked once for the batched pass ([2, L, D] and [2, A]), not every step.
    private let batchedContext: Tensor?
    private let batchedAdded: Tensor?

    init(
        model: @escaping (Tensor, [Float], Tensor, Tensor?) throws -> Tensor, cond: Conditioning, uncond: Conditioning?,
        scale: Float, extraChannels: Tensor?
    ) {
        self.model = model
        self.cond = cond
        self.uncond = uncond
        self.scale = scale
        self.extraChannels = extraChannels
        if let uncond, scale != 1, cond.context.shape == uncond.context.shape {
            batchedContext = Tensor.concat([cond.context, uncond.context], axis: 0)  // [2, L, D]
            batchedAdded = cond.added.map { c in Tensor.concat([c, uncond.added ?? c], axis: 0) }  // [2, A]
        } else {
            batchedContext = nil
            batchedAdded = nil
        }
    }

    func predict(_ x: Tensor, timestep: Float) throws -> Tensor {
        let input = extraChannels.map { Tensor.concat([x, $0], axis: 1) } ?? x  // [1, C (+5), h, w]
        guard let uncond, scale != 1 else {
            return try model(input, [timestep], cond.context, cond.added)
        }
        if let batchedContext {
            let both = try model(
                Tensor.concat([input, input], axis: 0), [timestep, timestep], batchedContext, batchedAdded)  // [2, C, h, w]
            let halves = both.chunked(2, axis: 0)  // [1, C, h, w] each
            return Tensor.weightedSum((1 - scale, halves[1]), (scale, halves[0]))
        }
        let c = try model(input, [timestep], cond.context, cond.added)
        let u = try model(input, [timestep], uncond.context, uncond.added)
        return Tensor.weightedSum((1 - scale, u), (scale, c))
    }
}

/// A prompt encoded for the UNet: cross-attention context [1, 77k, D] and, for SDXL, the added
/// conditioning vector [1, A] (pooled text embedding and size embeddings).
public struct Conditioning: Sendable {
    public let context: Tensor
    public let added: Tensor?

    public init(context: Tensor, added: Tensor? = nil) {
        self.context = context
        self.added = added
    }
}

/// Inpainting with an ordinary UNet: after every model evaluation the kept region is put back
/// from the original latent, D = D * mask + original * (1 - mask) (stable-diffusion.cpp, A1111).
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

    func denoise(_ x: Tensor, sigma: Float) throws -> Tensor {
        try base.denoise(x, sigma: sigma) * mask + keptOriginal
    }
}
