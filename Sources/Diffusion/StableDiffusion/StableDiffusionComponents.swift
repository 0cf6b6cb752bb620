import Samplers
import Tensor

/// Builds the parts of an SD 1.x, 2.x or XL checkpoint: CLIP conditioner(s), the UNet, the KL VAE
/// codec and the eps or v parameterization over SD's scaled-linear sigma table.
enum StableDiffusionComponents {
    static func load(
        _ checkpoint: Checkpoint, tokenizer: CLIPTokenizer, fastDecoder: TAESDDecoder?, controlNet controlNetPath: String?
    ) throws -> ModelComponents {
        let root = checkpoint.index.weights()
        let config = checkpoint.config
        let architecture = checkpoint.family.architecture
        let encoder = try CLIPTextEncoder(root["cond_stage_model.transformer"], heads: config.textEncoderHeads)
        let conditioner: any TextConditioner
        switch architecture {
        case .sd1, .sd2:
            // Only the exact truncation of SD 2.x diffusers folders (23 of OpenCLIP-H's 24 layers)
            // is corrected; any other depth is taken as whole.
            conditioner = CLIPTextConditioner(
                tokenizer: tokenizer, encoder: encoder, padding: architecture == .sd1 ? .endOfText : .zero,
                defaultClipSkip: checkpoint.family.defaultClipSkip,
                missingLayers: architecture == .sd2 && encoder.layerCount == 23 ? 1 : 0)
        case .sdxl:
            let bigG = try CLIPTextEncoder(root["cond_stage_model.1.transformer"], heads: config.textEncoder2Heads)
            conditioner = SDXLTextConditioner(tokenizer: tokenizer, encoderL: encoder, encoderG: bigG)
        }
        let heads = config.unetAttentionHeads ?? (architecture == .sd1 ? .count(8) : .headWidth(64))
        let unetWeights = root["model.diffusion_model"]
        let unetConfig = try UNetConfig(detectingFrom: unetWeights, attention: heads, normGroups: config.unetNormGroups ?? 32)
        let unet = try UNet(unetWeights, config: unetConfig)
        let vae = try AutoencoderKL(root["first_stage_model"], groups: config.vaeNormGroups ?? 32)
        try checkpoint.checkAllConsumed()
        let controlNet = try controlNetPath.map { try ControlNet.load(path: $0, for: unetConfig) }
        // Its encoded picture is added to the latent-sized first block: the factors must agree.
        if let controlNet, controlNet.downscale != checkpoint.vaeDownscale {
            throw ControlNetError.doesNotFit(
                file: controlNet.source,
                reason: "its hint encoder downsamples \(controlNet.downscale)x, the model's VAE \(checkpoint.vaeDownscale)x")
        }

        let table = SigmaTable.stableDiffusion
        let parameterization: any Parameterization =
            switch checkpoint.predictionType {
            case .epsilon: EpsilonParameterization(table: table)
            case .v: VParameterization(table: table)
            }
        var components = ModelComponents(
            checkpoint: checkpoint, conditioner: conditioner, network: unet,
            codec: VAELatentCodec(vae: vae, scale: LatentScale(scalingFactor: checkpoint.vaeScalingFactor), fastDecoder: fastDecoder),
            parameterization: parameterization, nativeSize: checkpoint.resolution,
            alignYourSteps: architecture == .sdxl ? .sdxl : .sd15)
        components.controlNet = controlNet
        return components
    }
}
