import Foundation
@testable import Server
import Testing

/// A job row turned into the poll answer: the embedded queue's JSON, from columns.
@Suite struct ClusterJobRecordTests {
    func record(_ state: JobQueueStateMachine<ContinuousClock.Instant>.Status) -> ClusterJobRecord {
        ClusterJobRecord(
            id: "job_1", state: state, created: 100, started: nil, finished: nil, position: 3, progress: nil, result: nil, error: nil,
            secondsSinceFinished: nil)
    }

    @Test func queuedShowsItsPlaceInTheWholeCluster() throws {
        let body = try record(.queued).response(timeToLive: .seconds(600))
        #expect(body.status == "queued")
        #expect(body.queuePosition == 3)
        #expect(body.created == 100)
    }

    @Test func generatingShowsProgressAndNoPosition() throws {
        var row = record(.generating)
        row.started = 101
        row.progress = #"{"image":1,"images":1,"step":4,"steps":20,"eta_seconds":2.5}"#
        let body = try row.response(timeToLive: .seconds(600))
        #expect(body.queuePosition == nil)
        #expect(body.progress == JobProgress(image: 1, images: 1, step: 4, steps: 20, etaSeconds: 2.5))
        #expect(body.started == 101)
    }

    @Test func completedCarriesTheStoredAnswer() throws {
        var row = record(.completed)
        row.finished = 110
        row.secondsSinceFinished = 5
        row.progress = #"{"image":1,"images":1,"step":20,"steps":20,"eta_seconds":0}"#
        row.result = #"{"created":110,"data":[{"url":"http://lb/v1/files/download/file_x/output.png","prompt":"p","seed":42}]}"#
        let body = try row.response(timeToLive: .seconds(600))
        #expect(body.progress == nil)
        #expect(body.completed == 110)
        #expect(body.result?.data.first?.url == "http://lb/v1/files/download/file_x/output.png")
        #expect(body.result?.data.first?.seed == 42)
    }

    @Test func failedCarriesTheError() throws {
        var row = record(.failed)
        row.error = ClusterJobs.json(ServerError.internalError("boom").body.error)
        let body = try row.response(timeToLive: .seconds(600))
        #expect(body.error?.message == "boom")
        #expect(body.error?.type == "server_error")
    }

    @Test func expiresAfterTheTimeToLive() {
        var row = record(.completed)
        row.secondsSinceFinished = 600
        #expect(throws: ServerError.gone("job job_1 has expired")) { try row.response(timeToLive: .seconds(600)) }
    }

    @Test func anUnreadableColumnIsAServerError() {
        var row = record(.completed)
        row.result = "{"
        #expect(throws: ServerError.self) { try row.response(timeToLive: .seconds(600)) }
    }
}
