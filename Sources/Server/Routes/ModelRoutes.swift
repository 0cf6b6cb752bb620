import Foundation
import Hummingbird

/// `GET /v1/models`, `GET /health` (no key needed: for load balancers) and sd-api-server's
/// `/echo` (any method, any path under it).
struct ModelRoutes {
    let state: ServerState
    let started = Date()

    func register(on router: Router<ServerRequestContext>) {
        let model = ModelList.Model(id: state.modelName, created: Int(started.timeIntervalSince1970))
        router.get("v1/models") { _, _ in try JSONResponse.make(ModelList(data: [model])) }
        router.get("v1/models/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard id == model.id else { throw ServerError.notFound("model \(id.prefix(60)) not found") }
            return try JSONResponse.make(model)
        }
        let queue = state.queue, name = state.modelName
        router.get("health") { _, _ in
            let load = await queue.load
            return try JSONResponse.make(HealthStatus(model: name, queued: load.pending, running: load.running))
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
}
