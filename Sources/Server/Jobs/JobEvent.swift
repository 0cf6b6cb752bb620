/// What happens to a job, in order, for the request that waits on it (server-sent events or a
/// plain response).
enum JobEvent: Sendable {
    /// Waiting; `position` 1 runs next.
    case queued(position: Int)
    case started
    case progress(JobProgress)
    case completed(ImageResponse)
    case failed(ServerError)
}
