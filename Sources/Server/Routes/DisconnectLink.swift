import Foundation

/// Connects "the client went away" (reported on another task, possibly before the job exists)
/// with the job to cancel.
final class DisconnectLink: @unchecked Sendable {
    private let lock = NSLock()
    private var jobID: String?
    private var closed = false

    /// Records the job; true when the client had already gone (cancel it now).
    func attach(_ id: String) -> Bool {
        lock.withLock {
            jobID = id
            return closed
        }
    }

    /// Whether the client has gone.
    var isClosed: Bool { lock.withLock { closed } }

    /// Records the disconnect; returns the job to cancel, if there is one yet.
    func close() -> String? {
        lock.withLock {
            closed = true
            return jobID
        }
    }
}
