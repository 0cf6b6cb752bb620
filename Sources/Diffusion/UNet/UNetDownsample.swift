import Tensor

/// The UNet's downsampler, a stride-2 3x3 convolution with padding 1: LDM `Downsample`
/// (`use_conv=True`), diffusers `Downsample2D`. Key: `op`, relative to e.g.
/// `model.diffusion_model.input_blocks.3.0`.
struct UNetDownsample: Sendable {
    let conv: Conv2d  // op

    init(_ w: Weights) throws {
        conv = try Conv2d(w["op"], stride: 2, padding: 1)
    }

    /// [B, C, H, W] -> [B, C, ceil(H/2), ceil(W/2)]
    func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
}
