import Foundation

/// Shared between a job's worker thread and the queue: the cancel request and the latest
/// progress. The worker reads the flag at every step; polls read the progress.
final class JobControl: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var latest: JobProgress?

    var isCancelled: Bool { lock.withLock { cancelled } }

    func cancel() { lock.withLock { cancelled = true } }

    var progress: JobProgress? {
        get { lock.withLock { latest } }
        set { lock.withLock { latest = newValue } }
    }
}
