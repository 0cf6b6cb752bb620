import Foundation
import Tensor

/// The AutoencoderKL encoder with its `quant_conv`: image [B, 3, H, W] in [-1, 1] -> the posterior's
/// moments (LDM `Encoder` in `ldm/modules/diffusionmodules/model.py` with `double_z=True`, then
/// `AutoencoderKL.quant_conv`; diffusers `Encoder` + `quant_conv`).
///
/// Built from the `first_stage_model` scope; reads `encoder.*` and `quant_conv.*`. Channel widths,
/// the number of levels (`encoder.down.I`) and of blocks per level (`down.I.block.J`) come from the
/// weights; only the GroupNorm group count (32 in every SD VAE) is passed.
public struct VAEEncoder: Sendable {
    let convIn: Conv2d  // encoder.conv_in
    let levels: [Level]  // encoder.down.I
    let mid: VAEMidBlock  // encoder.mid
    let normOut: GroupNorm  // encoder.norm_out
    let convOut: Conv2d  // encoder.conv_out
    let quantConv: Conv2d?  // quant_conv (absent from VAEs trained with use_quant_conv=False)

    struct Level: Sendable {
        let blocks: [VAEResnetBlock]  // down.I.block.J
        let downsample: Conv2d?  // down.I.downsample.conv: every level but the last
    }

    /// - Parameter groups: GroupNorm groups (32 in SD; tiny test models use fewer).
    /// - Throws: `WeightError` for missing or misshapen tensors.
    public init(_ w: Weights, groups: Int = 32) throws {
        let e = w["encoder"]
        convIn = try Conv2d(e["conv_in"], padding: 1)
        var levels: [Level] = []
        while e.contains("down.\(levels.count)") {
            let d = e["down"][levels.count]
            var blocks: [VAEResnetBlock] = []
            while d.contains("block.\(blocks.count)") { blocks.append(try VAEResnetBlock(d["block"][blocks.count], groups: groups)) }
            // The reference pads right and bottom by one, then runs a 3x3 stride-2 conv without padding
            // (torch.nn.functional.pad(x, (0, 1, 0, 1))): asymmetric, so not Conv2d(padding: 1).
            let downsample = d.contains("downsample")
                ? try Conv2d(d["downsample.conv"], stride: 2, padding: Padding2d(top: 0, bottom: 1, left: 0, right: 1)) : nil
            levels.append(Level(blocks: blocks, downsample: downsample))
        }
        guard !levels.isEmpty else { throw WeightError.missingTensor(file: w.index.source, tensor: e.key("down.0")) }
        self.levels = levels
        mid = try VAEMidBlock(e["mid"], groups: groups)
        normOut = try GroupNorm(e["norm_out"], groups: groups, epsilon: 1e-6)
        convOut = try Conv2d(e["conv_out"], padding: 1)
        quantConv = w.contains("quant_conv") ? try Conv2d(w["quant_conv"]) : nil
        try checkChannelFlow(w)
    }

    /// How many pixels one latent cell covers per side (8 in SD: one per downsample, doubling).
    public var downsamplingFactor: Int { 1 << levels.filter { $0.downsample != nil }.count }

    /// Latent channels (4 in SD 1/2/XL): half of the moments, which hold mean then log-variance.
    public var latentChannels: Int { (quantConv?.outChannels ?? convOut.outChannels) / 2 }

    /// The posterior's moments: [B, 3, H, W] -> [B, 2·latentChannels, H/f, W/f] (mean, then
    /// log-variance along channels), f = `downsamplingFactor`.
    public func callAsFunction(_ image: Tensor) -> Tensor {
        precondition(
            image.rank == 4 && image.shape[1] == convIn.inChannels,
            "VAEEncoder: expected [B, \(convIn.inChannels), H, W], got \(image.shape)")
        var h = convIn(image)
        for level in levels {
            for block in level.blocks { h = block(h) }
            if let downsample = level.downsample { h = downsample(h) }
        }
        h = mid(h)
        h = convOut(normOut(h, silu: true))
        return quantConv?.callAsFunction(h) ?? h
    }

    /// The posterior N(mean, exp(logVariance)) of `image` ([B, 3, H, W] in [-1, 1]), each
    /// [B, latentChannels, H/f, W/f]. The log-variance is clamped to [-30, 20] as diffusers and LDM
    /// `DiagonalGaussianDistribution` do.
    public func encode(_ image: Tensor) -> (mean: Tensor, logVariance: Tensor) {
        VAEEncoder.posterior(moments: self(image))
    }

    /// Splits moments [B, 2z, h, w] into mean and clamped log-variance, each [B, z, h, w].
    static func posterior(moments: Tensor) -> (mean: Tensor, logVariance: Tensor) {
        let z = moments.shape[1] / 2
        let mean = moments.narrowed(axis: 1, start: 0, length: z)  // [B, 2z, h, w] -> [B, z, h, w]
        let logVariance = moments.narrowed(axis: 1, start: z, length: z)  // [B, 2z, h, w] -> [B, z, h, w]
        return (mean, logVariance.clamped(min: -30, max: 20))
    }

    /// A sample of the posterior: `mean + exp(0.5 · clamp(logVariance, -30, 20)) · noise`
    /// (LDM/diffusers `DiagonalGaussianDistribution.sample`, with the noise drawn by the caller from the
    /// engine's RNG). All three tensors have the same shape. The result is not yet multiplied by the
    /// scaling factor: see `LatentScale`.
    public static func sample(mean: Tensor, logVariance: Tensor, noise: Tensor) -> Tensor {
        precondition(
            mean.shape == logVariance.shape && mean.shape == noise.shape,
            "VAEEncoder.sample: mean \(mean.shape), logVariance \(logVariance.shape), noise \(noise.shape)")
        var out = mean
        out.withUnsafeMutableBufferPointer { o in
            logVariance.withUnsafeBufferPointer { l in
                noise.withUnsafeBufferPointer { n in
                    for i in o.indices {
                        let std = expf(0.5 * Swift.min(Swift.max(l[i], -30), 20))
                        o[i] += std * n[i]
                    }
                }
            }
        }
        return out
    }
}
