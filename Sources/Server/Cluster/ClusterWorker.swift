import Foundation
import Logging
import ServiceLifecycle

/// The replica's side of the shared queue: while it has a free generation slot it leases the
/// oldest job (`ClusterJobStore.claim`), runs it on the local `JobQueue` (so concurrency, limits
/// and cancellation are the embedded server's), renews the lease, writes progress and reads the
/// cancel flag once per heartbeat, and writes the outcome as `ClusterLease` decides.
struct ClusterWorker: Sendable {
    let jobs: ClusterJobs
    let state: ServerState
    let logger: Logger

    private var store: ClusterJobStore { jobs.store }
    private var configuration: ClusterConfiguration { jobs.configuration }

    /// Leases and runs jobs until graceful shutdown; returns once every leased job has been
    /// written back (completed, failed, or released for another replica).
    func run() async {
        let slots = Slots(capacity: max(1, state.configuration.maxConcurrentJobs))
        let clock = ContinuousClock()
        let exhausted = ClusterJobs.json(
            ServerError.internalError(
                "the job was abandoned \(configuration.maxAttempts) times (its replica stopped renewing the lease); giving up"
            ).body.error)
        let cancelled = ClusterJobs.json(ServerError.cancelled("the job was cancelled").body.error)
        var failures = 0
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully && !slots.isStopped {
                // Only with room: a job leased here but waiting behind local requests would hold
                // a lease another replica could have used.
                let load = await state.queue.load
                if slots.available > 0 && load.pending == 0 && load.running < state.configuration.maxConcurrentJobs {
                    do {
                        let ended = try await withDeadline(configuration.requestTimeout) { [store, configuration] in
                            try await store.endAbandoned(maxAttempts: configuration.maxAttempts, exhausted: exhausted, cancelled: cancelled)
                        }
                        if ended > 0 { logger.warning("ended \(ended) abandoned cluster job(s) (out of attempts or cancelled)") }
                        let sentAt = clock.now
                        let claimed = try await withDeadline(configuration.requestTimeout) { [store, configuration] in
                            try await store.claim(lease: configuration.leaseDuration, maxAttempts: configuration.maxAttempts)
                        }
                        if let job = claimed {
                            failures = 0
                            slots.take()
                            logger.info("leased cluster job", metadata: ["job": "\(job.id)", "attempt": "\(job.attempt)"])
                            group.addTask {
                                await execute(job, grantedAt: sentAt, slots: slots)
                                slots.give()
                            }
                            continue
                        }
                        failures = 0
                    } catch {
                        failures += 1
                        // Once per outage, not once per poll.
                        if failures == 1 { logger.warning("cannot lease cluster jobs", metadata: ["error": "\(String(reflecting: error).prefix(300))"]) }
                    }
                }
                try? await Task.sleep(for: configuration.pollInterval)
            }
        }
    }

    /// Runs one leased job to its end and writes the outcome.
    private func execute(_ job: ClaimedJob, grantedAt: ContinuousClock.Instant, slots: Slots) async {
        let clock = ContinuousClock()
        let lease = LeaseBox(ClusterLease(duration: configuration.leaseDuration, grantedAt: grantedAt))
        let prepared: PreparedImageRequest
        do {
            let wire = try PreparedImageRequest.wire(body: job.body, contentType: job.contentType, endpoint: job.endpoint)
            var request = try await jobs.prepare(wire, endpoint: job.endpoint, state: state)
            request.settings.stream = false
            prepared = request
        } catch ServerError.unavailable {
            // The database failed while fetching a control picture: let another try run it.
            await write(job, .release, error: nil, response: nil)
            return
        } catch {
            // It was valid where it was submitted; this replica differs (models, limits, files).
            await write(job, .fail, error: ServerError(error), response: nil)
            return
        }
        let ticket: JobQueue.Ticket
        do {
            let renderer = state.renderer, settings = prepared.settings
            ticket = try await state.queue.submit(prepared.options, model: prepared.model, wantsPreview: false, keepsResult: false) {
                try renderer.render($0, settings: settings)
            }
        } catch {
            // The local queue is stopping (graceful shutdown starts with it): lease no more.
            if case ServerError.shuttingDown = error { slots.stop() }
            await write(job, .release, error: nil, response: nil)
            return
        }
        let queue = state.queue
        let heartbeat = Task {
            var written: JobProgress?
            while !Task.isCancelled {
                try? await Task.sleep(for: configuration.heartbeatInterval)
                if Task.isCancelled { break }
                let progress = lease.progress
                let sentAt = clock.now
                let action: ClusterLease<ContinuousClock.Instant>.Action
                do {
                    let text = progress == written ? nil : progress.map { ClusterJobs.json($0) }
                    // A renewal that hangs must still end before the lease does.
                    let limit = min(configuration.requestTimeout, configuration.leaseDuration / 3)
                    let answer = try await withDeadline(limit) { [store, configuration] in
                        try await store.renew(job, lease: configuration.leaseDuration, progress: text)
                    }
                    if let cancel = answer {
                        written = progress
                        action = lease.update { $0.renewed(sentAt: sentAt, cancelRequested: cancel) }
                    } else {
                        logger.warning("lost the lease of a cluster job; stopping it", metadata: ["job": "\(job.id)"])
                        action = lease.update { $0.refused() }
                    }
                } catch {
                    action = lease.update { $0.renewalFailed(now: clock.now) }
                    if action == .stopLocal { logger.warning("could not renew a lease before it expired; stopping the job", metadata: ["job": "\(job.id)"]) }
                }
                if action == .stopLocal { await queue.cancelIfActive(ticket.id) }
            }
        }
        var outcome = ClusterLease<ContinuousClock.Instant>.Outcome.failed
        var failure: ServerError?
        var response: ImageResponse?
        for await event in ticket.events {
            switch event {
            case .progress(let progress): lease.progress = progress
            case .completed(let result):
                response = result
                outcome = .succeeded
            case .failed(let error):
                failure = error
                switch error {
                case .cancelled: outcome = .cancelled
                case .shuttingDown: outcome = .shuttingDown
                default: outcome = .failed
                }
            case .queued, .started: break
            }
        }
        heartbeat.cancel()
        _ = await heartbeat.value
        await write(job, lease.lease.finish(outcome), error: failure, response: response)
    }

    /// Writes what `finish` says, retrying database errors for up to a minute (a write that
    /// lands after another replica took the job over is refused by the lease check, so
    /// retrying cannot complete a job twice). The local copies of the files are removed
    /// either way: stored ones live in the database now, refused ones belong to nobody.
    private func write(_ job: ClaimedJob, _ finish: ClusterLease<ContinuousClock.Instant>.Finish, error: ServerError?, response: ImageResponse?) async {
        let fileIDs = response?.data.compactMap(\.fileID) ?? []
        defer { for id in fileIDs { _ = try? state.store.delete(id) } }
        let cancelled = ClusterJobs.json(ServerError.cancelled("the job was cancelled").body.error)
        for attempt in 1...60 {
            do {
                switch finish {
                case .complete:
                    guard let response else { return }
                    var files: [(object: FileObject, bytes: [UInt8])] = []
                    for id in fileIDs {
                        let (bytes, object) = try state.store.contents(id)
                        files.append((object, bytes))
                    }
                    let result = ClusterJobs.json(response), stored = files
                    let held = try await withDeadline(configuration.requestTimeout) { [store] in
                        try await store.complete(job, result: result, files: stored)
                    }
                    if held {
                        logger.info("completed cluster job", metadata: ["job": "\(job.id)", "attempt": "\(job.attempt)", "files": "\(files.count)"])
                    } else {
                        logger.warning("discarded the result of a cluster job another replica took over", metadata: ["job": "\(job.id)"])
                    }
                case .fail, .markCancelled:
                    let error = error ?? .internalError("the generation failed")
                    let status: JobQueueStateMachine<ContinuousClock.Instant>.Status = finish == .fail ? .failed : .cancelled
                    let text = ClusterJobs.json(error.body.error)
                    let held = try await withDeadline(configuration.requestTimeout) { [store] in
                        try await store.end(job, state: status, error: text)
                    }
                    if held {
                        logger.info("cluster job \(status.rawValue)", metadata: ["job": "\(job.id)"])
                    }
                case .release:
                    try await withDeadline(configuration.requestTimeout) { [store] in try await store.release(job, cancelled: cancelled) }
                    logger.info("released cluster job back to the queue", metadata: ["job": "\(job.id)"])
                case .discard:
                    logger.warning("discarded the result of a cluster job whose lease was lost", metadata: ["job": "\(job.id)"])
                }
                return
            } catch let error as ServerError {
                // The local files cannot be read: fail the job rather than lose it silently.
                logger.error("cannot read a finished job's files", metadata: ["job": "\(job.id)", "error": "\(error)"])
                _ = try? await store.end(job, state: .failed, error: ClusterJobs.json(error.body.error))
                return
            } catch {
                if attempt == 1 { logger.warning("cannot write a cluster job's outcome; retrying", metadata: ["job": "\(job.id)", "error": "\(String(reflecting: error).prefix(300))"]) }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        logger.error("gave up writing a cluster job's outcome; its lease will expire and another replica runs it", metadata: ["job": "\(job.id)"])
    }
}

/// The lease and the latest progress, shared by a job's event loop and its heartbeat.
private final class LeaseBox: @unchecked Sendable {
    private let lock = NSLock()
    private var current: ClusterLease<ContinuousClock.Instant>
    private var latest: JobProgress?

    init(_ lease: ClusterLease<ContinuousClock.Instant>) { current = lease }

    var lease: ClusterLease<ContinuousClock.Instant> { lock.withLock { current } }

    var progress: JobProgress? {
        get { lock.withLock { latest } }
        set { lock.withLock { latest = newValue } }
    }

    func update<T>(_ change: (inout ClusterLease<ContinuousClock.Instant>) -> T) -> T {
        lock.withLock { change(&current) }
    }
}

/// Free generation slots of this replica for cluster jobs.
private final class Slots: @unchecked Sendable {
    private let lock = NSLock()
    private var free: Int
    private var stopped = false

    init(capacity: Int) { free = capacity }

    var available: Int { lock.withLock { free } }
    var isStopped: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }
    func take() { lock.withLock { free -= 1 } }
    func give() { lock.withLock { free += 1 } }
}
