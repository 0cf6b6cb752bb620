/// The job queue's bookkeeping, free of threads and clocks: every transition takes `now` and
/// returns what the caller must do (start a job, flag one for cancellation), so the rules are
/// tested with a manual clock and no sleeps. States follow stable-diffusion.cpp's async jobs:
/// queued -> generating -> completed / failed / cancelled; finished jobs answer until their
/// time-to-live runs out, then 410.
struct JobQueueStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    enum Status: String, Sendable, Equatable {
        case queued, generating, completed, failed, cancelled

        var isFinished: Bool { self == .completed || self == .failed || self == .cancelled }
    }

    struct Record: Sendable, Equatable {
        var status: Status
        var created: Instant
        var started: Instant?
        var finished: Instant?
    }

    enum SubmitAction: Equatable {
        /// Run it now.
        case start
        /// Wait; `position` 1 runs next.
        case enqueue(position: Int)
        /// The queue is full (429).
        case reject
        /// Shutting down (503).
        case refuseShuttingDown
    }

    enum CancelAction: Equatable {
        /// It was waiting and is now cancelled; nothing runs for it.
        case cancelledWhileQueued
        /// It is running: the caller must stop it; `finish(.cancelled)` follows.
        case cancelRunning
        case alreadyFinished(Status)
        case unknown
        case expired
    }

    enum Lookup: Equatable {
        /// `position` is 1-based among the waiting jobs, nil when not waiting.
        case found(Record, position: Int?)
        case unknown
        case expired
    }

    let maxPending: Int
    let maxRunning: Int
    let timeToLive: Duration
    /// How many expired ids are remembered for 410 answers before the oldest become 404.
    let expiredMemory: Int

    private(set) var pending: [String] = []
    private(set) var running: [String] = []
    private var records: [String: Record] = [:]
    private var expiredIDs: [String] = []
    private var expiredSet: Set<String> = []
    private(set) var isShuttingDown = false

    init(maxPending: Int, maxRunning: Int, timeToLive: Duration, expiredMemory: Int = 4096) {
        precondition(maxPending >= 0 && maxRunning >= 1, "JobQueueStateMachine: maxPending \(maxPending), maxRunning \(maxRunning)")
        self.maxPending = maxPending
        self.maxRunning = maxRunning
        self.timeToLive = timeToLive
        self.expiredMemory = expiredMemory
    }

    /// A new job arrives.
    mutating func submit(_ id: String, now: Instant) -> SubmitAction {
        precondition(records[id] == nil, "JobQueueStateMachine: duplicate id \(id)")
        guard !isShuttingDown else { return .refuseShuttingDown }
        if running.count < maxRunning && pending.isEmpty {
            records[id] = Record(status: .generating, created: now, started: now)
            running.append(id)
            return .start
        }
        guard pending.count < maxPending else { return .reject }
        records[id] = Record(status: .queued, created: now)
        pending.append(id)
        return .enqueue(position: pending.count)
    }

    /// A running job ended; returns the jobs to start now (in order).
    mutating func finish(_ id: String, status: Status, now: Instant) -> [String] {
        precondition(status.isFinished, "JobQueueStateMachine.finish: \(status) is not final")
        guard let index = running.firstIndex(of: id) else { return [] }
        running.remove(at: index)
        records[id]?.status = status
        records[id]?.finished = now
        return startWaiting(now: now)
    }

    /// A client asks to cancel.
    mutating func cancel(_ id: String, now: Instant) -> CancelAction {
        if expiredSet.contains(id) { return .expired }
        guard let record = records[id] else { return .unknown }
        switch record.status {
        case .queued:
            pending.removeAll { $0 == id }
            records[id]?.status = .cancelled
            records[id]?.finished = now
            return .cancelledWhileQueued
        case .generating:
            return .cancelRunning
        case .completed, .failed, .cancelled:
            return .alreadyFinished(record.status)
        }
    }

    /// A job's state and queue position.
    func lookup(_ id: String) -> Lookup {
        if expiredSet.contains(id) { return .expired }
        guard let record = records[id] else { return .unknown }
        return .found(record, position: pending.firstIndex(of: id).map { $0 + 1 })
    }

    /// 1-based positions of every waiting job, in order.
    var positions: [(id: String, position: Int)] {
        pending.enumerated().map { ($0.element, $0.offset + 1) }
    }

    /// Forgets finished jobs older than the time-to-live; returns their ids.
    mutating func expire(now: Instant) -> [String] {
        let old = records.filter { _, record in
            guard let finished = record.finished else { return false }
            return finished.advanced(by: timeToLive) <= now
        }.map(\.key).sorted()
        for id in old {
            records[id] = nil
            expiredIDs.append(id)
            expiredSet.insert(id)
        }
        if expiredIDs.count > expiredMemory {
            let drop = expiredIDs.count - expiredMemory
            for id in expiredIDs.prefix(drop) { expiredSet.remove(id) }
            expiredIDs.removeFirst(drop)
        }
        return old
    }

    /// Shutdown: refuse new jobs, cancel the waiting ones (returned first) and return the running
    /// ones, which the caller must stop.
    mutating func shutdown(now: Instant) -> (cancelled: [String], toStop: [String]) {
        isShuttingDown = true
        let cancelled = pending
        for id in pending {
            records[id]?.status = .cancelled
            records[id]?.finished = now
        }
        pending = []
        return (cancelled, running)
    }

    private mutating func startWaiting(now: Instant) -> [String] {
        var started: [String] = []
        while running.count < maxRunning && !pending.isEmpty && !isShuttingDown {
            let id = pending.removeFirst()
            records[id]?.status = .generating
            records[id]?.started = now
            running.append(id)
            started.append(id)
        }
        return started
    }
}
