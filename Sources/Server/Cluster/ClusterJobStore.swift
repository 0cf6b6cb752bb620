import Foundation
import Logging
import NIOCore
import PostgresNIO

/// A job this replica has leased: what it needs to run it, and the lease's fencing token (owner
/// and attempt) that every later write of it names.
struct ClaimedJob: Sendable {
    var id: String
    var endpoint: ImageRequest.Endpoint
    var contentType: String
    var body: ByteBuffer
    var model: String
    var attempt: Int
}

/// Every SQL statement of cluster mode, over the pooled client. Writes about a leased job carry
/// `WHERE lease_owner = owner AND attempts = attempt AND state = 'generating'`: a replica whose
/// lease was taken over matches no row, so it can neither renew, complete nor fail the job.
/// Times are the database's (`now()`), so the replicas' clocks never need to agree.
struct ClusterJobStore: Sendable {
    let client: PostgresClient
    /// This replica's lease owner name.
    let owner: String
    let logger: Logger

    /// Key of the advisory lock that makes the queue-length check and the insert one step.
    static let queueLock = 0x7364_0002

    /// Adds a queued job unless `maxQueued` jobs already wait in the whole cluster.
    /// - Returns: false when the queue is full.
    func insert(id: String, endpoint: ImageRequest.Endpoint, contentType: String, body: ByteBuffer, model: String, maxQueued: Int) async throws -> Bool {
        let endpointName = endpoint == .edits ? "edits" : "generations"
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.queueLock))", logger: logger)
            var queued = 0
            for try await count in try await connection.query("SELECT count(*) FROM sd_jobs WHERE state = 'queued'", logger: logger).decode(Int.self) {
                queued = count
            }
            guard queued < maxQueued else { return false }
            try await connection.query(
                """
                INSERT INTO sd_jobs (id, endpoint, content_type, request, model, state)
                VALUES (\(id), \(endpointName), \(contentType), \(body), \(model), 'queued')
                """, logger: logger)
            return true
        }
    }

    /// The job as a poll shows it; nil when there is no such row.
    func record(_ id: String) async throws -> ClusterJobRecord? {
        let rows = try await client.query(
            """
            SELECT j.id, j.state, extract(epoch FROM j.created_at)::bigint, extract(epoch FROM j.started_at)::bigint,
                extract(epoch FROM j.finished_at)::bigint,
                CASE WHEN j.state = 'queued' THEN (SELECT count(*) FROM sd_jobs q WHERE q.state = 'queued' AND q.seq < j.seq) + 1 END,
                j.progress::text, j.result::text, j.error::text, extract(epoch FROM now() - j.finished_at)::float8
            FROM sd_jobs j WHERE j.id = \(id)
            """, logger: logger)
        for try await row in rows.decode((String, String, Int, Int?, Int?, Int?, String?, String?, String?, Double?).self) {
            guard let state = JobQueueStateMachine<ContinuousClock.Instant>.Status(rawValue: row.1) else { return nil }
            return ClusterJobRecord(
                id: row.0, state: state, created: row.2, started: row.3, finished: row.4, position: row.5, progress: row.6,
                result: row.7, error: row.8, secondsSinceFinished: row.9)
        }
        return nil
    }

    /// A client's cancel: a queued job is cancelled at once; a generating one gets the flag its
    /// leasing replica reads with its next heartbeat.
    /// - Returns: the state the job was in, nil when it is neither queued nor generating (or
    ///   does not exist).
    func requestCancel(_ id: String, error: String) async throws -> String? {
        // The CTE locks the row and keeps its old state: RETURNING alone shows the new one.
        let rows = try await client.query(
            """
            WITH old AS (SELECT id, state FROM sd_jobs WHERE id = \(id) AND state IN ('queued', 'generating') FOR UPDATE)
            UPDATE sd_jobs j SET cancel_requested = true,
                state = CASE WHEN old.state = 'queued' THEN 'cancelled' ELSE j.state END,
                finished_at = CASE WHEN old.state = 'queued' THEN now() ELSE j.finished_at END,
                error = CASE WHEN old.state = 'queued' THEN \(error)::jsonb ELSE j.error END,
                request = CASE WHEN old.state = 'queued' THEN NULL ELSE j.request END
            FROM old WHERE j.id = old.id
            RETURNING old.state
            """, logger: logger)
        for try await state in rows.decode(String.self) { return state }
        return nil
    }

    /// Leases the oldest job that is queued or whose lease ran out (its replica died), for
    /// `lease` seconds. `SKIP LOCKED` lets replicas claim side by side without waiting on each
    /// other's rows.
    func claim(lease: Duration, maxAttempts: Int) async throws -> ClaimedJob? {
        let rows = try await client.query(
            """
            UPDATE sd_jobs SET state = 'generating', lease_owner = \(owner), attempts = attempts + 1,
                leased_at = now(), lease_expires_at = now() + make_interval(secs => \(Self.seconds(lease))),
                started_at = coalesce(started_at, now()), progress = NULL
            WHERE id = (
                SELECT id FROM sd_jobs
                WHERE (state = 'queued' OR (state = 'generating' AND lease_expires_at < now()))
                    AND NOT cancel_requested AND attempts < \(maxAttempts)
                ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, endpoint, content_type, request, model, attempts
            """, logger: logger)
        for try await row in rows.decode((String, String, String, ByteBuffer?, String, Int).self) {
            return ClaimedJob(
                id: row.0, endpoint: row.1 == "edits" ? .edits : .generations, contentType: row.2, body: row.3 ?? ByteBuffer(),
                model: row.4, attempt: row.5)
        }
        return nil
    }

    /// Ends the jobs whose lease ran out and that may not be taken over: cancelled ones (their
    /// replica died after the cancel was asked) and those out of attempts (failed).
    /// - Returns: how many.
    func endAbandoned(maxAttempts: Int, exhausted: String, cancelled: String) async throws -> Int {
        let rows = try await client.query(
            """
            UPDATE sd_jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END,
                error = CASE WHEN cancel_requested THEN \(cancelled)::jsonb ELSE \(exhausted)::jsonb END,
                finished_at = now(), request = NULL, progress = NULL, lease_expires_at = NULL
            WHERE state = 'generating' AND lease_expires_at < now() AND (attempts >= \(maxAttempts) OR cancel_requested)
            RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    /// Renews the lease and writes the progress (when given).
    /// - Returns: whether a cancel was asked for; nil when the lease is no longer this replica's.
    func renew(_ job: ClaimedJob, lease: Duration, progress: String?) async throws -> Bool? {
        let rows = try await client.query(
            """
            UPDATE sd_jobs SET lease_expires_at = now() + make_interval(secs => \(Self.seconds(lease))),
                progress = coalesce(\(progress)::jsonb, progress)
            WHERE id = \(job.id) AND lease_owner = \(owner) AND attempts = \(job.attempt) AND state = 'generating'
            RETURNING cancel_requested
            """, logger: logger)
        for try await cancel in rows.decode(Bool.self) { return cancel }
        return nil
    }

    /// Completes the job with its answer and files, in one transaction that first checks the
    /// lease is still this replica's: exactly one finisher writes, a late one writes nothing.
    /// - Returns: false when the lease was no longer held (nothing was written).
    func complete(_ job: ClaimedJob, result: String, files: [(object: FileObject, bytes: [UInt8])]) async throws -> Bool {
        try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE sd_jobs SET state = 'completed', result = \(result)::jsonb, finished_at = now(), request = NULL,
                    progress = NULL, lease_expires_at = NULL
                WHERE id = \(job.id) AND lease_owner = \(owner) AND attempts = \(job.attempt) AND state = 'generating'
                RETURNING id
                """, logger: logger)
            var held = false
            for try await _ in rows { held = true }
            guard held else { return false }
            for file in files {
                try await connection.query(
                    """
                    INSERT INTO sd_files (id, job_id, filename, bytes)
                    VALUES (\(file.object.id), \(job.id), \(file.object.filename), \(ByteBuffer(bytes: file.bytes)))
                    """, logger: logger)
            }
            return true
        }
    }

    /// Ends the job as `failed` or `cancelled` with `error`, if the lease is still held.
    /// - Returns: false when it was not.
    func end(_ job: ClaimedJob, state: JobQueueStateMachine<ContinuousClock.Instant>.Status, error: String) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE sd_jobs SET state = \(state.rawValue), error = \(error)::jsonb, finished_at = now(), request = NULL,
                progress = NULL, lease_expires_at = NULL
            WHERE id = \(job.id) AND lease_owner = \(owner) AND attempts = \(job.attempt) AND state = 'generating'
            RETURNING id
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Gives the job back to the queue without counting the attempt (this replica is shutting
    /// down, or its own queue had no room); one cancelled meanwhile is ended as cancelled.
    func release(_ job: ClaimedJob, cancelled: String) async throws {
        try await client.query(
            """
            UPDATE sd_jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
                finished_at = CASE WHEN cancel_requested THEN now() END,
                error = CASE WHEN cancel_requested THEN \(cancelled)::jsonb END,
                request = CASE WHEN cancel_requested THEN NULL ELSE request END,
                lease_owner = NULL, lease_expires_at = NULL, attempts = attempts - 1, progress = NULL
            WHERE id = \(job.id) AND lease_owner = \(owner) AND attempts = \(job.attempt) AND state = 'generating'
            """, logger: logger)
    }

    // MARK: Files

    /// The FileObject of a stored cluster file; nil when there is none.
    func file(_ id: String) async throws -> FileObject? {
        let rows = try await client.query(
            """
            SELECT id, octet_length(bytes)::bigint, extract(epoch FROM created_at)::bigint, filename FROM sd_files WHERE id = \(id)
            """, logger: logger)
        for try await row in rows.decode((String, Int, Int, String).self) {
            return FileObject(id: row.0, bytes: row.1, createdAt: row.2, filename: row.3)
        }
        return nil
    }

    /// A stored cluster file's bytes and FileObject; nil when there is none.
    func contents(_ id: String) async throws -> (bytes: [UInt8], object: FileObject)? {
        let rows = try await client.query(
            """
            SELECT id, extract(epoch FROM created_at)::bigint, filename, bytes FROM sd_files WHERE id = \(id)
            """, logger: logger)
        for try await row in rows.decode((String, Int, String, ByteBuffer).self) {
            let bytes = Array(row.3.readableBytesView)
            return (bytes, FileObject(id: row.0, bytes: bytes.count, createdAt: row.1, filename: row.2))
        }
        return nil
    }

    /// Every stored cluster file, oldest first.
    func files() async throws -> [FileObject] {
        let rows = try await client.query(
            """
            SELECT id, octet_length(bytes)::bigint, extract(epoch FROM created_at)::bigint, filename FROM sd_files
            ORDER BY created_at, id
            """, logger: logger)
        var objects: [FileObject] = []
        for try await row in rows.decode((String, Int, Int, String).self) {
            objects.append(FileObject(id: row.0, bytes: row.1, createdAt: row.2, filename: row.3))
        }
        return objects
    }

    /// - Returns: false when there was no such file.
    func deleteFile(_ id: String) async throws -> Bool {
        let rows = try await client.query("DELETE FROM sd_files WHERE id = \(id) RETURNING id", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Deletes files older than `fileTimeToLive` (nil keeps them) and job rows finished longer
    /// than `retention` ago.
    func sweep(fileTimeToLive: Duration?, retention: Duration) async throws {
        if let fileTimeToLive {
            try await client.query(
                "DELETE FROM sd_files WHERE created_at < now() - make_interval(secs => \(Self.seconds(fileTimeToLive)))", logger: logger)
        }
        try await client.query(
            "DELETE FROM sd_jobs WHERE finished_at < now() - make_interval(secs => \(Self.seconds(retention)))", logger: logger)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}
