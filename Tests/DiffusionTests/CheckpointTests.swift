import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// The built-in model in each format the loader reads: the shipped single file (fp16, LDM names),
/// GGUF f16 and q8_0 files written from it here, and the fp32 diffusers folder it was converted
/// from (in `shared/weights/tiny-shapes`, beside the repository; skipped where it is absent).
@Suite struct CheckpointTests {
    static let singleFile = repositoryRoot.appendingPathComponent("Weights/tiny-shapes/tiny-shapes.safetensors").path
    static let diffusersFolder = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/weights/tiny-shapes").path
    static let hasDiffusersFolder = FileManager.default.fileExists(atPath: diffusersFolder + "/model_index.json")

    @Test func builtInSingleFileIsSD1Architecture() throws {
        let checkpoint = try Checkpoint(path: Self.singleFile)
        #expect(checkpoint.format == .safetensors)
        #expect(checkpoint.index.tensors.count == 577)
        #expect(checkpoint.family == ModelFamily(architecture: .sd1, variant: .standard, contextDimension: 64, inChannels: 4))
        // scheduler_config.json and unet_config.json beside the file: epsilon, 32 latents x 8.
        #expect(checkpoint.predictionType == .epsilon)
        #expect(checkpoint.resolution == 256 && checkpoint.vaeDownscale == 8)
        #expect(checkpoint.vaeScalingFactor == 0.18215 && checkpoint.family.defaultClipSkip == 1)
        // Nothing is consumed yet: strict loading lists every weight, but not position_ids.
        #expect(checkpoint.index.unconsumed(ignoring: checkpoint.family.ignoredTensors).count == 576)
        #expect(throws: WeightError.self) { try checkpoint.checkAllConsumed() }
    }

    /// GGUF as sd.cpp writes it: LDM names; q8_0 for 2-D weights whose rows are whole blocks,
    /// f16 otherwise (convolutions, norms, biases); int64 position_ids kept.
    @Test(arguments: [DType.f16, .q8_0]) func ggufGivesTheSameIndexAsTheSingleFile(_ type: DType) throws {
        let single = try Checkpoint(path: Self.singleFile)
        try withTemporaryFolder { folder in
            let path = "\(folder)/tiny-shapes-\(type).gguf"
            var writer = GGUFWriter()
            for name in single.index.names {
                guard let stored = single.index.tensors[name] else { continue }
                if !stored.dtype.isNumeric || stored.dtype == .i64 {
                    try writer.addTensor(name, dtype: stored.dtype, shape: stored.shape, bytes: Array(stored.bytes))
                } else {
                    let quantize = type == .q8_0 && stored.shape.count == 2 && stored.shape[1] % 32 == 0
                    try writer.addTensor(name, stored.toTensor(), as: quantize ? .q8_0 : .f16)
                }
            }
            try writer.write(to: path)
            let gguf = try Checkpoint(path: path)
            #expect(gguf.format == .gguf)
            #expect(gguf.family == single.family)
            // No config files beside the temporary GGUF: the family defaults apply.
            #expect(gguf.config == CheckpointConfig() && gguf.resolution == 512)
            #expect(gguf.index.names == single.index.names)

            var quantized = 0
            var worstNMSE = 0.0
            var worstRelativeMaxAbs: Float = 0
            for name in single.index.names {
                guard let a = single.index.tensors[name], let b = gguf.index.tensors[name] else { continue }
                #expect(a.shape == b.shape, "\(name)")
                guard a.dtype != .i64 else {
                    #expect(Array(a.bytes) == Array(b.bytes), "\(name)")
                    continue
                }
                let reference = try a.toTensor(), actual = try b.toTensor()
                if b.dtype == .q8_0 {
                    quantized += 1
                    // Q8_0 rounds each value to a multiple of its block's scale d = amax / 127
                    // (d itself stored as f16): the error is at most d/2 plus d's rounding.
                    let amax = reference.scalars.map(abs).max() ?? 0
                    let maxAbs = maxAbsDifference(actual, reference)
                    #expect(maxAbs <= 0.6 * amax / 127, "\(name): \(describeDifference(actual, reference))")
                    worstNMSE = max(worstNMSE, nmse(actual, reference))
                    worstRelativeMaxAbs = max(worstRelativeMaxAbs, amax > 0 ? maxAbs / amax : 0)
                } else {
                    // f16 -> f16 is exact.
                    #expect(b.dtype == .f16 && maxAbsDifference(actual, reference) == 0, "\(name)")
                }
            }
            if type == .q8_0 {
                #expect(quantized > 100, "only \(quantized) tensors were quantized")
                #expect(worstNMSE < 1e-4, "q8_0: worst per-tensor NMSE \(worstNMSE), max|diff|/max|w| \(worstRelativeMaxAbs)")
            }
        }
    }

