import Diffusion
import Foundation

/// Shared between a job's worker thread and the queue: the cancel request and the latest
/// progress. The worker reads the flag at every step; polls read the progress.
final class JobControl: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var stopping = false
    private var skipping = false
    private var latest: JobProgress?

    var isCancelled: Bool { lock.withLock { cancelled } }

    func cancel() { lock.withLock { cancelled = true } }

    /// A1111's interrupt: keep the pictures made so far, the current one ended early.
    func interrupt() { lock.withLock { stopping = true } }

    /// A1111's skip: end the current picture early and go on with the next.
    func skip() { lock.withLock { skipping = true } }

    /// The interruption the worker should throw at this step, if any; a skip is used up by it.
    func takeInterruption() -> GenerationInterruption? {
        lock.withLock {
            if stopping { return .stop }
            guard skipping else { return nil }
            skipping = false
            return .skipPicture
        }
    }

    var progress: JobProgress? {
        get { lock.withLock { latest } }
        set { lock.withLock { latest = newValue } }
    }
}
