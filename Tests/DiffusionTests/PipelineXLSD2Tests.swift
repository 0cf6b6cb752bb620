import Foundation
import Samplers
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// SDXL and SD 2.x v-prediction end to end, on tiny random models loaded as single-file
/// checkpoints with their diffusers configs beside them.
///
/// Goldens: Tests/Golden/generate_pipeline_xl_sd2_goldens.py (diffusers UNet and VAE, transformers
/// CLIP text models, seeded random fp16 weights; k-diffusion `sample_euler` around
/// `DiscreteEpsDDPMDenoiser` / `DiscreteVDDPMDenoiser` with classifier-free guidance; torch CPU
/// `randn` initial noise; the SDXL conditioning cross-checked there against diffusers'
/// `StableDiffusionXLPipeline.encode_prompt`). Measured: context NMSE 3e-14 to 4e-13 (the empty SDXL
/// negative exactly zero), added vector NMSE 1.2e-14 to 2e-14, final latent NMSE 1.4e-12 to 2.2e-11
/// (max abs 1e-4 on SDXL latents of std ~20), pictures 84.8 dB, 86.0 dB and two identical. The
/// tolerances leave a 2.5x to 5x margin on the measured worst case (PSNR: 70 dB, a few 1-level steps).
@Suite(.serialized, .float32Arithmetic) struct PipelineXLSD2Tests {
    /// A golden fixture and the pipeline built from the checkpoint it describes.
    struct TinyModel {
        let golden: SafetensorsFile
        let pipeline: DiffusionPipeline

        /// Writes fixture `name` out as the single file it describes (`checkpoint.*` tensors under
        /// their own names, the sparse token tables scattered into full [vocabulary, D] tables)
        /// with the `config/*` metadata entries as files beside it, then loads it as a user's file is
        /// loaded: `Checkpoint(path:)`, the built-in tokenizer, a strict `DiffusionPipeline`.
        init(_ name: String) throws {
            golden = try SafetensorsFile(path: fixturePath("\(name).safetensors"))
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            // The checkpoint stays memory-mapped after its files are unlinked.
            defer { try? FileManager.default.removeItem(at: folder) }

            var writer = SafetensorsWriter()
            for (key, t) in golden.tensors where key.hasPrefix("checkpoint.") {
                writer.add(String(key.dropFirst("checkpoint.".count)), dtype: t.dtype, shape: t.shape, encodedBytes: Array(t.bytes))
            }
            guard let vocabulary = Int(golden.metadata["vocabulary"] ?? "") else {
                throw WeightError.badHeader(file: name, reason: "no 'vocabulary' metadata")
            }
            for key in golden.tensors.keys where key.hasPrefix("sparse.") && key.hasSuffix(".rows") {
                let name = String(key.dropFirst("sparse.".count).dropLast(".rows".count))
                let rows = try golden.tensor(key).toTensor()  // [n, D]
                let ids = try golden.tensor("sparse.\(name).ids").toTensor().scalars.map { Int($0) }
                let width = rows.shape[1]
                var table = [Float](repeating: 0, count: vocabulary * width)
                let values = rows.scalars
                for (row, id) in ids.enumerated() {
                    table.replaceSubrange(id * width..<(id + 1) * width, with: values[row * width..<(row + 1) * width])
                }
                writer.add(name, Tensor(shape: [vocabulary, width], values: table), as: .f16)  // exact: rows are fp16
            }
            let file = folder.appendingPathComponent("model.safetensors").path
            try writer.write(to: file)
            for (key, text) in golden.metadata where key.hasPrefix("config/") {
                try Data(text.utf8).write(to: folder.appendingPathComponent(String(key.dropFirst("config/".count))))
            }

            let checkpoint = try Checkpoint(path: file)
            let tokenizer = try CLIPTokenizer(
                vocabulary: URL(fileURLWithPath: try BuiltInModel.file("vocab.json")),
                merges: URL(fileURLWithPath: try BuiltInModel.file("merges.txt")))
            pipeline = try DiffusionPipeline(checkpoint: checkpoint, tokenizer: tokenizer, name: name)
        }

        func output(_ name: String) throws -> Tensor { try golden.tensor(name).toTensor() }

        func settings(_ name: String) throws -> Case {
            try JSONDecoder().decode(Case.self, from: Data((golden.metadata["case.\(name)"] ?? "").utf8))
        }
    }

    struct Case: Decodable {
        let prompt: String, negative: String, seed: UInt64, steps: Int, cfg: Float, width: Int, height: Int
    }

    static let sdxl = Result { try TinyModel("pipeline_sdxl_tiny") }
    static let sd2v = Result { try TinyModel("pipeline_sd2v_tiny") }

    static func model(forCase name: String) throws -> TinyModel {
        try (name.hasPrefix("xl_") ? sdxl : sd2v).get()
    }

