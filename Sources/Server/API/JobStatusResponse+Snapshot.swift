import Foundation

extension JobStatusResponse {
    init(_ snapshot: JobQueue.Snapshot) {
        self.init(
            id: snapshot.id, status: snapshot.record.status.rawValue, created: Int(snapshot.created.timeIntervalSince1970),
            started: snapshot.started.map { Int($0.timeIntervalSince1970) },
            completed: snapshot.finished.map { Int($0.timeIntervalSince1970) },
            queuePosition: snapshot.position,
            progress: snapshot.record.status == .generating ? snapshot.progress : nil,
            result: snapshot.result, error: snapshot.error?.body.error)
    }
}
