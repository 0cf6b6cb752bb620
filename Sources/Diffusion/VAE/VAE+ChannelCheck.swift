import Tensor

// As for the UNet (UNet+ChannelCheck.swift): each layer must take the channels the layers before
// it give, so a corrupt or hand-edited VAE is refused at load with the tensor named.

extension VAEResnetBlock {
    /// The channels after the block, given `input`.
    func checkChannels(_ input: Int, _ w: Weights) throws -> Int {
        let width = conv1.outChannels
        if norm1.channels != input { throw mismatch(w, "norm1.weight", input, norm1.channels) }
        if conv1.inChannels != input { throw mismatch(w, "conv1.weight", input, conv1.inChannels) }
        if norm2.channels != width { throw mismatch(w, "norm2.weight", width, norm2.channels) }
        if conv2.inChannels != width { throw mismatch(w, "conv2.weight", width, conv2.inChannels) }
        let output = conv2.outChannels
        if let shortcut {
            if shortcut.inChannels != input || shortcut.outChannels != output {
                throw mismatch(w, "nin_shortcut.weight", input, shortcut.inChannels)
            }
        } else if input != output {
            throw mismatch(w, "nin_shortcut.weight", input, output)
        }
        return output
    }
}

extension VAEMidBlock {
    func checkChannels(_ input: Int, _ w: Weights) throws -> Int {
        let channels = try block1.checkChannels(input, w["block_1"])
        let a = w["attn_1"]
        if attention.norm.channels != channels { throw mismatch(a, "norm.weight", channels, attention.norm.channels) }
        for (name, layer) in [("q", attention.query), ("k", attention.key), ("v", attention.value), ("proj_out", attention.output)]
        where layer.inFeatures != channels || layer.outFeatures != channels {
            throw mismatch(a, "\(name).weight", channels, layer.inFeatures)
        }
        return try block2.checkChannels(channels, w["block_2"])
    }
}

extension VAEEncoder {
    func checkChannelFlow(_ w: Weights) throws {
        let e = w["encoder"]
        var channels = convIn.outChannels
        if convIn.inChannels != 3 { throw mismatch(e, "conv_in.weight", 3, convIn.inChannels) }
        for (i, level) in levels.enumerated() {
            for (j, block) in level.blocks.enumerated() { channels = try block.checkChannels(channels, e["down"][i]["block"][j]) }
            if let downsample = level.downsample {
                if downsample.inChannels != channels { throw mismatch(e["down"][i], "downsample.conv.weight", channels, downsample.inChannels) }
                channels = downsample.outChannels
            }
        }
        channels = try mid.checkChannels(channels, e["mid"])
        if normOut.channels != channels { throw mismatch(e, "norm_out.weight", channels, normOut.channels) }
        if convOut.inChannels != channels { throw mismatch(e, "conv_out.weight", channels, convOut.inChannels) }
        if let quantConv, quantConv.inChannels != convOut.outChannels {
            throw mismatch(w, "quant_conv.weight", convOut.outChannels, quantConv.inChannels)
        }
    }
}

extension VAEDecoder {
    func checkChannelFlow(_ w: Weights) throws {
        let d = w["decoder"]
        if let postQuantConv, postQuantConv.outChannels != convIn.inChannels {
            throw mismatch(d, "conv_in.weight", postQuantConv.outChannels, convIn.inChannels)
        }
        var channels = try mid.checkChannels(convIn.outChannels, d["mid"])
        for (i, level) in levels.enumerated().reversed() {
            for (j, block) in level.blocks.enumerated() { channels = try block.checkChannels(channels, d["up"][i]["block"][j]) }
            if let upsample = level.upsample {
                if upsample.inChannels != channels { throw mismatch(d["up"][i], "upsample.conv.weight", channels, upsample.inChannels) }
                channels = upsample.outChannels
            }
        }
        if normOut.channels != channels { throw mismatch(d, "norm_out.weight", channels, normOut.channels) }
        if convOut.inChannels != channels { throw mismatch(d, "conv_out.weight", channels, convOut.inChannels) }
    }
}