    @Test func sdxlFileIsDetectedWithItsConfigs() throws {
        let p = try Self.sdxl.get().pipeline
        #expect(p.family == ModelFamily(architecture: .sdxl, variant: .standard, contextDimension: 32, inChannels: 4))
        #expect(p.checkpoint.predictionType == .epsilon)
        #expect(p.checkpoint.vaeScalingFactor == 0.13025 && p.family.vaeScalingFactor == 0.13025)
        // norm_num_groups from unet_config.json / vae_config.json (4 and 2; weights cannot say).
        #expect(p.checkpoint.config.unetNormGroups == 4 && p.checkpoint.config.vaeNormGroups == 2)
        #expect(p.unet.config.normGroups == 4 && p.unet.config.addedConditionChannels == 16 + 6 * 256)
        #expect(p.unet.config.attention == .headWidth(4))
        // CLIP-L tower in HF form (QuickGELU), bigG in OpenCLIP form (fused in_proj, GELU, [D, P] projection).
        let bigG = try #require(p.textEncoder2)
        #expect(p.textEncoder.activation == .quickGELU && !p.textEncoder.hasProjection && p.textEncoder.heads == 2)
        #expect(bigG.activation == .gelu && bigG.hasProjection && bigG.pooledWidth == 16 && bigG.heads == 2)
    }

    @Test func sd2VFileIsDetectedWithItsConfigs() throws {
        let p = try Self.sd2v.get().pipeline
        // Context 16 is no released width: the Linear proj_in marks SD 2.x.
        #expect(p.family == ModelFamily(architecture: .sd2, variant: .standard, contextDimension: 16, inChannels: 4))
        #expect(p.checkpoint.predictionType == .v)
        #expect(p.checkpoint.vaeScalingFactor == 0.18215)
        #expect(p.unet.config.normGroups == 4 && p.checkpoint.config.vaeNormGroups == 2)
        #expect(p.unet.config.linearProjection && p.unet.config.addedConditionChannels == nil)
        #expect(p.textEncoder.activation == .gelu && p.textEncoder.layerCount == 3 && p.textEncoder2 == nil)
    }

    static let cases = ["xl_red_circle", "xl_weighted_wide", "sd2v_blue_square", "sd2v_negative"]

    /// The prompt conditioning: SDXL's concatenated penultimate states (weights applied on the 32-wide
    /// states, a zero context for the empty negative prompt) and the added vector [pooled | 6 size
    /// embeddings]; SD 2.x's penultimate state + final LN with 0 padding.
    @Test(arguments: cases)
    func conditioningMatchesTheReference(name: String) throws {
        let model = try Self.model(forCase: name)
        let c = try model.settings(name)
        let p = model.pipeline
        for (prompt, isNegative, suffix) in [(c.prompt, false, ""), (c.negative, true, "uncond_")] {
            let encoded = try p.encode(prompt, clipSkip: nil, width: c.width, height: c.height, isNegative: isNegative)
            let context = try model.output("\(name).output.\(suffix)context")
            #expect(encoded.context.shape == context.shape)
            if context.scalars.allSatisfy({ $0 == 0 }) {
                #expect(encoded.context.scalars.allSatisfy { $0 == 0 }, "\(suffix)context should be zero")
            } else {
                #expect(nmse(encoded.context, context) <= 1e-12, "\(suffix)context: \(describeDifference(encoded.context, context))")
            }
            if p.family.architecture == .sdxl {
                let added = try model.output("\(name).output.\(suffix)added")
                let actual = try #require(encoded.added)
                #expect(actual.shape == added.shape)
                #expect(nmse(actual, added) <= 1e-12, "\(suffix)added: \(describeDifference(actual, added))")
            } else {
                #expect(encoded.added == nil)
            }
        }
    }

    @Test(arguments: cases)
    func generationMatchesDiffusersAndKDiffusionWithTheSameTorchSeed(name: String) throws {
        let model = try Self.model(forCase: name)
        let c = try model.settings(name)
        var o = GenerationOptions(prompt: c.prompt)
        o.negativePrompt = c.negative
        o.seed = c.seed
        o.steps = c.steps
        o.cfgScale = c.cfg
        o.width = c.width
        o.height = c.height
        o.sampler = .euler
        o.rng = .cpu
        let result = try #require(try model.pipeline.generate(o).first)
        let latent = try model.output("\(name).output.latent")
        #expect(result.latent.shape == latent.shape)
        #expect(nmse(result.latent, latent) <= 1e-10, "latent: \(describeDifference(result.latent, latent))")
        let image = try model.output("\(name).output.image").scalars.map { UInt8($0) }
        #expect(result.image.width == c.width && result.image.height == c.height)
        let quality = psnr(result.image.pixels, image)
        #expect(quality >= 70, "PSNR \(quality) dB")
    }
}
