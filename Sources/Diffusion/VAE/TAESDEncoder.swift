import Tensor

/// TAESD's encoder: image [B, 3, H, W] in [-1, 1] -> the UNet's latent [B, 4, H/8, W/8] directly (no
/// posterior, no scaling factor) (madebyollin/taesd `Encoder`; diffusers `EncoderTiny`).
///
/// Reads `encoder.layers.N.*`. Layout of diffusers `EncoderTiny`, stages and blocks read off the
/// weights: 0 conv_in, blocks, then per further stage a stride-2 conv without bias and its blocks,
/// and last conv_out.
public struct TAESDEncoder: Sendable {
    let layers: [Layer]

    enum Layer: Sendable {
        case conv(Conv2d)
        case block(TAESDBlock)
    }

    /// - Throws: `WeightError` for missing or misshapen tensors.
    public init(_ w: Weights) throws {
        let l = w["encoder.layers"]
        var layers: [Layer] = [.conv(try Conv2d(l[0], padding: 1))]
        var i = 1
        while true {
            if l[i].contains("conv") {
                layers.append(.block(try TAESDBlock(l[i])))
            } else if l.contains(String(i + 1)) {
                layers.append(.conv(try Conv2d(l[i], stride: 2, padding: 1)))  // a stage's downsampling conv
            } else {
                layers.append(.conv(try Conv2d(l[i], padding: 1)))  // conv_out, 64 -> 4
                break
            }
            i += 1
        }
        self.layers = layers
    }

    /// Image [B, 3, H, W] in [-1, 1] -> latent [B, 4, H/8, W/8] in the UNet's scale.
    public func callAsFunction(_ image: Tensor) -> Tensor {
        guard case .conv(let first) = layers.first, image.rank == 4, image.shape[1] == first.inChannels else {
            preconditionFailure("TAESDEncoder: image \(image.shape) does not fit the first layer")
        }
        var h = image.affine(scale: 0.5, shift: 0.5)  // [-1, 1] -> [0, 1], diffusers' x.add(1).div(2)
        for layer in layers {
            switch layer {
            case .conv(let conv): h = conv(h)
            case .block(let block): h = block(h)
            }
        }
        return h
    }
}
