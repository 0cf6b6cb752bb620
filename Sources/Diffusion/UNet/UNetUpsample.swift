import Tensor

/// The UNet's upsampler, nearest-neighbour x2 then a 3x3 convolution: LDM `Upsample`
/// (`use_conv=True`), diffusers `Upsample2D`. Key: `conv`, relative to e.g.
/// `model.diffusion_model.output_blocks.2.1`.
struct UNetUpsample: Sendable {
    let conv: Conv2d  // conv

    init(_ w: Weights) throws {
        conv = try Conv2d(w["conv"], padding: 1)
    }

    /// [B, C, H, W] -> [B, C, 2H, 2W]
    func callAsFunction(_ x: Tensor) -> Tensor { conv(x.upsampledNearest(factor: 2)) }
}
