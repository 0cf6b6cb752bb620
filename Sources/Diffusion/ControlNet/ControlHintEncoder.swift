import Tensor

/// A ControlNet's control-image encoder (LDM `input_hint_block`, diffusers
/// `ControlNetConditioningEmbedding`): 3x3 convolutions with SiLU between them, every second one
/// after the first halving the size, so a picture [B, 3, H, W] in [0, 1] becomes a feature map of
/// the latent's size and the UNet's first width. Released ControlNets have 8 convolutions
/// (16, 16, 32, 32, 96, 96, 256 channels, then 320) and a total factor of 8.
///
/// Keys: `input_hint_block.{0, 2, 4, ...}` (the odd indices are the SiLUs, which have no weights).
struct ControlHintEncoder: Sendable {
    let convolutions: [Conv2d]

    /// - Throws: `WeightError` when the block has fewer than two convolutions or one is mis-shaped.
    init(_ w: Weights) throws {
        var count = 0
        while w.contains(String(2 * count)) { count += 1 }
        guard count >= 2 else { throw WeightError.missingTensor(file: w.index.source, tensor: w.key("\(2 * count).weight")) }
        // diffusers: conv_in, then blocks of (same width, stride 1) and (next width, stride 2),
        // then conv_out; so position k halves the size when k is even and neither first nor last.
        convolutions = try (0..<count).map { k in
            try Conv2d(w[2 * k], stride: k % 2 == 0 && k > 0 && k < count - 1 ? 2 : 1, padding: 1)
        }
    }

    /// Total downsampling factor (8 for released ControlNets).
    var downscale: Int { convolutions.reduce(1) { $0 * $1.stride } }
    var inChannels: Int { convolutions[0].inChannels }
    var outChannels: Int { convolutions[convolutions.count - 1].outChannels }

    /// [B, 3, H, W] -> [B, C0, H / downscale, W / downscale]
    func callAsFunction(_ image: Tensor) -> Tensor {
        var h = image
        for (k, conv) in convolutions.enumerated() {
            h = conv(h)
            if k < convolutions.count - 1 { h = h.silu() }
        }
        return h
    }

    /// Each convolution must take the channels the one before gives.
    func checkChannelFlow(_ w: Weights) throws {
        for k in 1..<convolutions.count where convolutions[k].inChannels != convolutions[k - 1].outChannels {
            throw mismatch(w[2 * k], "weight", convolutions[k - 1].outChannels, convolutions[k].inChannels)
        }
    }
}
