@testable import Diffusion
import Foundation
@testable import Server
import Tensor
import Testing

/// A model file truncated while the server has it loaded: the pool's check before the next
/// generation catches it (no SIGBUS), loads the model again, and start-up validation refuses
/// the cut file: a 500 naming the model, not the file. Once the file is whole again, the next
/// request loads it and succeeds.
@Suite struct WeightFileFaultTests {
    @Test func aModelCutWhileLoadedIsRefusedThenLoadedAgainOnceWhole() async throws {
        let original = try BuiltInModel.folder()
        let folder = NSTemporaryDirectory() + "sd-cut-server-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in try FileManager.default.contentsOfDirectory(atPath: original) where name.hasSuffix(".json") || name.hasSuffix(".safetensors") {
            try FileManager.default.copyItem(atPath: original + "/" + name, toPath: folder + "/" + name)
        }
        let path = folder + "/" + BuiltInModel.checkpointName
        let loads = LoadCounter()
        let pool = ModelPool(defaultModel: ModelSource(name: "tiny", path: path), preloaded: try DiffusionPipeline(model: path)) { source in
            loads.increment()
            return try DiffusionPipeline(model: source.path)
        }
        let request = #"{"prompt": "a red circle", "size": "32x32", "steps": 1}"#
        try await withServer(models: pool) { client in
            #expect(try await client.postJSON("/v1/images/generations", request).status == .ok)
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(truncate(path, off_t(size / 2)) == 0)
            let refused = try await client.postJSON("/v1/images/generations", request)
            #expect(refused.status == .internalServerError, "\(refused.text)")
            #expect(refused.error?.message == "the model 'tiny' could not be loaded (the server log says why)", "\(refused.text)")
            #expect(loads.value == 1)
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            // Whole again (a new file renamed over the cut one, as a download tool does).
            try FileManager.default.copyItem(atPath: original + "/" + BuiltInModel.checkpointName, toPath: path + ".new")
            #expect(rename(path + ".new", path) == 0)
            #expect(try await client.postJSON("/v1/images/generations", request).status == .ok)
            #expect(loads.value == 2)
            // Loaded and unchanged: no further load.
            #expect(try await client.postJSON("/v1/images/generations", request).status == .ok)
            #expect(loads.value == 2)
        }
    }
}

/// A thread-safe count.
private final class LoadCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
