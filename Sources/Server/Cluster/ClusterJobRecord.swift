import Foundation

/// A job row as `GET /v1/images/jobs/{id}` reads it, and its answer: the same JSON as the
/// embedded queue's (`JobStatusResponse`), built from columns. Times are unix seconds computed
/// by the database, so every replica agrees on them and on expiry whatever its own clock says.
struct ClusterJobRecord: Sendable, Equatable {
    var id: String
    var state: JobQueueStateMachine<ContinuousClock.Instant>.Status
    var created: Int
    var started: Int?
    var finished: Int?
    /// 1-based among the queued jobs of the whole cluster, while queued.
    var position: Int?
    /// The JSON columns as text.
    var progress: String?
    var result: String?
    var error: String?
    /// Seconds since it finished, by the database's clock.
    var secondsSinceFinished: Double?

    /// The poll answer.
    /// - Throws: `ServerError.gone` when it finished longer than `timeToLive` ago (as the
    ///   embedded queue), `.internalError` when a stored JSON column cannot be read.
    func response(timeToLive: Duration) throws -> JobStatusResponse {
        if let age = secondsSinceFinished, age >= Double(timeToLive.components.seconds) {
            throw ServerError.gone("job \(id) has expired")
        }
        let decoder = JSONDecoder()
        func decode<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
            guard let text else { return nil }
            do { return try decoder.decode(type, from: Data(text.utf8)) } catch {
                throw ServerError.internalError("job \(id) has a stored \(type) that cannot be read")
            }
        }
        let progress = state == .generating ? self.progress : nil
        return JobStatusResponse(
            id: id, status: state.rawValue, created: created, started: started, completed: finished,
            queuePosition: state == .queued ? position : nil, progress: try decode(JobProgress.self, progress),
            result: try decode(ImageResponse.self, result), error: try decode(ErrorResponse.Detail.self, error))
    }
}
