import Logging
import ServiceLifecycle

/// Deletes expired outputs every `interval` until the server shuts down.
struct FileSweeper: Service {
    let store: FileStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        guard store.timeToLive != nil else { return }
        // `cancelWhenGracefulShutdown` turns a shutdown into cancellation of the sleep.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let removed = store.sweep()
                if removed > 0 { logger.info("removed \(removed) expired file(s)") }
                try await Task.sleep(for: interval)
            }
        }
    }
}
