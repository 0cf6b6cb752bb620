import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Cluster mode as the routes see it: asynchronous jobs submitted to, polled from and cancelled
/// in the shared database, and the files of cluster jobs read from it, the same on every
/// replica. Database failures become 503s with `Retry-After` (the pool reconnects by itself);
/// until the schema is in place (`markReady`) every call is a 503 too.
final class ClusterJobs: Sendable {
    let store: ClusterJobStore
    let configuration: ClusterConfiguration
    private let maxQueued: Int
    private let timeToLive: Duration
    private let retryAfter: Int
    private let ready = ReadyFlag()

    init(store: ClusterJobStore, configuration: ClusterConfiguration, server: ServerConfiguration) {
        self.store = store
        self.configuration = configuration
        // At least one may wait: a cluster job always waits in the table until a replica leases it.
        maxQueued = max(1, server.maxQueueLength)
        timeToLive = server.jobTimeToLive
        retryAfter = server.retryAfterSeconds
    }

    /// The schema is in place: calls go to the database from now on.
    func markReady() { ready.set() }

    /// Validates a request; a `control_image` naming a file of a cluster job (in the database,
    /// not in this replica's folder) is fetched first.
    func prepare(_ wire: ImageRequest, endpoint: ImageRequest.Endpoint, state: ServerState) async throws -> PreparedImageRequest {
        var context = state.mappingContext
        if case .storedFile(let id)? = wire.controlImage, FileStore.isValidID(id), (try? state.store.contents(id)) == nil,
            let bytes = try await guarded({ [store] in try await store.contents(id) })?.bytes
        {
            context.storedFile = { $0 == id ? bytes : nil }
        }
        return try PreparedImageRequest(wire: wire, endpoint: endpoint, state: state, context: context)
    }

    /// Queues a validated request (its body as received) for any replica.
    /// - Throws: `ServerError.queueFull` when the cluster's queue is full, `.unavailable` on
    ///   database errors.
    func submit(body: ByteBuffer, contentType: String, endpoint: ImageRequest.Endpoint, model: String) async throws -> JobStatusResponse {
        let id = "job_\(UUID().uuidString.lowercased())"
        let inserted = try await guarded { [store, maxQueued] in
            try await store.insert(id: id, endpoint: endpoint, contentType: contentType, body: body, model: model, maxQueued: maxQueued)
        }
        guard inserted else { throw ServerError.queueFull(retryAfter: retryAfter) }
        guard let body = try await status(id) else { throw ServerError.internalError("job \(id) vanished after it was queued") }
        return body
    }

    /// The poll answer; nil when the database has no such job (the caller asks its local queue).
    func status(_ id: String) async throws -> JobStatusResponse? {
        guard let record = try await guarded({ [store] in try await store.record(id) }) else { return nil }
        return try record.response(timeToLive: timeToLive)
    }

    /// Cancels a queued job at once, asks the leasing replica to stop a generating one.
    /// - Returns: the job's state after; nil when the database has no such job.
    /// - Throws: `ServerError.conflict` when it already finished, `.gone` when that was long ago.
    func cancel(_ id: String) async throws -> JobStatusResponse? {
        let cancelled = Self.json(ServerError.cancelled("the job was cancelled").body.error)
        if try await guarded({ [store] in try await store.requestCancel(id, error: cancelled) }) == nil {
            guard let body = try await status(id) else { return nil }
            throw ServerError.conflict("job \(id) is already \(body.status)")
        }
        return try await status(id)
    }

    // MARK: Files

    func file(_ id: String) async throws -> FileObject? { try await guarded { [store] in try await store.file(id) } }
    func contents(_ id: String) async throws -> (bytes: [UInt8], object: FileObject)? { try await guarded { [store] in try await store.contents(id) } }
    func files() async throws -> [FileObject] { try await guarded { [store] in try await store.files() } }
    func deleteFile(_ id: String) async throws -> Bool { try await guarded { [store] in try await store.deleteFile(id) } }

    /// Runs a database call; its failures (connection refused or lost, the server restarting, a
    /// statement error) become a 503 with `Retry-After`, logged, and never crash the server.
    func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard ready.isSet else {
            throw ServerError.unavailable("the job database is not ready yet; retry shortly", retryAfter: retryAfter)
        }
        do {
            return try await withDeadline(configuration.requestTimeout, body)
        } catch let error as ServerError {
            throw error
        } catch {
            store.logger.warning("job database error", metadata: ["error": "\(String(reflecting: error).prefix(500))"])
            throw ServerError.unavailable("the job database is unavailable; retry shortly", retryAfter: retryAfter)
        }
    }

    /// JSON text for a jsonb column.
    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}

/// Set once, read from any thread.
private final class ReadyFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
