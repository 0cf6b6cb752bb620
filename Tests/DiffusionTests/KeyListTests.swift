import Foundation
import Tensor
import Testing

@testable import Diffusion

/// Header-only checks on the real SD 1.5, SD 2.1 and SDXL key and shape lists.
///
/// Fixtures: `python Tests/Golden/generate_key_lists.py` (diffusers 0.42.1, transformers 5.24;
/// models built from the published configs on the `meta` device; the LDM lists converted from the
/// diffusers names in the script, and checked against diffusers' own LDM->diffusers converter).
/// Each list is written as a header-only (sparse) checkpoint and opened by the real loader.
@Suite struct KeyListTests {
    struct Model: Sendable, CustomStringConvertible {
        let name: String
        let architecture: ModelFamily.Architecture
        let context: Int
        var description: String { name }
    }

    static let models = [
        Model(name: "sd15", architecture: .sd1, context: 768),
        Model(name: "sd21", architecture: .sd2, context: 1024),
        Model(name: "sdxl", architecture: .sdxl, context: 2048),
    ]

    /// Where every canonical name must live (or be a known non-weight, `IgnoredTensors`).
    static let componentRoots = [
        "model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.", "cond_stage_model.1.transformer.",
    ]

    @Test(arguments: models) func singleFileIsDetectedAndFullyCanonical(_ model: Model) throws {
        let ldm = try KeyList("\(model.name)_ldm")
        try withTemporaryFolder { folder in
            let path = folder + "/model.safetensors"
            try writeHeaderOnlySafetensors(ldm.shapes, to: path)
            let checkpoint = try Checkpoint(path: path)
            #expect(checkpoint.format == .safetensors)
            #expect(checkpoint.family == ModelFamily(architecture: model.architecture, variant: .standard,
                                                     contextDimension: model.context, inChannels: 4))
            #expect(checkpoint.index.tensors.count == ldm.shapes.count)
            let stray = checkpoint.index.names.filter { name in
                !Self.componentRoots.contains { name.hasPrefix($0) } && !IgnoredTensors.contains(name)
            }
            #expect(stray.isEmpty, "names outside the canonical components: \(stray.prefix(5))")
        }
    }

    @Test(arguments: models) func diffusersFolderMapsOneToOneOntoTheSingleFile(_ model: Model) throws {
        let ldm = try KeyList("\(model.name)_ldm")
        let diffusers = try KeyList("\(model.name)_diffusers")
        try withTemporaryFolder { folder in
            try writeHeaderOnlySafetensors(ldm.shapes, to: folder + "/model.safetensors")
            try writeHeaderOnlyDiffusersFolder(diffusers.shapes, to: folder + "/diffusers")
            let single = try Checkpoint(path: folder + "/model.safetensors")
            let folderCheckpoint = try Checkpoint(path: folder + "/diffusers")
            #expect(folderCheckpoint.format == .diffusers)
            #expect(folderCheckpoint.family == single.family)
            // KeyMap threw no duplicate, so the renaming is injective; the counts confirm nothing was lost.
            #expect(folderCheckpoint.index.tensors.count == diffusers.shapes.count)

            let fromFolder = Self.inOpenCLIPForm(folderCheckpoint.index, like: single.index)
            let fromFile = single.index.tensors.filter { !IgnoredTensors.contains($0.key) }.mapValues(\.shape)
            let onlyInFolder = Set(fromFolder.keys).subtracting(fromFile.keys).sorted()
            let onlyInFile = Set(fromFile.keys).subtracting(fromFolder.keys).sorted()
            #expect(onlyInFolder.isEmpty, "diffusers names with no single-file counterpart: \(onlyInFolder.prefix(5))")
            if model.name == "sd21" {
                // diffusers' SD 2.x text encoder drops OpenCLIP's last block and the projection
                // (engine-reference 4.7 pitfall 3): 12 tensors of layers.23 plus text_projection.
                let root = "cond_stage_model.transformer."
                #expect(onlyInFile.count == 13)
                #expect(onlyInFile.allSatisfy {
                    $0.hasPrefix(root + "text_model.encoder.layers.23.") || $0 == root + "text_projection"
                })
            } else {
                #expect(onlyInFile.isEmpty, "single-file names missing from the folder: \(onlyInFile.prefix(5))")
            }
            // LDM keeps the VAE attention projections as 1x1 convolutions, diffusers as Linear.
            let mismatched = fromFolder.filter { name, shape in
                fromFile[name].map { !sameWeightShape($0, shape) } ?? false
            }
            #expect(mismatched.isEmpty, "shape differences: \(mismatched.prefix(5))")
        }
    }

    @Test func unetInputChannelsGiveTheVariant() throws {
        let ldm = try KeyList("sd15_ldm")
        for (channels, variant) in [(9, ModelFamily.Variant.inpainting), (8, .instructPix2Pix)] {
            var shapes = ldm.shapes
            shapes["model.diffusion_model.input_blocks.0.0.weight"] = [320, channels, 3, 3]
            try withTemporaryFolder { folder in
                try writeHeaderOnlySafetensors(shapes, to: folder + "/inpaint.safetensors")
                let family = try Checkpoint(path: folder + "/inpaint.safetensors").family
                #expect(family.architecture == .sd1 && family.variant == variant && family.inChannels == channels)
            }
        }
    }

    @Test func familyDefaultsFollowTheConfigs() throws {
        try withTemporaryFolder { folder in
            for model in Self.models {
                try writeHeaderOnlySafetensors(try KeyList("\(model.name)_ldm").shapes, to: "\(folder)/\(model.name).safetensors")
            }
            let sd15 = try Checkpoint(path: folder + "/sd15.safetensors")
            let sd21 = try Checkpoint(path: folder + "/sd21.safetensors")
            let sd21v = try Checkpoint(path: folder + "/sd21.safetensors", predictionType: .v)
            let sdxl = try Checkpoint(path: folder + "/sdxl.safetensors")
            #expect([sd15.resolution, sd21.resolution, sdxl.resolution, sd21v.resolution] == [512, 512, 1024, 768] as [Int])
            #expect([sd15.vaeScalingFactor, sd21.vaeScalingFactor, sdxl.vaeScalingFactor] == [0.18215, 0.18215, 0.13025] as [Float])
            #expect([sd15.family.defaultClipSkip, sd21.family.defaultClipSkip, sdxl.family.defaultClipSkip] == [1, 2, 2] as [Int])
            #expect(sd15.predictionType == .epsilon && sd21v.predictionType == .v && sd15.vaeDownscale == 8)

            // A diffusers SD 2.1 folder says v-prediction in its scheduler config, hence 768.
            let config = #"{"_class_name": "EulerDiscreteScheduler", "prediction_type": "v_prediction"}"#
            try writeHeaderOnlyDiffusersFolder(
                try KeyList("sd21_diffusers").shapes, to: folder + "/sd21v", schedulerConfig: config)
            let folderV = try Checkpoint(path: folder + "/sd21v")
            #expect(folderV.predictionType == .v && folderV.resolution == 768)
        }
    }

    /// The folder's canonical tensors rewritten the way the single file stores OpenCLIP text
    /// towers, where it does: separate q/k/v projections fused into `in_proj` ([3D, D] rows q; k; v)
    /// and `text_projection.weight` [P, D] as OpenCLIP's `text_projection` [D, P].
    static func inOpenCLIPForm(_ index: WeightIndex, like reference: WeightIndex) -> [String: [Int]] {
        var result: [String: [Int]] = [:]
        for (name, tensor) in index.tensors where !IgnoredTensors.contains(name) {
            var name = name
            var shape = tensor.shape
            for part in ["q_proj", "k_proj", "v_proj"] where name.contains(".self_attn.\(part).") {
                let fused = name.replacingOccurrences(of: ".self_attn.\(part).", with: ".self_attn.in_proj.")
                if reference.tensors[fused] != nil {
                    name = fused
                    shape[0] *= 3
                }
            }
            if name.hasSuffix("text_projection.weight"), reference.tensors[String(name.dropLast(".weight".count))] != nil {
                name = String(name.dropLast(".weight".count))
                shape.reverse()
            }
            result[name] = shape
        }
        return result
    }
}
