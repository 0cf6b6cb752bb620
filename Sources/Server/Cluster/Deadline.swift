/// A database call that took too long. While the database is down the pool keeps trying to
/// connect and queued calls would wait for it indefinitely; a deadline turns that into an
/// answer (a 503 for a route, a failed renewal for a heartbeat).
struct DeadlineExceeded: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "no answer from the database within \(limit)" }
}

/// Runs `body`, cancelling it and throwing `DeadlineExceeded` after `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw DeadlineExceeded(limit: limit)
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}
