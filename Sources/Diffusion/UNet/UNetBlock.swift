import Tensor

/// One numbered block of the UNet (`input_blocks.N`, `middle_block`, `output_blocks.N`): LDM
/// `TimestepEmbedSequential`, a sequence of layers at indices 0, 1, 2 that each take what they
/// need of the feature map, the timestep embedding and the context.
struct UNetBlock: Sendable {
    /// A layer of a block; its index in `layers` is its LDM index (`input_blocks.1.1` is layer 1).
    enum Layer: Sendable {
        case convolution(Conv2d)  // input_blocks.0.0 only
        case res(ResBlock)
        case transformer(SpatialTransformer)
        case downsample(UNetDownsample)
        case upsample(UNetUpsample)
    }

    let layers: [Layer]

    /// x [B, Cin, H, W] -> [B, Cout, H', W']
    func callAsFunction(_ x: Tensor, activatedEmbedding: Tensor, context: Tensor) -> Tensor {
        var h = x
        for layer in layers {
            switch layer {
            case .convolution(let conv): h = conv(h)
            case .res(let block): h = block(h, activatedEmbedding: activatedEmbedding)
            case .transformer(let transformer): h = transformer(h, context: context)
            case .downsample(let down): h = down(h)
            case .upsample(let up): h = up(h)
            }
        }
        return h
    }
}
