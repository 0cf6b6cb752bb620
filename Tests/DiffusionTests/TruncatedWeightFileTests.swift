import Foundation
import Tensor
import TestSupport
import Testing

@testable import Diffusion

/// A weight file cut short. Before it is opened: start-up validation (every tensor's offsets
/// against the file's size) refuses it, naming file and tensor. After the model was loaded:
/// the next generation refuses with `changedOnDisk` before it reads a weight, instead of the
/// SIGBUS a read past the new end of the mapping would raise.
@Suite struct TruncatedWeightFileTests {
    static let builtIn = repositoryRoot.appendingPathComponent("Weights/tiny-shapes").path

    /// A copy of the built-in model (with its config files) in a fresh folder.
    func modelCopy() throws -> (folder: String, checkpoint: String) {
        let folder = NSTemporaryDirectory() + "sd-cut-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.builtIn) where name.hasSuffix(".json") || name.hasSuffix(".safetensors") {
            try FileManager.default.copyItem(atPath: Self.builtIn + "/" + name, toPath: folder + "/" + name)
        }
        return (folder, folder + "/" + BuiltInModel.checkpointName)
    }

    /// The header's length, and the end of the last tensor's data (the file's size).
    func layout(_ path: String) throws -> (headerEnd: Int, size: Int) {
        let file = try SafetensorsFile(path: path)
        let base = Int(bitPattern: file.file.bytes.baseAddress)
        let first = file.tensors.values.map { Int(bitPattern: $0.bytes.baseAddress) - base }.min() ?? 0
        return (first, file.file.bytes.count)
    }

    @Test(arguments: [0.999, 0.5, 0.1])
    func aFileCutBeforeLoadingIsRefusedNamingFileAndTensor(keeping fraction: Double) throws {
        let (folder, path) = try modelCopy()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (headerEnd, size) = try layout(path)
        let cut = headerEnd + Int(Double(size - headerEnd) * fraction)
        #expect(truncate(path, off_t(cut)) == 0)
        do {
            _ = try DiffusionPipeline(model: path)
            Issue.record("a file cut to \(cut) of \(size) bytes was loaded")
        } catch let error as WeightError {
            guard case .badOffsets(let file, let tensor, let reason) = error else { Issue.record("\(error)"); return }
            #expect(file == path && !tensor.isEmpty && reason.contains("outside the data section of \(cut - headerEnd) bytes"), "\(error)")
        }
    }

    @Test func aFileCutInsideItsHeaderIsRefused() throws {
        let (folder, path) = try modelCopy()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (headerEnd, _) = try layout(path)
        #expect(truncate(path, off_t(headerEnd / 2)) == 0)
        #expect(throws: WeightError.truncated(file: path, expectedBytes: headerEnd, actualBytes: headerEnd / 2)) {
            _ = try DiffusionPipeline(model: path)
        }
    }

    @Test func aFileCutAfterLoadingIsRefusedBeforeAnyWeightIsRead() throws {
        let (folder, path) = try modelCopy()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let pipeline = try DiffusionPipeline(model: path)
        #expect(pipeline.weightFiles.map(\.path) == [path])
        var options = GenerationOptions(prompt: "a red circle")
        (options.width, options.height, options.steps) = (32, 32, 1)
        #expect(try pipeline.generate(options).count == 1)

        let size = try layout(path).size
        #expect(truncate(path, off_t(size / 2)) == 0)
        // Without the check this generation would die of SIGBUS on the first weight page past
        // the new end that is not resident.
        #expect(throws: WeightError.changedOnDisk(file: path, reason: "truncated to \(size / 2) bytes while \(size) were mapped")) {
            _ = try pipeline.generate(options)
        }
        // Loading it again is start-up validation: refused, naming a tensor.
        #expect {
            _ = try DiffusionPipeline(model: path)
        } throws: { error in
            guard case .badOffsets(path, _, _) = error as? WeightError else { return false }
            return true
        }
    }
}
