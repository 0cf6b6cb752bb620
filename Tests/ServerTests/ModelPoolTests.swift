import Diffusion
import Foundation
import Logging
@testable import Server
import Tensor
import Testing

/// Several models per server: the pool's loading and unloading rules on fakes, then two real
/// models alternating through one server.
@Suite struct ModelPoolTests {
    /// Counts loads per model; each load is a new fake (so identity tells reloads apart).
    final class CountingLoader: @unchecked Sendable {
        private let lock = NSLock()
        private var loads: [String: Int] = [:]
        let delay: TimeInterval
        let failing: Set<String>

        init(delay: TimeInterval = 0, failing: Set<String> = []) {
            self.delay = delay
            self.failing = failing
        }

        func count(_ name: String) -> Int { lock.withLock { loads[name, default: 0] } }

        func load(_ source: ModelSource) throws -> any ImageGenerating {
            lock.withLock { loads[source.name, default: 0] += 1 }
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            if failing.contains(source.name) { throw WeightError.badHeader(file: source.name, reason: "broken on purpose") }
            return FakeGenerator()
        }
    }

    func pool(_ loader: CountingLoader, maxLoaded: Int = 1, budget: Int64? = nil, sizes: [String: Int64] = [:]) -> ModelPool {
        let others = ["b", "c"].map { ModelSource(name: $0, path: "/models/\($0).safetensors", estimatedBytes: sizes[$0] ?? 10) }
        return ModelPool(
            defaultModel: ModelSource(name: "a", path: nil, estimatedBytes: sizes["a"] ?? 10), preloaded: nil, others: others,
            maxLoaded: maxLoaded, memoryBudget: budget, logger: Logger(label: "test")
        ) { try loader.load($0) }
    }

    func loaded(_ pool: ModelPool) -> [String] { pool.statuses.filter(\.loaded).map(\.name) }

