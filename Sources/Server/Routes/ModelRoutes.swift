import Diffusion
import Foundation
import Hummingbird

/// `GET /v1/models`, `GET /health` (no key needed: for load balancers) and sd-api-server's
/// `/echo` (any method, any path under it).
struct ModelRoutes {
    let state: ServerState
    let started = Date()

    func register(on router: Router<ServerRequestContext>) {
        let models = state.models, created = Int(started.timeIntervalSince1970)
        @Sendable func listed() -> [ModelList.Model] {
            models.statuses.map { ModelList.Model(id: $0.name, created: created, loaded: $0.loaded, isDefault: $0.isDefault) }
        }
        router.get("v1/models") { _, _ in try JSONResponse.make(ModelList(data: listed())) }
        router.get("v1/models/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard let model = listed().first(where: { $0.id == id }) else { throw ServerError.unknownModel(id) }
            return try JSONResponse.make(model)
        }
        // The LoRA folder's names (`<lora:NAME:WEIGHT>`, the `lora` field); empty without one.
        let loraFolder = state.configuration.loraModelDirectory.map { LoRALibrary(directory: $0) }
        router.get("v1/loras") { _, _ in
            try JSONResponse.make(LoRAList(data: (loraFolder?.names() ?? []).map { LoRAList.Entry(name: $0) }))
        }
        MethodGuard.refuse(on: router, path: "v1/loras", allowing: [.get])
        let embeddingFolder = state.configuration.embeddingDirectory.map { EmbeddingLibrary(directory: $0) }
        router.get("v1/embeddings") { _, _ in
            let entries = (embeddingFolder?.entries() ?? []).map { entry -> EmbeddingList.Entry in
                do {
                    let embedding = try embeddingFolder?.embedding(entry)
                    return EmbeddingList.Entry(name: entry.name, vectors: embedding?.vectorCount, family: embedding.map(Self.family))
                } catch {
                    return EmbeddingList.Entry(name: entry.name, error: "\(error)")
                }
            }
            return try JSONResponse.make(EmbeddingList(data: entries))
        }
        MethodGuard.refuse(on: router, path: "v1/embeddings", allowing: [.get])
        let queue = state.queue
        router.get("health") { _, _ in
            let load = await queue.load
            let all = models.statuses.map { HealthStatus.Model(id: $0.name, loaded: $0.loaded) }
            return try JSONResponse.make(HealthStatus(model: models.defaultName, queued: load.pending, running: load.running, models: all))
        }
        MethodGuard.refuse(on: router, path: "v1/models", allowing: [.get])
        MethodGuard.refuse(on: router, path: "health", allowing: [.get])
        for path in ["echo", "echo/**"] {
            for method in MethodGuard.methods {
                router.on(RouterPath(path), method: method) { _, _ in
                    Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: .init(string: "echo test")))
                }
            }
        }
    }

    /// The family an embedding's tables are for.
    static func family(_ embedding: TextualInversion) -> String {
        if embedding.tables[.clipL]?.shape[1] == 768 && embedding.tables[.clipG]?.shape[1] == 1280 { return "sdxl" }
        switch embedding.tables[.single]?.shape[1] {
        case 768: return "sd1"
        case 1024: return "sd2"
        default: return "other"
        }
    }
}
