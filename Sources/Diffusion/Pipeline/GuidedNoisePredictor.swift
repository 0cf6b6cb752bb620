import Samplers
import Tensor

/// The network under classifier-free guidance, as samplers' `NoisePredictor`:
/// F = F_uncond + scale (F_cond - F_uncond) on the raw outputs (eps or v), before the
/// parameterization turns them into x0 (engine-reference 3; linear, so equal to guiding x0).
///
/// With scale 1 the unconditional pass is skipped (one network call per step). Otherwise cond and
/// uncond run as one batch of 2 when their contexts have the same length, which is faster than
/// stable-diffusion.cpp's two passes of batch 1; prompts of different chunk counts run as two passes.
struct GuidedNoisePredictor: NoisePredictor {
    let network: any DenoisingNetwork
    let cond: Conditioning
    let uncond: Conditioning?
    let scale: Float
    let extras: NetworkExtras
    /// cond and uncond stacked once for the batched pass ([2, L, D] and [2, A]), not every step.
    private let batched: Conditioning?

    init(network: any DenoisingNetwork, cond: Conditioning, uncond: Conditioning?, scale: Float, extras: NetworkExtras) {
        self.network = network
        self.cond = cond
        self.uncond = uncond
        self.scale = scale
        self.extras = extras
        if let uncond, scale != 1, cond.context.shape == uncond.context.shape {
            batched = Conditioning(
                context: Tensor.concat([cond.context, uncond.context], axis: 0),  // [2, L, D]
                added: cond.added.map { c in Tensor.concat([c, uncond.added ?? c], axis: 0) })  // [2, A]
        } else {
            batched = nil
        }
    }

    func predict(_ x: Tensor, timestep: Float) throws -> Tensor {
        guard let uncond, scale != 1 else {
            return try network.predict(x, timesteps: [timestep], conditioning: cond, extras: extras)
        }
        if let batched {
            let both = try network.predict(
                Tensor.concat([x, x], axis: 0), timesteps: [timestep, timestep], conditioning: batched, extras: extras)  // [2, C, h, w]
            let halves = both.chunked(2, axis: 0)  // [1, C, h, w] each
            return Tensor.weightedSum((1 - scale, halves[1]), (scale, halves[0]))
        }
        let c = try network.predict(x, timesteps: [timestep], conditioning: cond, extras: extras)
        let u = try network.predict(x, timesteps: [timestep], conditioning: uncond, extras: extras)
        return Tensor.weightedSum((1 - scale, u), (scale, c))
    }
}
