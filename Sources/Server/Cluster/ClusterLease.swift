/// One leased job on the replica that runs it, free of the database and of clocks: every event
/// (a heartbeat answered, refused or failed; the local job ending) takes `now` and returns what
/// the worker must do. Its rules are what keeps a job completed exactly once:
/// - a lease the database refused to renew (another replica holds the job now, or it is no
///   longer generating) is lost for good: the local job is stopped and whatever it produced is
///   discarded;
/// - a lease not renewed before it expires (the database unreachable) is treated as lost too,
///   because another replica may already have taken the job over;
/// - the completion itself is written only if the row still names this lease (owner and
///   attempt), in the transaction that stores the files, so a finisher that lost the race writes
///   nothing (`ClusterJobStore.complete`).
struct ClusterLease<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    enum State: Equatable, Sendable {
        /// Renewed; it runs out at `expires` unless renewed again.
        case held(expires: Instant)
        /// A client asked to cancel; the local job is being stopped.
        case cancelRequested(expires: Instant)
        /// Another replica may hold the job: nothing this one produces may be written.
        case lost
    }

    enum Action: Equatable, Sendable {
        case none
        /// Stop the local generation (cancel requested, or the lease is lost).
        case stopLocal
    }

    /// What to write when the local job ends.
    enum Finish: Equatable, Sendable {
        /// Store the result and files, if the lease is still ours.
        case complete
        /// Mark the job failed with the local error.
        case fail
        /// Mark the job cancelled (a client asked).
        case markCancelled
        /// Put the job back in the queue for another replica (this one is shutting down or
        /// its local queue refused it), without counting the attempt.
        case release
        /// Write nothing and delete the files: the lease is gone.
        case discard
    }

    /// How the local job ended.
    enum Outcome: Equatable, Sendable {
        case succeeded
        case cancelled
        case shuttingDown
        case failed
    }

    let duration: Duration
    private(set) var state: State

    /// A lease just granted at `now` (the claim's request time: the database's expiry is
    /// later, so this replica's estimate errs on the early side).
    init(duration: Duration, grantedAt now: Instant) {
        self.duration = duration
        state = .held(expires: now.advanced(by: duration))
    }

    /// The database renewed the lease (the request was sent at `sentAt`) and said whether a
    /// cancel was asked for.
    mutating func renewed(sentAt: Instant, cancelRequested: Bool) -> Action {
        let expires = sentAt.advanced(by: duration)
        switch state {
        case .lost:
            return .none
        case .cancelRequested:
            state = .cancelRequested(expires: expires)
            return .none
        case .held:
            if cancelRequested {
                state = .cancelRequested(expires: expires)
                return .stopLocal
            }
            state = .held(expires: expires)
            return .none
        }
    }

    /// The database answered that the row no longer names this lease.
    mutating func refused() -> Action {
        if state == .lost { return .none }
        state = .lost
        return .stopLocal
    }

    /// The renewal could not be made (database error); past the expiry the lease is lost.
    mutating func renewalFailed(now: Instant) -> Action {
        switch state {
        case .lost:
            return .none
        case .held(let expires), .cancelRequested(let expires):
            guard now >= expires else { return .none }
            state = .lost
            return .stopLocal
        }
    }

    /// The local job ended. (Past the expiry estimate a completion is still tried while the
    /// lease is not known to be lost: no replica may have taken over yet, and the database's
    /// lease check decides.)
    func finish(_ outcome: Outcome) -> Finish {
        if state == .lost { return .discard }
        switch outcome {
        case .succeeded: return .complete
        case .failed: return .fail
        case .shuttingDown: return .release
        case .cancelled:
            // Only a cancel this replica passed on is the client's; another is a local stop.
            if case .cancelRequested = state { return .markCancelled }
            return .release
        }
    }
}
