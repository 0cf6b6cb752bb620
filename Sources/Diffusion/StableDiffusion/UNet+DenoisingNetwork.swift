import Tensor

/// The SD UNet as the driver's network: extra channels concatenated to the input, ControlNet
/// residuals added to its skips and middle block.
extension UNet: DenoisingNetwork {
    public var spatialMultiple: Int { 1 << (config.levelCount - 1) }

    public var imageConditioning: ImageConditioning {
        switch config.inChannels {
        case 9: .maskAndMaskedLatent
        case 8: .unsupported("instruct-pix2pix models are not supported")
        default: .none
        }
    }

    public func predict(_ x: Tensor, timesteps: [Float], conditioning: Conditioning, extras: NetworkExtras) throws -> Tensor {
        var input = x
        if let extra = extras.concatenatedChannels {
            let batch = x.shape[0]
            let repeated = batch == 1 ? extra : Tensor.concat(Array(repeating: extra, count: batch), axis: 0)  // [B, C', h, w]
            input = Tensor.concat([x, repeated], axis: 1)  // [B, C + C', h, w]
        }
        // The ControlNet reads the latent alone, as diffusers' ControlNet inpainting pipeline does.
        let residuals = extras.control?.residuals(x, timesteps: timesteps, conditioning: conditioning)
        return self(input, timesteps: timesteps, context: conditioning.context, added: conditioning.added, control: residuals)
    }
}
