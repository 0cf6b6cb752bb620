import Foundation
import Tensor

/// A ControlNet (Zhang, Rao & Agrawala 2023; ControlLDM `cldm.ControlNet`, diffusers
/// `ControlNetModel`): a trained copy of a UNet's encoder that reads a control picture (edges,
/// depth, pose) and returns residuals for the UNet's skip connections and middle block.
///
/// Per evaluation it takes what the UNet takes (the latent, timestep, context and SDXL's added
/// vector), adds the encoded control picture after its first block, and passes every input
/// block's output and the middle block's output through a 1x1 "zero" convolution; the results,
/// times the strength, are the residuals (`ControlResiduals`).
///
/// Keys are relative to `control_model` (the canonical names; `ControlNetFile` renames diffusers
/// files onto them).
public struct ControlNet: Sendable {
    /// The encoder's geometry (encoder-only: no output blocks).
    public let config: UNetConfig
    /// What the weights were loaded from.
    public let source: String
    let hintEncoder: ControlHintEncoder  // input_hint_block
    let encoder: UNetEncoder  // time_embed, label_emb, input_blocks, middle_block
    let zeroConvolutions: [Conv2d]  // zero_convs.N.0
    let middleOutput: Conv2d  // middle_block_out.0

    /// Builds every layer from `w` (the scope `control_model`).
    /// - Throws: `WeightError` for a missing, mis-shaped or ill-fitting tensor.
    public init(_ w: Weights, config: UNetConfig) throws {
        guard config.hasMiddleBlock else { throw WeightError.missingTensor(file: w.index.source, tensor: w.key("middle_block.0")) }
        self.config = config
        source = w.index.source
        hintEncoder = try ControlHintEncoder(w["input_hint_block"])
        encoder = try UNetEncoder(w, config: config)
        zeroConvolutions = try (0..<encoder.inputBlocks.count).map { try Conv2d(w["zero_convs"][$0]["0"]) }
        middleOutput = try Conv2d(w["middle_block_out.0"])
        try checkChannelFlow(w)
    }

    /// Pixels per cell of the encoded control picture (8: the latent's cell).
    public var downscale: Int { hintEncoder.downscale }

    /// The control picture as the network takes it: [1, 3, H, W] in [0, 1] (diffusers'
    /// `do_normalize=False`, LDM's hint), encoded once per generation since it does not depend on
    /// the step. H and W are the latent's sides times `downscale`.
    /// - Returns: [1, C0, H / 8, W / 8].
    public func encodeHint(_ picture: Tensor) -> Tensor {
        precondition(
            picture.rank == 4 && picture.shape[1] == hintEncoder.inChannels,
            "ControlNet: control picture \(picture.shape) needs [B, \(hintEncoder.inChannels), H, W]")
        return hintEncoder(picture)
    }

    /// The residuals for one evaluation, scaled by `strength`.
    /// - Parameters:
    ///   - x: the latent the UNet gets (without an inpainting UNet's extra channels) [B, C, h, w].
    ///   - hint: `encodeHint`'s output [1, C0, h, w] (shared by every batch item) or [B, C0, h, w].
    /// - Returns: one residual per input block and one for the middle block, each shaped as the
    ///   UNet's matching activation.
    public func residuals(
        _ x: Tensor, timesteps: [Float], context: Tensor, added: Tensor?, hint: Tensor, strength: Float
    ) -> ControlResiduals {
        precondition(
            x.rank == 4 && x.shape[1] == config.inChannels && timesteps.count == x.shape[0],
            "ControlNet: x \(x.shape) needs [B, \(config.inChannels), h, w] and one timestep per item")
        precondition(
            hint.rank == 4 && Array(hint.shape.dropFirst(2)) == Array(x.shape.dropFirst(2)),
            "ControlNet: encoded control picture \(hint.shape) does not match the latent \(x.shape)")
        let activated = encoder.activatedEmbedding(timesteps: timesteps, added: added, network: "ControlNet")
        let (skips, middle) = encoder(x, activatedEmbedding: activated, context: context, hint: hint)
        func scaled(_ t: Tensor) -> Tensor { strength == 1 ? t : t.scaled(by: strength) }
        return ControlResiduals(
            skips: zip(zeroConvolutions, skips).map { conv, skip in scaled(conv(skip)) },
            middle: scaled(middleOutput(middle)))
    }

    /// Why this ControlNet cannot steer `unet`, or nil when it can (see `incompatibility(of:with:)`).
    public func incompatibility(with unet: UNetConfig) -> String? { Self.incompatibility(of: config, with: unet) }

    /// Why a ControlNet of geometry `config` cannot steer `unet`, or nil when it can: its residuals
    /// must have the shapes of the UNet's skips (the same widths, levels and blocks), and it must
    /// read the same conditioning (context width, SDXL's added vector) and latent channels.
    public static func incompatibility(of config: UNetConfig, with unet: UNetConfig) -> String? {
        func describe(_ c: UNetConfig) -> String {
            let kind = c.addedConditionChannels != nil ? "SDXL" : c.contextDimension == 768 ? "SD 1.x" : c.contextDimension == 1024 ? "SD 2.x" : "custom"
            return "\(kind): context \(c.contextDimension.map(String.init) ?? "none"), widths \(c.levelChannels.map(String.init).joined(separator: "/"))"
        }
        let latentChannels = unet.inChannels == 9 || unet.inChannels == 8 ? 4 : unet.inChannels
        let fits =
            config.contextDimension == unet.contextDimension && config.addedConditionChannels == unet.addedConditionChannels
            && config.levelChannels == unet.levelChannels && config.resBlocksPerLevel == unet.resBlocksPerLevel
            && config.modelChannels == unet.modelChannels && config.timestepChannels == unet.timestepChannels
            && config.inChannels == latentChannels && unet.hasMiddleBlock
        return fits ? nil : "the ControlNet (\(describe(config))) does not fit the model (\(describe(unet)))"
    }

    private func checkChannelFlow(_ w: Weights) throws {
        try hintEncoder.checkChannelFlow(w["input_hint_block"])
        let (skips, middle) = try encoder.checkChannelFlow(w, inChannels: config.inChannels)
        // The hint is added to input block 0's output.
        if hintEncoder.outChannels != skips[0] {
            throw mismatch(w["input_hint_block"][2 * (hintEncoder.convolutions.count - 1)], "weight", skips[0], hintEncoder.outChannels)
        }
        for (n, (conv, channels)) in zip(zeroConvolutions, skips).enumerated() where conv.inChannels != channels || conv.outChannels != channels {
            throw mismatch(w["zero_convs"][n]["0"], "weight", channels, conv.inChannels)
        }
        if middleOutput.inChannels != middle || middleOutput.outChannels != middle {
            throw mismatch(w["middle_block_out.0"], "weight", middle, middleOutput.inChannels)
        }
    }
}