    @Test func namesResolveToTheDefaultOrAKnownModel() throws {
        let p = pool(CountingLoader())
        #expect(try p.resolve(nil) == "a" && p.resolve("") == "a" && p.resolve("a") == "a" && p.resolve("c") == "c")
        #expect(throws: ServerError.unknownModel("d")) { try p.resolve("d") }
        #expect(p.statuses == [
            .init(name: "a", loaded: false, isDefault: true), .init(name: "b", loaded: false, isDefault: false),
            .init(name: "c", loaded: false, isDefault: false),
        ])
    }

    @Test func leastRecentlyUsedIdleModelIsUnloadedFirst() throws {
        let loader = CountingLoader()
        let p = pool(loader, maxLoaded: 2)
        try p.withModel("a") { _ in }
        try p.withModel("b") { _ in }
        try p.withModel("a") { _ in }  // a is now the more recent
        #expect(loaded(p) == ["a", "b"])
        try p.withModel("c") { _ in }  // over 2: b goes
        #expect(loaded(p) == ["a", "c"])
        try p.withModel("a") { _ in }
        #expect(loader.count("a") == 1 && loader.count("b") == 1 && loader.count("c") == 1)
        try p.withModel("b") { _ in }  // c is the least recent now
        #expect(loaded(p) == ["a", "b"] && loader.count("b") == 2)
    }

    @Test func aModelInUseIsNeverUnloaded() throws {
        let p = pool(CountingLoader(), maxLoaded: 1)
        try p.withModel("a") { _ in
            // Over budget while a generates: both stay until a's generation ends.
            try p.withModel("b") { _ in #expect(loaded(p) == ["a", "b"]) }
        }
        try p.withModel("c") { _ in }
        #expect(loaded(p) == ["c"])
    }

    @Test func theMemoryBudgetCountsWeightBytes() throws {
        let p = pool(CountingLoader(), maxLoaded: 3, budget: 100, sizes: ["a": 60, "b": 30, "c": 50])
        try p.withModel("a") { _ in }
        try p.withModel("b") { _ in }
        #expect(loaded(p) == ["a", "b"])  // 90 bytes
        try p.withModel("c") { _ in }  // 140 > 100: a (least recent) goes, 80 left
        #expect(loaded(p) == ["b", "c"])
    }

    @Test func concurrentRequestsShareOneLoad() async throws {
        let loader = CountingLoader(delay: 0.3)
        let p = pool(loader, maxLoaded: 2)
        let names = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<6 {
                group.addTask { try p.withModel("b") { $0.modelName } }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(names.count == 6 && loader.count("b") == 1)
    }

    @Test func aFailedLoadLeavesTheModelUnloadedAndIsTriedAgain() throws {
        let loader = CountingLoader(failing: ["c"])
        let p = pool(loader)
        let refused = ServerError.internalError("the model 'c' could not be loaded (the server log says why)")
        #expect(throws: refused) { try p.withModel("c") { _ in } }
        #expect(throws: refused) { try p.withModel("c") { _ in } }
        #expect(loader.count("c") == 2 && loaded(p).isEmpty)
        try p.withModel("a") { _ in }
        #expect(loaded(p) == ["a"])
    }

    @Test func scanNamesFilesAndDiffusersFoldersWithoutExtensions() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("models-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/xl-folder/unet", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for file in ["one.safetensors", "two.GGUF", "unet_config.json", ".hidden.safetensors", "xl-folder/model_index.json", "xl-folder/unet/w.safetensors"] {
            try Data(repeating: 1, count: 7).write(to: URL(fileURLWithPath: folder + "/" + file))
        }
        try FileManager.default.createDirectory(atPath: folder + "/not-a-model", withIntermediateDirectories: true)
        let sources = try ModelSource.scan(directory: folder)
        #expect(sources.map(\.name) == ["one", "two", "xl-folder"])
        #expect(sources.map(\.estimatedBytes) == [7, 7, 7])
        try Data().write(to: URL(fileURLWithPath: folder + "/one.gguf"))
        #expect(throws: ModelDirectoryError.self) { try ModelSource.scan(directory: folder) }
        #expect(throws: ModelDirectoryError.self) { try ModelSource.scan(directory: folder + "/missing") }
    }
}

/// Two models of the built-in's size behind one server that keeps only one loaded: requests
/// alternating between them each get the picture a single-model run of that model draws.
@Suite(.serialized) struct MultiModelServerTests {
    @Test func alternatingRequestsGetEachModelsOwnPicture() async throws {
        let builtIn = try #require(builtInPipeline)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("model-dir-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The variant: the built-in file with a different VAE (its decoder's output bias shifted),
        // with the configs the built-in keeps beside its file.
        let original = try SafetensorsFile(path: try BuiltInModel.checkpointPath())
        var writer = SafetensorsWriter()
        for (name, stored) in original.tensors {
            if name == "first_stage_model.decoder.conv_out.bias" {
                writer.add(name, try stored.toTensor() + 0.4, as: stored.dtype)
            } else {
                writer.add(name, dtype: stored.dtype, shape: stored.shape, encodedBytes: Array(stored.bytes))
            }
        }
        try writer.write(to: folder + "/variant.safetensors")
        for config in ["scheduler_config.json", "unet_config.json", "text_encoder_config.json"] {
            try FileManager.default.copyItem(atPath: try BuiltInModel.file(config), toPath: folder + "/" + config)
        }
        let variant = try DiffusionPipeline(model: folder + "/variant.safetensors")

        var options = GenerationOptions(prompt: "a red circle on a blue background")
        options.steps = 3
        options.width = 64
        options.height = 64
        let expected = [
            "tiny-shapes": try #require(try builtIn.generate(options).first).image,
            "variant": try #require(try variant.generate(options).first).image,
        ]
        #expect(expected["tiny-shapes"] != expected["variant"])

        let models = ModelPool(
            defaultModel: ModelSource(name: "tiny-shapes", path: nil), preloaded: builtIn,
            others: try ModelSource.scan(directory: folder), maxLoaded: 1
        ) { try DiffusionPipeline(model: $0.path) }
        try await withServer(models: models) { client in
            let list = try await client.execute(uri: "/v1/models", method: .get).decode(ModelList.self)
            #expect(list.data.map(\.id) == ["tiny-shapes", "variant"] && list.data.map(\.loaded) == [true, false])
            #expect(list.data.map(\.isDefault) == [true, false])
            for name in ["variant", "tiny-shapes", "variant", nil, "tiny-shapes"] as [String?] {
                let field = name.map { #""model": "\#($0)", "# } ?? ""
                let response = try await client.postJSON(
                    "/v1/images/generations",
                    #"{\#(field)"prompt": "a red circle on a blue background", "size": "64x64", "steps": 3, "response_format": "b64_json"}"#)
                #expect(response.status == .ok, "\(response.text)")
                let item = try #require(try response.decode(ImageResponse.self).data.first)
                let image = try PNG.decode(Array(try #require(Data(base64Encoded: item.b64JSON ?? ""))))
                #expect(image == expected[name ?? "tiny-shapes"], "model \(name ?? "default")")
                let health = try await client.execute(uri: "/health", method: .get).decode(HealthStatus.self)
                #expect(health.models.filter(\.loaded).map(\.id) == [name ?? "tiny-shapes"], "only the last model stays loaded")
            }
            let unknown = try await client.postJSON("/v1/images/generations", #"{"model": "dall-e-3", "prompt": "x"}"#)
            #expect(unknown.status == .notFound && unknown.error?.param == "model" && unknown.error?.code == "model_not_found")
            #expect(try await client.execute(uri: "/v1/models/variant", method: .get).decode(ModelList.Model.self).id == "variant")
            #expect(try await client.execute(uri: "/v1/models/nope", method: .get).status == .notFound)
        }
    }
}
