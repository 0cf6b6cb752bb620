import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// The same model from every format gives the same pictures, and the real SD 1.5, SD 2.1 and
/// SDXL layouts build into complete pipelines that use every weight.
@Suite(.serialized, .float32Arithmetic) struct ModelFormatTests {
    static let builtIn = repositoryRoot.appendingPathComponent("Weights/tiny-shapes")
    static let diffusersFolder = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/weights/tiny-shapes").path
    static let hasDiffusersFolder = FileManager.default.fileExists(atPath: diffusersFolder + "/model_index.json")

    func tokenizer() throws -> CLIPTokenizer {
        try CLIPTokenizer(
            vocabulary: Self.builtIn.appendingPathComponent("vocab.json"), merges: Self.builtIn.appendingPathComponent("merges.txt"))
    }

    func picture(_ checkpoint: Checkpoint) throws -> GeneratedImage {
        let pipeline = try DiffusionPipeline(checkpoint: checkpoint, tokenizer: tokenizer(), name: "test")
        var o = GenerationOptions(prompt: "a purple triangle on a white background")
        o.sampler = .dpmpp2M
        o.steps = 8
        o.seed = 5
        o.width = 256
        o.height = 256
        return try #require(try pipeline.generate(o).first)
    }

    /// The built-in model written as GGUF by our writer (f16 everywhere, or q8_0 for the 2-D
    /// weights whose rows are whole blocks, as stable-diffusion.cpp quantizes), with its config
    /// files beside it (the weights cannot tell the attention head counts).
    @Test(arguments: [DType.f16, .q8_0]) func ggufGivesTheSamePictureAsTheSingleFile(_ type: DType) throws {
        let single = try Checkpoint(path: Self.builtIn.appendingPathComponent("tiny-shapes.safetensors").path)
        let reference = try picture(single)
        try withTemporaryFolder { folder in
            var writer = GGUFWriter()
            for name in single.index.names {
                guard let stored = single.index.tensors[name] else { continue }
                if stored.dtype == .i64 {
                    try writer.addTensor(name, dtype: stored.dtype, shape: stored.shape, bytes: Array(stored.bytes))
                } else {
                    let quantize = type == .q8_0 && stored.shape.count == 2 && stored.shape[1] % 32 == 0
                    try writer.addTensor(name, stored.toTensor(), as: quantize ? .q8_0 : .f16)
                }
            }
            try writer.write(to: folder + "/model.gguf")
            for config in ["scheduler_config.json", "unet_config.json", "text_encoder_config.json"] {
                try FileManager.default.copyItem(
                    atPath: Self.builtIn.appendingPathComponent(config).path, toPath: folder + "/" + config)
            }
            let result = try picture(try Checkpoint(path: folder + "/model.gguf"))
            let quality = psnr(result.image.pixels, reference.image.pixels)
            if type == .f16 {
                #expect(result.image == reference.image, "f16 GGUF differs: PSNR \(quality)")
            } else {
                // q8_0 keeps about 8 bits per weight: the picture stays the same scene (29 dB
                // measured on this 13 M-parameter model, whose small layers feel the rounding most).
                #expect(quality >= 25, "q8_0 PSNR \(quality) dB")
                #expect(nmse(result.latent, reference.latent) < 1e-2, "q8_0 latent: \(describeDifference(result.latent, reference.latent))")
            }
        }
    }

    /// The fp32 diffusers folder the shipped fp16 file was converted from.
    @Test(.enabled(if: hasDiffusersFolder, "needs shared/weights/tiny-shapes beside the repository"))
    func diffusersFolderGivesTheSamePictureAsTheSingleFile() throws {
        let single = try picture(try Checkpoint(path: Self.builtIn.appendingPathComponent("tiny-shapes.safetensors").path))
        let folder = try picture(try Checkpoint(path: Self.diffusersFolder))
        let quality = psnr(folder.image.pixels, single.image.pixels)
        #expect(quality >= 45, "fp32 folder vs fp16 file: PSNR \(quality) dB")
    }

    /// Header-only checkpoints with the real key and shape lists (Tests/Golden/generate_key_lists.py):
    /// every component builds from them and strict loading leaves nothing unused, for the single
    /// file and the diffusers folder of each model.
    @Test(arguments: [("sd15", ModelFamily.Architecture.sd1), ("sd21", .sd2), ("sdxl", .sdxl)])
    func realLayoutsBuildCompletePipelinesThatUseEveryWeight(name: String, architecture: ModelFamily.Architecture) throws {
        try withTemporaryFolder { folder in
            try writeHeaderOnlySafetensors(KeyList("\(name)_ldm").shapes, to: folder + "/model.safetensors")
            try writeHeaderOnlyDiffusersFolder(KeyList("\(name)_diffusers").shapes, to: folder + "/diffusers")
            for path in [folder + "/model.safetensors", folder + "/diffusers"] {
                let checkpoint = try Checkpoint(path: path)
                #expect(checkpoint.family.architecture == architecture)
                let pipeline = try DiffusionPipeline(checkpoint: checkpoint, tokenizer: tokenizer(), name: name)
                let expectedHeads = architecture == .sd1 ? 8 : 5  // SD 1.x: 8 heads; SD 2.x/XL: width 64 (320 / 64)
                #expect(pipeline.unet.config.attention.heads(forChannels: 320) == expectedHeads || architecture == .sdxl)
                #expect(pipeline.nativeSize == (architecture == .sdxl ? 1024 : 512))
                if architecture == .sdxl {
                    #expect(pipeline.textEncoder2?.hasProjection == true)
                    #expect(pipeline.unet.config.addedConditionChannels == 2816)
                }
            }
        }
    }
}
