import Hummingbird

/// The asynchronous jobs: `GET /v1/images/jobs/{id}`, `POST /v1/images/jobs/{id}/cancel` and
/// `DELETE /v1/images/jobs/{id}`, with stable-diffusion.cpp's paths `GET /sdcpp/v1/jobs/{id}` and
/// `POST /sdcpp/v1/jobs/{id}/cancel` as aliases. 404 unknown, 410 expired, 409 already finished.
struct JobRoutes {
    let state: ServerState

    func register(on router: Router<ServerRequestContext>) {
        for prefix in ["v1/images/jobs", "sdcpp/v1/jobs"] {
            router.get("\(prefix)/{id}") { _, context in try await status(context.parameters.require("id")) }
            router.post("\(prefix)/{id}/cancel") { _, context in try await cancel(context.parameters.require("id")) }
            router.delete("\(prefix)/{id}") { _, context in try await cancel(context.parameters.require("id")) }
            MethodGuard.refuse(on: router, path: "\(prefix)/{id}", allowing: [.get, .delete])
            MethodGuard.refuse(on: router, path: "\(prefix)/{id}/cancel", allowing: [.post])
        }
    }

    private func status(_ id: String) async throws -> Response {
        // Cluster mode: asynchronous jobs live in the database; the others (synchronous and
        // streaming requests, by their x-job-id) in this replica's queue.
        if let cluster = state.cluster, let body = try await cluster.status(id) { return try JSONResponse.make(body) }
        return try JSONResponse.make(JobStatusResponse(await state.queue.snapshot(id)))
    }

    private func cancel(_ id: String) async throws -> Response {
        if let cluster = state.cluster, let body = try await cluster.cancel(id) { return try JSONResponse.make(body) }
        try await state.queue.cancel(id)
        return try await status(id)
    }
}