    @Test(.enabled(if: hasDiffusersFolder, "needs shared/weights/tiny-shapes beside the repository"))
    func diffusersFolderGivesTheSameIndexAsTheSingleFile() throws {
        let single = try Checkpoint(path: Self.singleFile)
        let folder = try Checkpoint(path: Self.diffusersFolder)
        #expect(folder.format == .diffusers && folder.family == single.family)
        #expect(folder.resolution == 256 && folder.predictionType == .epsilon && folder.vaeScalingFactor == 0.18215)
        // The single file adds CLIP's position_ids buffer, as real SD 1.x files do.
        let onlyInSingle = Set(single.index.names).subtracting(folder.index.names)
        #expect(onlyInSingle == ["cond_stage_model.transformer.text_model.embeddings.position_ids"])
        let onlyInFolder = Set(folder.index.names).subtracting(single.index.names).sorted()
        #expect(onlyInFolder.isEmpty, "folder names missing from the single file: \(onlyInFolder.prefix(5))")

        // The single file is the folder's fp32 weights rounded to f16, tensor by tensor.
        var worstMaxAbs: Float = 0
        for name in folder.index.names {
            guard let a = folder.index.tensors[name], let b = single.index.tensors[name] else { continue }
            #expect(sameWeightShape(a.shape, b.shape), "\(name): \(a.shape) vs \(b.shape)")
            let full = try a.toTensor().scalars, half = try b.toTensor().scalars
            let rounded = full.map { Float(Float16($0)) }
            #expect(rounded == half, "\(name) is not the f16 rounding of the fp32 folder")
            worstMaxAbs = max(worstMaxAbs, maxAbsDifference(half, full))
        }
        #expect(worstMaxAbs < 1e-3, "fp32 folder vs f16 file: max |diff| \(worstMaxAbs)")
    }

    @Test func separateVAEFileReplacesTheCheckpointsVAE() throws {
        let single = try Checkpoint(path: Self.singleFile)
        try withTemporaryFolder { folder in
            // A bare-LDM VAE file (encoder.*, decoder.*, quant_conv.*), f32.
            let path = folder + "/vae.safetensors"
            var writer = SafetensorsWriter()
            let prefix = "first_stage_model."
            for name in single.index.names(withPrefix: prefix) {
                guard let stored = single.index.tensors[name] else { continue }
                writer.add(String(name.dropFirst(prefix.count)), try stored.toTensor(), as: .f32)
            }
            try writer.write(to: path)
            let replaced = try Checkpoint(path: Self.singleFile, vaePath: path)
            #expect(replaced.index.names == single.index.names)
            for name in replaced.index.names {
                guard let t = replaced.index.tensors[name], let original = single.index.tensors[name] else { continue }
                #expect((t.file.path == path) == name.hasPrefix(prefix), "\(name) from \(t.file.path)")
                if name.hasPrefix(prefix) {
                    let values = try t.toTensor().scalars, originalValues = try original.toTensor().scalars
                    #expect(t.dtype == .f32 && values == originalValues, "\(name)")
                }
            }
        }
    }

    @Test(.enabled(if: hasDiffusersFolder, "needs shared/weights/tiny-shapes beside the repository"))
    func diffusersVAEFolderReplacesTheCheckpointsVAE() throws {
        let single = try Checkpoint(path: Self.singleFile)
        let replaced = try Checkpoint(path: Self.singleFile, vaePath: Self.diffusersFolder + "/vae")
        #expect(replaced.index.names == single.index.names)
        // diffusers stores the mid-block attention projections as Linear [C, C].
        #expect(replaced.index.tensors["first_stage_model.decoder.mid.attn_1.q.weight"]?.shape == [128, 128])
        #expect(replaced.index.tensors["first_stage_model.decoder.up.0.block.0.conv1.weight"]?.dtype == .f32)
    }

    @Test func unreadableSourcesNameTheirPath() throws {
        try withTemporaryFolder { folder in
            #expect(throws: WeightError.cannotOpen(file: folder, reason: "a folder must be a diffusers pipeline with model_index.json")) {
                try Checkpoint(path: folder)
            }
            try Data(#"{"unet": ["diffusers", "UNet2DConditionModel"], "vae": [null, null]}"#.utf8)
                .write(to: URL(fileURLWithPath: folder + "/model_index.json"))
            try FileManager.default.createDirectory(atPath: folder + "/unet", withIntermediateDirectories: true)
            #expect(
                throws: WeightError.cannotOpen(
                    file: folder + "/unet",
                    reason: "no diffusion_pytorch_model.safetensors or model.safetensors (or .fp16 variant), nor a PyTorch .bin of them")
            ) { try Checkpoint(path: folder) }
            // Without safetensors weights the PyTorch .bin is read (here: one byte, not a zip archive).
            try Data([0]).write(to: URL(fileURLWithPath: folder + "/unet/diffusion_pytorch_model.bin"))
            #expect(throws: WeightError.badMagic(file: folder + "/unet/diffusion_pytorch_model.bin")) { try Checkpoint(path: folder) }
            #expect(throws: WeightError.self) { try Checkpoint(path: folder + "/model.ckpt") }
        }
    }
}
