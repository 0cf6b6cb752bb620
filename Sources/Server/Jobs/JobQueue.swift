import Diffusion
import Foundation
import Logging

/// Runs generations one at a time (or `maxConcurrentJobs`), each on its own thread so the NIO
/// event loops and the cooperative pool stay free, behind a bounded queue. The rules live in
/// `JobQueueStateMachine`; this actor carries them out and keeps each job's events, progress
/// and (for asynchronous jobs) result.
actor JobQueue {
    /// What a job's submitter gets back.
    struct Ticket: Sendable {
        var id: String
        var events: AsyncStream<JobEvent>
    }

    /// A job as `GET /v1/images/jobs/{id}` shows it.
    struct Snapshot: Sendable {
        var id: String
        var record: JobQueueStateMachine<ContinuousClock.Instant>.Record
        var position: Int?
        var progress: JobProgress?
        var result: ImageResponse?
        var error: ServerError?
        var created: Date
        var started: Date?
        var finished: Date?
    }

    private struct Job {
        /// Dropped once the job starts, so finished jobs do not hold uploaded pictures.
        var options: GenerationOptions?
        /// The model it runs on (a `ModelPool` name).
        let model: String
        let control = JobControl()
        let events: AsyncStream<JobEvent>.Continuation
        let wantsPreview: Bool
        let keepsResult: Bool
        let render: @Sendable ([GeneratedImage]) throws -> ImageResponse
        var result: ImageResponse?
        var error: ServerError?
        /// Wall-clock times for the job JSON (the state machine keeps monotonic ones).
        var created = Date()
        var started: Date?
        var finished: Date?
    }

    private let models: ModelPool
    /// Job outcomes and step and picture times, for `GET /metrics`.
    nonisolated let metrics: ServerMetrics
    private let limits: GenerationOptions.Limits
    private let retryAfter: Int
    private let logger: Logger
    private let clock = ContinuousClock()
    private var machine: JobQueueStateMachine<ContinuousClock.Instant>
    private var jobs: [String: Job] = [:]
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    init(models: ModelPool, configuration: ServerConfiguration, logger: Logger, metrics: ServerMetrics = ServerMetrics()) {
        self.models = models
        self.metrics = metrics
        self.limits = configuration.limits
        self.retryAfter = configuration.retryAfterSeconds
        self.logger = logger
        machine = JobQueueStateMachine(
            maxPending: configuration.maxQueueLength, maxRunning: max(1, configuration.maxConcurrentJobs),
            timeToLive: configuration.jobTimeToLive)
    }

    /// Queues a generation. `render` runs on the worker thread after generating (encoding and
    /// storing the pictures). `keepsResult` keeps the response for polling.
    /// - Throws: `ServerError.queueFull` (429) or `.shuttingDown`.
    func submit(
        _ options: GenerationOptions, model: String, wantsPreview: Bool, keepsResult: Bool,
        render: @escaping @Sendable ([GeneratedImage]) throws -> ImageResponse
    ) throws -> Ticket {
        expireOldJobs()
        let id = "job_\(UUID().uuidString.lowercased())"
        // Bounded: a client that never reads its stream cannot make events pile up; the
        // terminal event is the newest, so it is never the one dropped.
        let (stream, continuation) = AsyncStream<JobEvent>.makeStream(bufferingPolicy: .bufferingNewest(32))
        let job = Job(options: options, model: model, events: continuation, wantsPreview: wantsPreview, keepsResult: keepsResult, render: render)
        switch machine.submit(id, now: clock.now) {
        case .reject:
            continuation.finish()
            throw ServerError.queueFull(retryAfter: retryAfter)
        case .refuseShuttingDown:
            continuation.finish()
            throw ServerError.shuttingDown
        case .enqueue(let position):
            jobs[id] = job
            continuation.yield(.queued(position: position))
            logger.debug("job queued", metadata: ["job": "\(id)", "position": "\(position)"])
        case .start:
            jobs[id] = job
            continuation.yield(.queued(position: 0))
            start(id)
        }
        return Ticket(id: id, events: stream)
    }

    /// Cancels a waiting or running job.
    /// - Throws: `ServerError.notFound`, `.gone` (expired) or `.conflict` (already finished).
    func cancel(_ id: String) throws {
        expireOldJobs()
        switch machine.cancel(id, now: clock.now) {
        case .cancelledWhileQueued:
            finishJob(id, error: .cancelled("the job was cancelled"))
            announcePositions()
        case .cancelRunning:
            jobs[id]?.control.cancel()
        case .alreadyFinished(let status):
            throw ServerError.conflict("job \(id) is already \(status.rawValue)")
        case .unknown:
            throw ServerError.notFound("job \(id.prefix(60)) not found")
        case .expired:
            throw ServerError.gone("job \(id) has expired")
        }
    }

    /// Cancels quietly whatever state the job is in (a client went away).
    func cancelIfActive(_ id: String) {
        try? cancel(id)
    }

    /// A1111's interrupt and skip of a running job (see `GenerationInterruption`); false when it
    /// is not running.
    func interrupt(_ id: String, skipOnly: Bool) -> Bool {
        guard case .found(let record, _) = machine.lookup(id), record.status == .generating, let control = jobs[id]?.control else { return false }
        if skipOnly { control.skip() } else { control.interrupt() }
        return true
    }

    /// The job's current state.
    /// - Throws: `ServerError.notFound` or `.gone`.
    func snapshot(_ id: String) throws -> Snapshot {
        expireOldJobs()
        switch machine.lookup(id) {
        case .found(let record, let position):
            let job = jobs[id]
            return Snapshot(
                id: id, record: record, position: position, progress: job?.control.progress, result: job?.result, error: job?.error,
                created: job?.created ?? Date(), started: job?.started, finished: job?.finished)
        case .unknown: throw ServerError.notFound("job \(id.prefix(60)) not found")
        case .expired: throw ServerError.gone("job \(id) has expired")
        }
    }

    /// Jobs waiting and running.
    var load: (pending: Int, running: Int) { (machine.pending.count, machine.running.count) }

    /// Refuses new jobs, cancels waiting ones, stops running ones at their next step and
    /// returns once none runs. Their requests are answered with 503.
    func shutdown() async {
        let (cancelled, toStop) = machine.shutdown(now: clock.now)
        for id in cancelled { finishJob(id, error: .shuttingDown) }
        for id in toStop { jobs[id]?.control.cancel() }
        if !toStop.isEmpty { logger.info("stopping \(toStop.count) running generation(s)") }
        while !machine.running.isEmpty {
            await withCheckedContinuation { idleWaiters.append($0) }
        }
    }

    private func start(_ id: String) {
        guard var job = jobs[id], let options = job.options else { return }
        job.started = Date()
        job.options = nil
        jobs[id] = job
        job.events.yield(.started)
        logger.debug("job started", metadata: ["job": "\(id)"])
        let models = self.models, model = job.model, limits = self.limits
        let control = job.control, events = job.events, wantsPreview = job.wantsPreview, render = job.render
        let metrics = self.metrics
        let thread = Thread { [self] in
            let startTime = Date()
            let outcome = Result<ImageResponse, any Error> {
                // Loads the model on its first use (the wait counts as this job's running time).
                let images = try models.withModel(model) { generator in
                    let began = ContinuousClock.now
                    var steps = StepTimer<ContinuousClock.Instant>()
                    // Also inside the prompt encodes, where no step reports yet.
                    let images = try GenerationCancellation { control.isCancelled }.withValue {
                        try generator.generate(options, limits: limits) { step in
                            if control.isCancelled { throw GenerationError.cancelled }
                            if let took = steps.report(image: step.imageIndex, at: .now) { metrics.stepFinished(took) }
                            if let interruption = control.takeInterruption() { throw interruption }
                            let preview = wantsPreview ? generator.preview(step.denoised) : nil
                            let progress = Self.progress(step, since: startTime, preview: preview)
                            control.progress = progress
                            events.yield(.progress(progress))
                        }
                    }
                    metrics.imagesGenerated(images.count, in: began.duration(to: .now))
                    return images
                }
                // A cancel that lands during the last step still wins: nothing is stored.
                if control.isCancelled { throw GenerationError.cancelled }
                return try render(images)
            }
            Task { await self.finished(id, outcome) }
        }
        // Deep model code on a secondary thread: give it the main thread's usual stack.
        thread.stackSize = 16 << 20
        thread.name = "sd-generate"
        thread.start()
    }

    private func finished(_ id: String, _ outcome: Result<ImageResponse, any Error>) {
        let status: JobQueueStateMachine<ContinuousClock.Instant>.Status
        switch outcome {
        case .success(let response):
            status = .completed
            metrics.jobFinished(.succeeded)
            if var job = jobs[id] {
                if job.keepsResult { job.result = response }
                job.finished = Date()
                jobs[id] = job
                job.events.yield(.completed(response))
                job.events.finish()
            }
        case .failure(let error):
            let serverError = machine.isShuttingDown && jobs[id]?.control.isCancelled == true ? .shuttingDown : ServerError(error)
            if case .cancelled = serverError { status = .cancelled } else if case .shuttingDown = serverError { status = .cancelled } else { status = .failed }
            switch serverError {
            case .internalError, .insufficientStorage: logger.error("generation failed", metadata: ["job": "\(id)", "error": "\(error)"])
            default: break
            }
            finishJob(id, error: serverError)
        }
        logger.debug("job finished", metadata: ["job": "\(id)", "status": "\(status.rawValue)"])
        for next in machine.finish(id, status: status, now: clock.now) { start(next) }
        announcePositions()
        if machine.running.isEmpty {
            for waiter in idleWaiters { waiter.resume() }
            idleWaiters = []
        }
    }

    /// Every job that does not succeed ends here (failed, or cancelled queued or running).
    private func finishJob(_ id: String, error: ServerError) {
        guard var job = jobs[id] else { return }
        switch error {
        case .cancelled, .shuttingDown: metrics.jobFinished(.cancelled)
        default: metrics.jobFinished(.failed)
        }
        job.error = error
        job.finished = Date()
        jobs[id] = job
        job.events.yield(.failed(error))
        job.events.finish()
    }

    /// Tells every waiting job its new place after the line moved.
    private func announcePositions() {
        for (id, position) in machine.positions { jobs[id]?.events.yield(.queued(position: position)) }
    }

    private func expireOldJobs() {
        for id in machine.expire(now: clock.now) { jobs[id] = nil }
    }

    /// Progress with an ETA from the mean time per step so far.
    private static func progress(_ step: GenerationProgress, since start: Date, preview: RGBImage?) -> JobProgress {
        let done = step.imageIndex * step.stepCount + step.step + 1
        let total = max(step.imageCount * step.stepCount, 1)
        let elapsed = Date().timeIntervalSince(start)
        let eta = elapsed / Double(max(done, 1)) * Double(total - done)
        let previewText = preview.map { Data(PNG.encode($0)).base64EncodedString() }
        return JobProgress(
            image: step.imageIndex + 1, images: step.imageCount, step: step.step + 1, steps: step.stepCount,
            etaSeconds: (eta * 100).rounded() / 100, preview: previewText)
    }
}
