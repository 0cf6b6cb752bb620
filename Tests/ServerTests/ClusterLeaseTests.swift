@testable import Server
import Testing

/// The lease rules of cluster mode without a database: when the replica must stop its local
/// job and what it may write when the job ends (`ClusterLease`).
@Suite struct ClusterLeaseTests {
    typealias Lease = ClusterLease<ManualInstant>

    @Test func aRenewedLeaseCompletesItsJob() {
        var clock = ManualClock()
        var lease = Lease(duration: .seconds(10), grantedAt: clock.now)
        clock.advance(.seconds(1))
        #expect(lease.renewed(sentAt: clock.now, cancelRequested: false) == .none)
        #expect(lease.state == .held(expires: clock.now.advanced(by: .seconds(10))))
        #expect(lease.finish(.succeeded) == .complete)
        #expect(lease.finish(.failed) == .fail)
    }

    @Test func aRefusedRenewalStopsTheJobAndDiscardsItsResult() {
        var lease = Lease(duration: .seconds(10), grantedAt: ManualClock().now)
        #expect(lease.refused() == .stopLocal)
        #expect(lease.state == .lost)
        // Stopped once; later answers change nothing.
        #expect(lease.refused() == .none)
        #expect(lease.renewed(sentAt: ManualClock().now, cancelRequested: false) == .none)
        #expect(lease.state == .lost)
        // Whatever the local job did, nothing is written: another replica owns the job.
        for outcome in [Lease.Outcome.succeeded, .failed, .cancelled, .shuttingDown] {
            #expect(lease.finish(outcome) == .discard)
        }
    }

    @Test func failedRenewalsLoseTheLeaseOnlyOnceItHasExpired() {
        var clock = ManualClock()
        var lease = Lease(duration: .seconds(10), grantedAt: clock.now)
        clock.advance(.seconds(9))
        #expect(lease.renewalFailed(now: clock.now) == .none)
        #expect(lease.finish(.succeeded) == .complete)
        clock.advance(.seconds(1))
        #expect(lease.renewalFailed(now: clock.now) == .stopLocal)
        #expect(lease.finish(.succeeded) == .discard)
    }

    @Test func aRenewalMovesTheExpiryFromWhenItWasSent() {
        var clock = ManualClock()
        var lease = Lease(duration: .seconds(10), grantedAt: clock.now)
        clock.advance(.seconds(8))
        let sent = clock.now
        clock.advance(.seconds(1))
        _ = lease.renewed(sentAt: sent, cancelRequested: false)
        clock.advance(.seconds(8))  // 17 s: past the first expiry, before sent + 10
        #expect(lease.renewalFailed(now: clock.now) == .none)
        clock.advance(.seconds(1))
        #expect(lease.renewalFailed(now: clock.now) == .stopLocal)
    }

    @Test func aCancelRequestStopsTheJobOnceAndMarksItCancelled() {
        var lease = Lease(duration: .seconds(10), grantedAt: ManualClock().now)
        #expect(lease.renewed(sentAt: ManualClock().now, cancelRequested: true) == .stopLocal)
        #expect(lease.renewed(sentAt: ManualClock().now, cancelRequested: true) == .none)
        #expect(lease.finish(.cancelled) == .markCancelled)
        // A job that finished before the stop reached it keeps its result.
        #expect(lease.finish(.succeeded) == .complete)
    }

    @Test func aLocalStopWithoutACancelRequestGivesTheJobBack() {
        let lease = Lease(duration: .seconds(10), grantedAt: ManualClock().now)
        #expect(lease.finish(.shuttingDown) == .release)
        #expect(lease.finish(.cancelled) == .release)
    }
}
