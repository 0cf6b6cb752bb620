import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

@Suite(.float32Arithmetic) struct AutoencoderKLTests {
    /// Fixtures from `python Tests/Golden/generate_vae_goldens.py` (diffusers `AutoencoderKL`, tiny
    /// configs, seeded random weights converted to LDM names): vae_tiny_2level has 1x1-conv attention
    /// projections and batch 2, vae_tiny_3level Linear projections, two res blocks per level and
    /// non-square inputs.
    @Test(arguments: [("vae_tiny_2level", 4), ("vae_tiny_3level", 4)])
    func encodeAndDecodeMatchDiffusers(name: String, groups: Int) throws {
        let golden = try GoldenCase(name)
        let vae = try AutoencoderKL(golden.index.weights("first_stage_model"), groups: groups)
        try golden.index.checkAllConsumed()

        let (mean, logVariance) = vae.encode(try golden.input("image"))
        let expectedMean = try golden.output("mean"), expectedLogVariance = try golden.output("logvar")
        #expect(nmse(mean, expectedMean) <= 1e-5, "\(name) mean: \(describeDifference(mean, expectedMean))")
        #expect(
            nmse(logVariance, expectedLogVariance) <= 1e-5,
            "\(name) logvar: \(describeDifference(logVariance, expectedLogVariance))")

