import Tensor

/// The AutoencoderKL decoder with its `post_quant_conv`: latent z (already divided by the scaling
/// factor) -> image in about [-1, 1] (LDM `AutoencoderKL.post_quant_conv` then `Decoder` in
/// `ldm/modules/diffusionmodules/model.py`; diffusers `post_quant_conv` + `Decoder`).
///
/// Built from the `first_stage_model` scope; reads `post_quant_conv.*` and `decoder.*`. The width comes
/// from `decoder.conv_in` (slim decoders work, as in stable-diffusion.cpp), the levels from
/// `decoder.up.I` and the blocks per level (num_res_blocks + 1) from `up.I.block.J`.
public struct VAEDecoder: Sendable {
    let postQuantConv: Conv2d?  // post_quant_conv (absent when use_post_quant_conv=False)
    let convIn: Conv2d  // decoder.conv_in
    let mid: VAEMidBlock  // decoder.mid
    let levels: [Level]  // decoder.up.I, I = 0 ..< count; run from the deepest (last) to 0
    let normOut: GroupNorm  // decoder.norm_out
    let convOut: Conv2d  // decoder.conv_out

    struct Level: Sendable {
        let blocks: [VAEResnetBlock]  // up.I.block.J
        let upsample: Conv2d?  // up.I.upsample.conv (after nearest x2): every level but 0
    }

    /// - Parameter groups: GroupNorm groups (32 in SD; tiny test models use fewer).
    /// - Throws: `WeightError` for missing or misshapen tensors.
    public init(_ w: Weights, groups: Int = 32) throws {
        postQuantConv = w.contains("post_quant_conv") ? try Conv2d(w["post_quant_conv"]) : nil
        let d = w["decoder"]
        convIn = try Conv2d(d["conv_in"], padding: 1)
        mid = try VAEMidBlock(d["mid"], groups: groups)
        var levels: [Level] = []
        while d.contains("up.\(levels.count)") {
            let u = d["up"][levels.count]
            var blocks: [VAEResnetBlock] = []
            while u.contains("block.\(blocks.count)") { blocks.append(try VAEResnetBlock(u["block"][blocks.count], groups: groups)) }
            let upsample = u.contains("upsample") ? try Conv2d(u["upsample.conv"], padding: 1) : nil
            levels.append(Level(blocks: blocks, upsample: upsample))
        }
        guard !levels.isEmpty else { throw WeightError.missingTensor(file: w.index.source, tensor: d.key("up.0")) }
        self.levels = levels
        normOut = try GroupNorm(d["norm_out"], groups: groups, epsilon: 1e-6)
        convOut = try Conv2d(d["conv_out"], padding: 1)
        try checkChannelFlow(w)
    }

    /// How many pixels one latent cell becomes per side (8 in SD).
    public var upsamplingFactor: Int { 1 << levels.filter { $0.upsample != nil }.count }

    /// Latent channels read (4 in SD 1/2/XL).
    public var latentChannels: Int { postQuantConv?.inChannels ?? convIn.inChannels }

    /// Decodes z [B, latentChannels, h, w] (the UNet's latent divided by the scaling factor) into an
    /// image [B, 3, f·h, f·w] in about [-1, 1], f = `upsamplingFactor`; not clamped.
    public func callAsFunction(_ latent: Tensor) -> Tensor {
        precondition(
            latent.rank == 4 && latent.shape[1] == latentChannels,
            "VAEDecoder: expected [B, \(latentChannels), h, w], got \(latent.shape)")
        var h = postQuantConv?.callAsFunction(latent) ?? latent
        h = convIn(h)
        h = mid(h)
        // LDM builds `up` so that up.I mirrors down.I, and runs it in reverse.
        for level in levels.reversed() {
            for block in level.blocks { h = block(h) }
            if let upsample = level.upsample { h = upsample(h.upsampledNearest(factor: 2)) }
        }
        return convOut(normOut(h, silu: true))
    }
}
