import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// What the loader does with files that are not what their names promise: a FIFO where a model,
/// VAE, TAESD, diffusers part or config file should be is refused at once (never a hang); a
/// damaged `.gguf` gets the GGUF reader's error; an integer tensor in place of a float weight
/// of the same byte size is refused.
@Suite struct LoaderInputFileTests {
    static let builtIn = repositoryRoot.appendingPathComponent("Weights/tiny-shapes")
    static let singleFile = builtIn.appendingPathComponent("tiny-shapes.safetensors").path

    /// The error `work` throws on `fifo`, which must be `cannotOpen` naming the FIFO.
    func expectRefused(_ fifo: FIFOProbe, sourceLocation: SourceLocation = #_sourceLocation, _ work: @escaping @Sendable () throws -> Void) {
        let outcome = fifo.outcome(work)
        #expect(
            outcome.error as? WeightError == .cannotOpen(file: fifo.path, reason: "not a regular file (a FIFO)"), "\(outcome)",
            sourceLocation: sourceLocation)
    }

    @Test func fifoAsModelIsRefused() throws {
        let fifo = try FIFOProbe(name: "model.safetensors")
        defer { fifo.remove() }
        expectRefused(fifo) { _ = try Checkpoint(path: fifo.path) }
    }

    @Test func fifoAsVAEIsRefused() throws {
        let fifo = try FIFOProbe(name: "vae.safetensors")
        defer { fifo.remove() }
        expectRefused(fifo) { _ = try Checkpoint(path: Self.singleFile, vaePath: fifo.path) }
    }

    @Test func fifoAsTAESDIsRefused() throws {
        let fifo = try FIFOProbe(name: "taesd.safetensors")
        defer { fifo.remove() }
        expectRefused(fifo) { _ = try DiffusionPipeline(taesd: fifo.path) }
    }

    @Test func fifoAsDiffusersPartIsRefused() throws {
        let fifo = try FIFOProbe(name: "unet/diffusion_pytorch_model.safetensors")
        defer { fifo.remove() }
        try Data(#"{"unet":["diffusers","UNet2DConditionModel"]}"#.utf8)
            .write(to: URL(fileURLWithPath: fifo.folder + "/model_index.json"))
        expectRefused(fifo) { _ = try Checkpoint(path: fifo.folder) }
    }

    @Test func fifoAsConfigBesideTheModelIsRefused() throws {
        let fifo = try FIFOProbe(name: "scheduler_config.json")
        defer { fifo.remove() }
        let model = fifo.folder + "/model.safetensors"
        try FileManager.default.createSymbolicLink(atPath: model, withDestinationPath: Self.singleFile)
        expectRefused(fifo) { _ = try Checkpoint(path: model) }
    }

    /// The kind is chosen by the magic or the name: a `.gguf` that does not start with "GGUF" is
    /// a damaged GGUF file, not a safetensors one with an absurd header length.
    @Test func ggufWithBadMagicGetsTheGGUFError() throws {
        try withTemporaryFolder { folder in
            let path = folder + "/model.gguf"
            try Data("GGUX".utf8 + [UInt8](repeating: 7, count: 60)).write(to: URL(fileURLWithPath: path))
            #expect(throws: WeightError.badMagic(file: path)) { try Checkpoint(path: path) }
        }
    }

    /// An f16 weight re-labelled I16 (same bytes, same size) would decode to integers in the
    /// thousands; loading refuses it, naming the tensor.
    @Test func integerDTypeForAFloatWeightIsRefused() throws {
        let original = try Checkpoint(path: Self.singleFile)
        let relabelled = "model.diffusion_model.out.2.weight"
        try withTemporaryFolder { folder in
            var writer = SafetensorsWriter()
            for key in original.index.names {
                let stored = try #require(original.index.tensors[key])
                let dtype: DType = key == relabelled ? .i16 : stored.dtype
                if key == relabelled { #expect(stored.dtype == .f16) }
                writer.add(key, dtype: dtype, shape: stored.shape, encodedBytes: Array(stored.bytes))
            }
            let path = folder + "/model.safetensors"
            try writer.write(to: path)
            for config in ["scheduler_config.json", "unet_config.json", "text_encoder_config.json"] {
                try FileManager.default.copyItem(atPath: Self.builtIn.appendingPathComponent(config).path, toPath: folder + "/" + config)
            }
            #expect(throws: WeightError.notFloatingPoint(file: path, tensor: relabelled, dtype: "I16")) {
                try DiffusionPipeline(model: path)
            }
        }
    }
}