        let image = vae.decode(try golden.input("latent"))
        let expectedImage = try golden.output("image")
        #expect(nmse(image, expectedImage) <= 1e-5, "\(name) image: \(describeDifference(image, expectedImage))")
    }

    /// The SD3 / FLUX VAE layout: 16 latent channels, no quant_conv / post_quant_conv, FLUX's
    /// `ae.safetensors` names (no prefix), and its latent transform (scale 0.3611, shift 0.1159).
    /// Golden: Tests/Golden/generate_vae16_goldens.py (diffusers `AutoencoderKL`). Measured: mean
    /// NMSE 2.4e-13, latent 2.3e-13, decoded picture 1.6e-13.
    @Test func sixteenChannelVAEWithoutQuantConvsMatchesDiffusers() throws {
        let golden = try GoldenCase("vae_tiny_flux16")
        let vae = try AutoencoderKL(golden.index.weights(), groups: 4)
        try golden.index.checkAllConsumed()
        #expect(vae.encoder.latentChannels == 16 && vae.decoder.latentChannels == 16)
        let scale = LatentScale(scalingFactor: 0.3611, shiftFactor: 0.1159)

        let (mean, logVariance) = vae.encode(try golden.input("image"))
        let expectedMean = try golden.output("mean"), expectedLatent = try golden.output("latent")
        #expect(nmse(mean, expectedMean) <= 1e-12, "mean: \(describeDifference(mean, expectedMean))")
        #expect(nmse(logVariance, try golden.output("logvar")) <= 1e-12)
        let latent = scale.latent(fromVAE: mean)
        #expect(nmse(latent, expectedLatent) <= 1e-12, "latent: \(describeDifference(latent, expectedLatent))")

        let image = vae.decode(scale.vae(fromLatent: try golden.input("latent")))
        let expectedImage = try golden.output("image")
        #expect(nmse(image, expectedImage) <= 1e-12, "image: \(describeDifference(image, expectedImage))")
    }

    /// The built-in tiny-shapes VAE, fp16 single file (LDM names, 1x1-conv attention) against the fp32
    /// diffusers folder it was converted from: fixture vae_tiny_shapes from
    /// `TINY_SHAPES=<tiny-shapes folder> python Tests/Golden/generate_vae_goldens.py`. The difference is
    /// the fp16 rounding of the weights.
    @Test func builtInVAEMatchesItsDiffusersFolder() throws {
        let vae = try Self.builtInVAE()
        let golden = try GoldenCase("vae_tiny_shapes")

        let image = vae.decode(try golden.input("latent"))
        let expectedImage = try golden.output("image")
        #expect(nmse(image, expectedImage) <= 1e-5, "tiny-shapes decode: \(describeDifference(image, expectedImage))")
        #expect(maxAbsDifference(image, expectedImage) <= 2e-2, "tiny-shapes decode: \(describeDifference(image, expectedImage))")

        let (mean, logVariance) = vae.encode(try golden.input("image"))
        let expectedMean = try golden.output("mean"), expectedLogVariance = try golden.output("logvar")
        #expect(nmse(mean, expectedMean) <= 1e-5, "tiny-shapes mean: \(describeDifference(mean, expectedMean))")
        #expect(
            nmse(logVariance, expectedLogVariance) <= 1e-4,
            "tiny-shapes logvar: \(describeDifference(logVariance, expectedLogVariance))")
    }

    /// Strict loading on a real checkpoint: the two halves read every `first_stage_model.*` tensor.
    @Test func buildingTheVAEConsumesEveryFirstStageTensor() throws {
        let index = try Self.builtInIndex()
        let vae = try AutoencoderKL(index.weights("first_stage_model"))
        try index.checkAllConsumed(under: "first_stage_model.")
        #expect(vae.encoder.downsamplingFactor == 8 && vae.decoder.upsamplingFactor == 8)
        #expect(vae.encoder.latentChannels == 4 && vae.decoder.latentChannels == 4)
        #expect(vae.decoder.levels.map(\.blocks.count) == [2, 2, 2, 2])
    }

    @Test func missingDecoderTensorIsNamed() throws {
        let golden = try GoldenCase("vae_tiny_2level")
        var tensors = golden.index.tensors
        tensors["first_stage_model.decoder.up.1.upsample.conv.weight"] = nil
        tensors["first_stage_model.decoder.conv_out.bias"] = nil
        let index = WeightIndex(source: "vae_tiny_2level.safetensors", tensors: tensors)
        #expect(
            throws: WeightError.missingTensor(
                file: "vae_tiny_2level.safetensors", tensor: "first_stage_model.decoder.up.1.upsample.conv.weight")
        ) { try VAEDecoder(index.weights("first_stage_model"), groups: 4) }
    }

    @Test func posteriorSampleIsMeanPlusStandardDeviationTimesNoise() {
        let mean = pseudoRandomTensor([1, 4, 3, 3], seed: 1)
        let noise = pseudoRandomTensor([1, 4, 3, 3], seed: 2)
        var logVariance = pseudoRandomTensor([1, 4, 3, 3], seed: 3, scale: 4)
        logVariance.withUnsafeMutableBufferPointer { $0[0] = 50; $0[1] = -80 }  // clamped to 20 and -30
        let z = VAEEncoder.sample(mean: mean, logVariance: logVariance, noise: noise)
        let (m, l, n) = (mean.scalars, logVariance.scalars, noise.scalars)
        let expected = (0..<m.count).map { i in m[i] + expf(0.5 * min(max(l[i], -30), 20)) * n[i] }
        #expect(z.scalars == expected)
    }

    @Test func latentScaleRoundTripsTheFamilyFactors() {
        let z = pseudoRandomTensor([1, 4, 2, 2], seed: 4)
        #expect(LatentScale.sd1.scalingFactor == 0.18215 && LatentScale.sdxl.scalingFactor == 0.13025)
        let latent = LatentScale.sd1.latent(fromVAE: z)
        #expect(latent.scalars == z.scalars.map { $0 * 0.18215 })
        #expect(LatentScale.sd1.vae(fromLatent: latent).scalars == latent.scalars.map { $0 / 0.18215 })
        #expect(LatentScale.identity.vae(fromLatent: z).scalars == z.scalars)
    }

    static func builtInIndex() throws -> WeightIndex {
        let path = repositoryRoot.appendingPathComponent("Weights/tiny-shapes/tiny-shapes.safetensors").path
        let file = try SafetensorsFile(path: path)
        return WeightIndex(source: "tiny-shapes.safetensors", tensors: file.tensors)
    }

    static func builtInVAE() throws -> AutoencoderKL {
        try AutoencoderKL(builtInIndex().weights("first_stage_model"))
    }
}
