import Foundation
import Tensor

/// TAESD, the tiny distilled VAE decoder: the UNet's latent (not divided by a scaling factor) ->
/// image in [-1, 1] (madebyollin/taesd `Decoder`; diffusers `DecoderTiny`, whose output convention
/// [-1, 1] is kept so every decoder here feeds the same `(x + 1) / 2` image conversion).
///
/// Reads `decoder.layers.N.*` from the scope given, the names of madebyollin/taesd
/// `diffusion_pytorch_model.safetensors` (and taesdxl's), which stable-diffusion.cpp also reads. The
/// original `taesd_decoder.safetensors` numbers the same layers one higher with no prefix (its index 0
/// is the weightless clamp): renaming it is the loader's KeyMap's job. The layout follows diffusers
/// `DecoderTiny`, with the stage count and the blocks per stage read off the weights:
///
///     0 conv_in, 1 ReLU, then per stage: blocks, and either (Upsample x2, conv without bias)
///     or, for the last stage, conv_out (with bias).
public struct TAESDDecoder: Sendable {
    let layers: [Layer]

    enum Layer: Sendable {
        case conv(Conv2d)
        case relu
        case block(TAESDBlock)
        case upsample
    }

    /// - Throws: `WeightError` for missing or misshapen tensors.
    public init(_ w: Weights) throws {
        let l = w["decoder.layers"]
        var layers: [Layer] = [.conv(try Conv2d(l[0], padding: 1)), .relu]  // layers.0, layers.1 (ReLU)
        var i = 2
        while true {
            while l[i].contains("conv") {
                layers.append(.block(try TAESDBlock(l[i])))
                i += 1
            }
            if l.contains(String(i)) {
                layers.append(.conv(try Conv2d(l[i], padding: 1)))  // the final conv, 64 -> 3
                break
            }
            // A weightless index between blocks and a conv is nn.Upsample (nearest x2).
            layers.append(.upsample)
            layers.append(.conv(try Conv2d(l[i + 1], padding: 1)))
            i += 2
        }
        self.layers = layers
    }

    /// How many pixels one latent cell becomes per side (8).
    public var upsamplingFactor: Int { 1 << layers.filter { if case .upsample = $0 { true } else { false } }.count }

    /// Latent [B, 4, h, w], as the UNet produces it -> image [B, 3, f·h, f·w] in about [-1, 1].
    public func callAsFunction(_ latent: Tensor) -> Tensor {
        guard case .conv(let first) = layers.first, latent.rank == 4, latent.shape[1] == first.inChannels else {
            preconditionFailure("TAESDDecoder: latent \(latent.shape) does not fit the first layer")
        }
        // Soft clamp of the latent to (-3, 3).
        var h = latent.mappingScalars { tanhf($0 / 3) * 3 }
        for layer in layers {
            switch layer {
            case .conv(let conv): h = conv(h)
            case .relu: h = h.relu()
            case .block(let block): h = block(h)
            case .upsample: h = h.upsampledNearest(factor: 2)
            }
        }
        return h.affine(scale: 2, shift: -1)  // [0, 1] -> [-1, 1], diffusers' x.mul(2).sub(1)
    }

    /// `callAsFunction` over blended tiles of `tileSize` latent cells (see `TiledProcessing`).
    public func decodeTiled(_ latent: Tensor, tileSize: Int = 32, overlap: Float = 0.5) -> Tensor {
        TiledProcessing.run(latent, tile: tileSize, overlap: overlap, inputScale: 1, outputScale: upsamplingFactor) { self($0) }
    }
}
