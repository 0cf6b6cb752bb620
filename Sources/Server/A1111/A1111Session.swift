import Foundation

/// What the A1111 routes remember between requests: the checkpoint `POST /sdapi/v1/options`
/// chose (A1111 has one loaded model; here it is the default of later A1111 requests, the
/// server-wide default staying as it is), and the A1111 jobs in flight in submission order, which
/// `/progress`, `/interrupt` and `/skip` act on (jobs of the other APIs are not theirs to stop).
final class A1111Session: @unchecked Sendable {
    /// One A1111 request's job.
    struct Job: Sendable {
        let id: String
        let mode: A1111Request.Mode
        let pictures: Int
        let steps: Int
        var interrupted = false
        /// The picture (0-based) a skip was asked for, while it runs.
        var skippedPicture: Int?
    }

    private let lock = NSLock()
    private var checkpoint: String?
    private var jobs: [Job] = []

    /// The pool model A1111 requests without `override_settings.sd_model_checkpoint` use; nil
    /// is the server's default.
    var defaultModel: String? {
        get { lock.withLock { checkpoint } }
        set { lock.withLock { checkpoint = newValue } }
    }

    func add(_ job: Job) { lock.withLock { jobs.append(job) } }

    func remove(_ id: String) { lock.withLock { jobs.removeAll { $0.id == id } } }

    /// The jobs in flight, oldest first.
    var inFlight: [Job] { lock.withLock { jobs } }

    func markInterrupted(_ id: String) {
        lock.withLock {
            if let i = jobs.firstIndex(where: { $0.id == id }) { jobs[i].interrupted = true }
        }
    }

    func markSkipped(_ id: String, picture: Int) {
        lock.withLock {
            if let i = jobs.firstIndex(where: { $0.id == id }) { jobs[i].skippedPicture = picture }
        }
    }
}
