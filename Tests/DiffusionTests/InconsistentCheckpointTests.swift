import Foundation
import Tensor
import Testing

@testable import Diffusion

/// A checkpoint whose tensors are each well-formed but do not fit together (a hand-edited or
/// corrupt file) is refused at load with a typed error naming the tensor, never a crash at run time.
@Suite struct InconsistentCheckpointTests {
    static let builtIn = repositoryRoot.appendingPathComponent("Weights/tiny-shapes")

    /// The built-in model with `name`'s input channels cut by one.
    func loading(withNarrowed name: String) throws -> any Error {
        let original = try Checkpoint(path: Self.builtIn.appendingPathComponent("tiny-shapes.safetensors").path)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("narrowed-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var writer = SafetensorsWriter()
        for key in original.index.names {
            guard let stored = original.index.tensors[key] else { continue }
            if key == name {
                let t = try stored.toTensor()
                writer.add(key, t.narrowed(axis: 1, start: 0, length: t.shape[1] - 1), as: .f16)
            } else {
                writer.add(key, dtype: stored.dtype, shape: stored.shape, encodedBytes: Array(stored.bytes))
            }
        }
        try writer.write(to: folder + "/model.safetensors")
        for config in ["scheduler_config.json", "unet_config.json", "text_encoder_config.json"] {
            try FileManager.default.copyItem(atPath: Self.builtIn.appendingPathComponent(config).path, toPath: folder + "/" + config)
        }
        do {
            _ = try DiffusionPipeline(model: folder + "/model.safetensors")
        } catch {
            return error
        }
        Issue.record("a checkpoint with '\(name)' narrowed loaded")
        return CancellationError()
    }

    @Test(arguments: [
        "model.diffusion_model.input_blocks.1.0.in_layers.2.weight", "model.diffusion_model.output_blocks.3.0.skip_connection.weight",
        "model.diffusion_model.middle_block.1.proj_in.weight", "first_stage_model.decoder.up.1.block.0.conv1.weight",
        "first_stage_model.encoder.down.1.downsample.conv.weight",
    ])
    func layersThatDoNotFitTogetherAreATypedError(name: String) throws {
        let error = try loading(withNarrowed: name)
        guard case WeightError.badShape(_, let tensor, _, _) = error else {
            Issue.record("expected badShape naming \(name), got \(error)")
            return
        }
        #expect(tensor == name)
    }
}
