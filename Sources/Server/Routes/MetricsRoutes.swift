import Hummingbird
import NIOCore

/// `GET /metrics`: the Prometheus text exposition format (version 0.0.4). Open like `/health`
/// even with an API key: it carries counts, durations and model names, never prompts or
/// pictures, and scrapers are simplest to configure without a key.
struct MetricsRoutes {
    let state: ServerState

    func register(on router: Router<ServerRequestContext>) {
        let queue = state.queue, models = state.models
        router.get("metrics") { _, _ in
            let load = await queue.load
            let text = queue.metrics.render(
                queued: load.pending, running: load.running, models: models.statuses, residentBytes: ResidentMemory.bytes())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
        MethodGuard.refuse(on: router, path: "metrics", allowing: [.get])
    }
}
