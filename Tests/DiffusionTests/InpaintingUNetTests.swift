import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// The 9-channel inpainting path, on the built-in model turned into an "inpainting UNet" whose
/// first convolution takes [latent (4), mask (1), masked-picture latent (4)] with zero weights on
/// the five extra channels: it must be detected as inpainting, get the extra channels in LDM order,
/// and, since they are weighted by zero, draw what the original model draws.
@Suite(.serialized) struct InpaintingUNetTests {
    static let builtIn = repositoryRoot.appendingPathComponent("Weights/tiny-shapes")

    func withInpaintingVariant(_ body: (DiffusionPipeline, DiffusionPipeline) throws -> Void) throws {
        let original = try Checkpoint(path: Self.builtIn.appendingPathComponent("tiny-shapes.safetensors").path)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("inpaint-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var writer = SafetensorsWriter()
        for name in original.index.names {
            guard let stored = original.index.tensors[name] else { continue }
            if name == "model.diffusion_model.input_blocks.0.0.weight" {
                let w = try stored.toTensor()  // [64, 4, 3, 3]
                let extra = Tensor.zeros([w.shape[0], 5, 3, 3])
                writer.add(name, Tensor.concat([w, extra], axis: 1), as: .f16)  // [64, 9, 3, 3]
            } else {
                writer.add(name, dtype: stored.dtype, shape: stored.shape, encodedBytes: Array(stored.bytes))
            }
        }
        try writer.write(to: folder + "/inpaint.safetensors")
        for config in ["scheduler_config.json", "unet_config.json", "text_encoder_config.json"] {
            try FileManager.default.copyItem(atPath: Self.builtIn.appendingPathComponent(config).path, toPath: folder + "/" + config)
        }
        let tokenizer = try CLIPTokenizer(
            vocabulary: Self.builtIn.appendingPathComponent("vocab.json"), merges: Self.builtIn.appendingPathComponent("merges.txt"))
        let inpainting = try DiffusionPipeline(
            checkpoint: try Checkpoint(path: folder + "/inpaint.safetensors"), tokenizer: tokenizer, name: "inpaint")
        let standard = try DiffusionPipeline(checkpoint: original, tokenizer: tokenizer, name: "standard")
        try body(inpainting, standard)
    }

    @Test func nineChannelUNetGetsItsExtraChannelsAndIgnoresZeroWeightedOnes() throws {
        try withInpaintingVariant { inpainting, standard in
            #expect(inpainting.family.variant == .inpainting && inpainting.unet.config.inChannels == 9)
            var o = GenerationOptions(prompt: "a red circle on a blue background")
            o.steps = 6
            o.width = 128
            o.height = 128
            let a = try #require(try inpainting.generate(o).first), b = try #require(try standard.generate(o).first)
            #expect(nmse(a.latent, b.latent) < 1e-10, "\(describeDifference(a.latent, b.latent))")

            // With a picture and a mask the inpainting UNet gets them as channels (no latent
            // blending): the run works at a size that needs padding too.
            o.width = 136
            o.height = 72
            o.initImage = RGBImage(width: 50, height: 40, pixels: [UInt8](repeating: 200, count: 50 * 40 * 3))
            o.mask = RGBImage(width: 50, height: 40, pixels: [UInt8](repeating: 255, count: 50 * 40 * 3))
            let edited = try #require(try inpainting.generate(o).first)
            #expect(edited.image.width == 136 && edited.image.height == 72)
            #expect(edited.latent.scalars.allSatisfy { $0.isFinite })
        }
    }
}
