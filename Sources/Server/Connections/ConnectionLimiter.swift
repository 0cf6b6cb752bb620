import Foundation
import Logging

/// Counts the server's open connections against `--max-connections`, shared by every
/// connection's `ConnectionLimitHandler`.
///
/// Up to `limit` connections are served normally. Beyond it a connection is still accepted, as
/// an `overflow` one: it may ask `GET /health` (so probes keep working while idle sockets fill
/// the server) and anything else gets a 503; either way it is closed after that one answer.
/// Accepting pauses altogether at `limit + headroom` (new connections wait in the kernel's
/// backlog), which keeps the process below its open-file limit.
final class ConnectionLimiter: @unchecked Sendable {
    /// How a connection was let in.
    enum Admission: Equatable {
        case served
        case overflow
    }

    /// Connections served normally.
    let limit: Int
    private let logger: Logger
    private let lock = NSLock()
    private var served = 0
    private var overflowing = 0
    /// Connections answered as overflow since the limit was last reached; nil while under it.
    private var refusedSinceFull: Int?

    init(limit: Int, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    /// Connections open now (served, overflow).
    var openCounts: (served: Int, overflow: Int) { lock.withLock { (served, overflowing) } }

    /// Registers a new connection.
    func opened() -> Admission {
        let (admission, justFilled) = lock.withLock { () -> (Admission, Bool) in
            if served < limit {
                served += 1
                return (.served, false)
            }
            overflowing += 1
            let first = refusedSinceFull == nil
            refusedSinceFull = (refusedSinceFull ?? 0) + 1
            return (.overflow, first)
        }
        if justFilled {
            logger.warning(
                "connection limit reached: \(limit) connections open (--max-connections); new connections get 503 and are closed, GET /health is still answered")
        }
        return admission
    }

    /// Registers the end of a connection let in as `admission`.
    func closed(_ admission: Admission) {
        // Hysteresis: the limit counts as left only well below it, so a server hovering at the
        // limit logs once, not once per connection.
        let refused = lock.withLock { () -> Int? in
            switch admission {
            case .served: served -= 1
            case .overflow: overflowing -= 1
            }
            guard let refused = refusedSinceFull, served <= limit - max(1, limit / 10) else { return nil }
            refusedSinceFull = nil
            return refused
        }
        if let refused {
            logger.notice("connections back under the limit of \(limit); \(refused) connections over it were answered once and closed")
        }
    }
}
