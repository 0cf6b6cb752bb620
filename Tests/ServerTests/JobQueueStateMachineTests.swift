@testable import Server
import Testing

/// A clock that only moves when told to: the state machine's time rules without sleeping.
struct ManualInstant: InstantProtocol {
    var offset: Duration

    func advanced(by duration: Duration) -> ManualInstant { ManualInstant(offset: offset + duration) }
    func duration(to other: ManualInstant) -> Duration { other.offset - offset }
    static func < (a: ManualInstant, b: ManualInstant) -> Bool { a.offset < b.offset }
}

struct ManualClock {
    var now = ManualInstant(offset: .zero)
    mutating func advance(_ duration: Duration) { now = now.advanced(by: duration) }
}

@Suite struct JobQueueStateMachineTests {
    typealias Machine = JobQueueStateMachine<ManualInstant>

    @Test func firstJobStartsAndTheNextWaitInOrder() {
        var machine = Machine(maxPending: 2, maxRunning: 1, timeToLive: .seconds(10))
        let clock = ManualClock()
        #expect(machine.submit("a", now: clock.now) == .start)
        #expect(machine.submit("b", now: clock.now) == .enqueue(position: 1))
        #expect(machine.submit("c", now: clock.now) == .enqueue(position: 2))
        #expect(machine.lookup("c") == .found(.init(status: .queued, created: clock.now), position: 2))
    }

    @Test func fullQueueRejects() {
        var machine = Machine(maxPending: 1, maxRunning: 1, timeToLive: .seconds(10))
        let now = ManualClock().now
        _ = machine.submit("a", now: now)
        _ = machine.submit("b", now: now)
        #expect(machine.submit("c", now: now) == .reject)
        #expect(machine.lookup("c") == .unknown)
    }

    @Test func finishingStartsTheNextAndMovesTheLine() {
        var machine = Machine(maxPending: 4, maxRunning: 1, timeToLive: .seconds(10))
        var clock = ManualClock()
        _ = machine.submit("a", now: clock.now)
        _ = machine.submit("b", now: clock.now)
        _ = machine.submit("c", now: clock.now)
        clock.advance(.seconds(3))
        #expect(machine.finish("a", status: .completed, now: clock.now) == ["b"])
        #expect(machine.positions.map(\.id) == ["c"])
        #expect(machine.positions.map(\.position) == [1])
        guard case .found(let record, let position) = machine.lookup("b") else { Issue.record("b missing"); return }
        #expect(record.status == .generating && record.started == clock.now && position == nil)
        guard case .found(let done, _) = machine.lookup("a") else { Issue.record("a missing"); return }
        #expect(done.status == .completed && done.finished == clock.now)
    }

    @Test func twoSlotsRunTwoAtOnce() {
        var machine = Machine(maxPending: 4, maxRunning: 2, timeToLive: .seconds(10))
        let now = ManualClock().now
        #expect(machine.submit("a", now: now) == .start)
        #expect(machine.submit("b", now: now) == .start)
        #expect(machine.submit("c", now: now) == .enqueue(position: 1))
        #expect(machine.finish("b", status: .failed, now: now) == ["c"])
    }

    @Test func cancelRemovesAWaitingJobAndAsksToStopARunningOne() {
        var machine = Machine(maxPending: 4, maxRunning: 1, timeToLive: .seconds(10))
        let now = ManualClock().now
        _ = machine.submit("a", now: now)
        _ = machine.submit("b", now: now)
        _ = machine.submit("c", now: now)
        #expect(machine.cancel("b", now: now) == .cancelledWhileQueued)
        #expect(machine.positions.map(\.id) == ["c"])
        #expect(machine.cancel("a", now: now) == .cancelRunning)
        #expect(machine.finish("a", status: .cancelled, now: now) == ["c"])
        #expect(machine.cancel("a", now: now) == .alreadyFinished(.cancelled))
        #expect(machine.cancel("zzz", now: now) == .unknown)
    }

    @Test func finishedJobsExpireAfterTheirTimeToLiveAndThenAnswerExpired() {
        var machine = Machine(maxPending: 4, maxRunning: 1, timeToLive: .seconds(10))
        var clock = ManualClock()
        _ = machine.submit("a", now: clock.now)
        clock.advance(.seconds(1))
        _ = machine.finish("a", status: .completed, now: clock.now)
        clock.advance(.seconds(10) - .milliseconds(1))
        #expect(machine.expire(now: clock.now).isEmpty)
        clock.advance(.milliseconds(1))
        #expect(machine.expire(now: clock.now) == ["a"])
        #expect(machine.lookup("a") == .expired)
        #expect(machine.cancel("a", now: clock.now) == .expired)
    }

    @Test func expiredIDsAreRememberedOnlyUpToALimit() {
        var machine = Machine(maxPending: 4, maxRunning: 1, timeToLive: .seconds(1), expiredMemory: 2)
        var clock = ManualClock()
        for id in ["a", "b", "c"] {
            _ = machine.submit(id, now: clock.now)
            _ = machine.finish(id, status: .completed, now: clock.now)
        }
        clock.advance(.seconds(2))
        #expect(machine.expire(now: clock.now).count == 3)
        #expect(machine.lookup("a") == .unknown)
        #expect(machine.lookup("c") == .expired)
    }

    @Test func runningJobsNeverExpire() {
        var machine = Machine(maxPending: 4, maxRunning: 1, timeToLive: .seconds(1))
        var clock = ManualClock()
        _ = machine.submit("a", now: clock.now)
        clock.advance(.seconds(100))
        #expect(machine.expire(now: clock.now).isEmpty)
    }

    @Test func shutdownCancelsWaitingJobsStopsRunningOnesAndRefusesNewOnes() {
        var machine = Machine(maxPending: 4, maxRunning: 1, timeToLive: .seconds(10))
        let now = ManualClock().now
        _ = machine.submit("a", now: now)
        _ = machine.submit("b", now: now)
        let (cancelled, toStop) = machine.shutdown(now: now)
        #expect(cancelled == ["b"] && toStop == ["a"])
        #expect(machine.submit("c", now: now) == .refuseShuttingDown)
        #expect(machine.finish("a", status: .cancelled, now: now).isEmpty)
    }
}
